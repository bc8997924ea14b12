"""The AWS configuration the library reads, and errors about it that say what to fix.

Region, like the AWS SDKs and the AgentCore Runtime (which sets ``AWS_REGION``):
an explicit ``region=`` (or a boto3 Session made with one), then ``AWS_REGION``,
then ``AWS_DEFAULT_REGION``, then the profile's ``region`` (botocore alone reads
only the last two).

Profile, credential and Region problems become :class:`ConfigurationError`: they
are never retried, never answered with a stale value, and never mistaken for
throttling (:class:`SourceUnavailableError`).
"""

from __future__ import annotations

import os
from typing import Any

from ._exceptions import ConfigurationError

__all__ = ["CREDENTIAL_ERROR_CODES", "configuration_error", "configured_region"]

#: Service error codes meaning the caller's own AWS credentials are wrong or expired.
CREDENTIAL_ERROR_CODES = {
    "UnrecognizedClientException": "the access key ID is not known to AWS",
    "InvalidClientTokenId": "the access key ID or session token is not valid",
    "InvalidSignatureException": "the secret access key does not match the access key ID",
    "SignatureDoesNotMatch": "the secret access key does not match the access key ID",
    "IncompleteSignature": "the request signature is incomplete",
    "ExpiredTokenException": "the session credentials have expired",
    "ExpiredToken": "the session credentials have expired",
    "RequestExpired": "the request's timestamp is too far from AWS's clock",
}

_REGION_FIX = (
    "pass region= (--region), or set AWS_REGION (AWS_DEFAULT_REGION also works), or set "
    "the profile's region (aws configure set region us-east-1)"
)
_CREDENTIALS_FIX = (
    "set AWS_PROFILE to a configured profile (and run aws sso login --profile NAME for SSO "
    "profiles), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an IAM role "
    "is attached (AgentCore Runtime, Lambda, ECS, EC2)"
)


def configured_region(session: Any = None) -> str | None:
    """The Region from the configuration: the session's own, ``AWS_REGION``, then botocore's
    (``AWS_DEFAULT_REGION``, the profile). Raises :class:`ConfigurationError` for a bad profile.
    """
    explicit = _session_region(session)
    if explicit:
        return explicit
    env = os.environ.get("AWS_REGION", "").strip()
    if env:
        return env
    try:
        import boto3

        return (session or boto3.session.Session()).region_name  # type: ignore[no-any-return]
    except Exception as exc:  # botocore's configuration errors share no importable base
        error = configuration_error(exc, "reading the AWS Region")
        if error is None:
            raise
        raise error from exc


def _session_region(session: Any) -> str | None:
    """A Region given to the boto3 Session itself (``Session(region_name=...)``)."""
    if session is None:
        return None
    core = getattr(session, "_session", None)
    variables = getattr(core, "instance_variables", None)
    if not callable(variables):
        return None
    region = variables().get("region")
    return region if isinstance(region, str) and region else None


def configuration_error(exc: BaseException, what: str) -> ConfigurationError | None:
    """A :class:`ConfigurationError` naming the fix for a botocore configuration error, or None.

    Args:
        exc: the exception botocore raised.
        what: what was being done, e.g. "GetResourceApiKey for provider 'weather'".
    """
    from botocore import exceptions as bx

    kwargs: dict[str, Any] = getattr(exc, "kwargs", {}) or {}
    if isinstance(exc, bx.ProfileNotFound):
        profile = kwargs.get("profile", "?")
        where = ("AWS_PROFILE" if os.environ.get("AWS_PROFILE") == profile else "the profile "
                 "given (--profile / boto3.Session(profile_name=...))")
        return ConfigurationError(
            f"{what}: AWS profile {profile!r} (from {where}) is not in the AWS config or "
            f"credentials file ({_config_files()}): create it (aws configure --profile {profile}, "
            f"or aws configure sso --profile {profile}), fix the name, or unset AWS_PROFILE "
            "to use the default credential chain")
    if isinstance(exc, bx.NoRegionError):
        return ConfigurationError(f"{what}: no AWS Region configured: {_REGION_FIX}")
    if isinstance(exc, bx.InvalidRegionError):
        return ConfigurationError(
            f"{what}: {kwargs.get('region_name', '')!r} is not a valid AWS Region name: "
            f"use one such as us-east-1 ({_REGION_FIX})")
    if isinstance(exc, bx.NoCredentialsError):
        return ConfigurationError(f"{what}: no AWS credentials found: {_CREDENTIALS_FIX}")
    if isinstance(exc, bx.PartialCredentialsError):
        return ConfigurationError(
            f"{what}: incomplete AWS credentials in {kwargs.get('provider', '?')} (missing "
            f"{kwargs.get('cred_var', '?')}): set both AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or neither")
    if isinstance(exc, bx.UnauthorizedSSOTokenError | bx.SSOTokenLoadError | bx.SSOError
                  | bx.TokenRetrievalError):
        return ConfigurationError(
            f"{what}: the AWS SSO session is missing or expired ({type(exc).__name__}): run "
            "aws sso login --profile NAME for the profile in use")
    if isinstance(exc, bx.CredentialRetrievalError | bx.RefreshWithMFAUnsupportedError
                  | bx.InfiniteLoopConfigError):
        # The provider's own message may quote a credential_process's output: not shown.
        return ConfigurationError(
            f"{what}: AWS credentials could not be obtained from "
            f"{kwargs.get('provider', 'the configured provider')} ({type(exc).__name__}): "
            "check the profile's role_arn / source_profile / credential_process settings, "
            "or " + _CREDENTIALS_FIX)
    if isinstance(exc, bx.ConfigParseError | bx.ConfigNotFound | bx.InvalidConfigError):
        return ConfigurationError(
            f"{what}: the AWS configuration could not be read ({type(exc).__name__}: {exc}): "
            f"fix the file ({_config_files()}) or the AWS_* variables pointing at it")
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        reason = CREDENTIAL_ERROR_CODES.get(code)
        if reason is None:
            return None
        fix = ("check the system clock" if code == "RequestExpired" else
               "refresh or replace the caller's AWS credentials: " + _CREDENTIALS_FIX)
        return ConfigurationError(f"{what} failed with {code}: {reason}: {fix}")
    return None


def _config_files() -> str:
    config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return f"{config}, {credentials}"
