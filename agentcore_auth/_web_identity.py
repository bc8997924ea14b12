"""Checking the arguments of an STS web identity token request, as the official SDK does.

``bedrock_agentcore.identity.auth.requires_iam_access_token`` raises ``ValueError`` at
decoration for an empty audience, an unknown algorithm or a duration outside
60-3600; so do we (:class:`ConfigurationError` is a ``ValueError``), and for the
STS fields the SDK does not pass (``scope``, ``subject_mode``, ``token_type``) we
check the combinations STS refuses, so the mistake shows before the first call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ._credential import WEB_IDENTITY_NAME, CredentialRequest, WebIdentity
from ._exceptions import ConfigurationError

__all__ = ["SIGNING_ALGORITHMS", "SUBJECT_MODES", "TOKEN_TYPES", "web_identity_request"]

SIGNING_ALGORITHMS = ("ES384", "RS256")
SUBJECT_MODES = ("AWSIdentity", "OriginIdentity")
TOKEN_TYPES = ("AWSIdentity", "JWT_SVID")
# botocore's pattern for Scope: space-separated printable ASCII without " , \
_SCOPE = re.compile(r'[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+( [\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+)*')

TagsArg = Sequence[Mapping[str, str]] | Mapping[str, str] | None


def web_identity_request(
    *,
    audience: Sequence[str],
    signing_algorithm: str = "ES384",
    duration_seconds: int = 300,
    tags: TagsArg = None,
    scope: str | None = None,
    subject_mode: str | None = None,
    token_type: str | None = None,
    what: str = "requires_iam_access_token",
) -> CredentialRequest:
    """A checked web identity :class:`CredentialRequest`; ``ValueError``s name the fix."""
    if not audience:
        raise ConfigurationError(
            f"audience is required: {what}(audience=['https://api.example.com']) names the "
            "service that will verify the token (its 'aud' claim)")
    if isinstance(audience, str) or not isinstance(audience, Sequence | set | frozenset):
        raise ConfigurationError(
            f"{what}(audience=...) must be a list of strings, e.g. "
            f"audience=[{audience!r}], not {type(audience).__name__}")
    audiences = tuple(dict.fromkeys(audience))
    if not all(isinstance(a, str) and a for a in audiences) or len(audiences) > 10:
        raise ConfigurationError(
            f"{what}(audience=...) must hold 1 to 10 non-empty strings")
    if signing_algorithm not in SIGNING_ALGORITHMS:
        raise ConfigurationError(
            f"signing_algorithm must be 'ES384' or 'RS256', not {signing_algorithm!r}")
    if (isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int)
            or not 60 <= duration_seconds <= 3600):
        raise ConfigurationError(
            f"duration_seconds must be between 60 and 3600 (seconds), not {duration_seconds!r}")
    pairs = _tags(tags, what)
    _check_modes(what, audiences, pairs, scope, subject_mode, token_type)
    return CredentialRequest(
        WEB_IDENTITY_NAME, kind="web_identity",
        web_identity=WebIdentity(audiences, signing_algorithm, duration_seconds, pairs, scope,
                                 subject_mode, token_type))


def _tags(tags: TagsArg, what: str) -> tuple[tuple[str, str], ...]:
    """``[{'Key': k, 'Value': v}, ...]`` (the SDK's form) or ``{k: v}`` -> sorted pairs."""
    if not tags:
        return ()
    if isinstance(tags, Mapping):
        items = list(tags.items())
    elif isinstance(tags, Sequence) and not isinstance(tags, str) and all(
            isinstance(t, Mapping) and set(t) == {"Key", "Value"} for t in tags):
        items = [(t["Key"], t["Value"]) for t in tags]
    else:
        raise ConfigurationError(
            f"{what}(tags=...) must be a list of {{'Key': str, 'Value': str}} (as STS takes "
            "them) or a dict of str to str")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in items):
        raise ConfigurationError(f"{what}(tags=...): every tag key and value must be a str")
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        raise ConfigurationError(f"{what}(tags=...) names a tag key twice: give each key once")
    if len(items) > 50 or not all(1 <= len(k) <= 128 and len(v) <= 256 for k, v in items):
        raise ConfigurationError(
            f"{what}(tags=...): at most 50 tags, keys of 1-128 and values of up to 256 "
            "characters")
    return tuple(sorted(items))


def _check_modes(what: str, audiences: tuple[str, ...], tags: tuple[tuple[str, str], ...],
                 scope: str | None, subject_mode: str | None, token_type: str | None) -> None:
    if subject_mode is not None and subject_mode not in SUBJECT_MODES:
        raise ConfigurationError(
            f"subject_mode must be 'AWSIdentity' or 'OriginIdentity', not {subject_mode!r}")
    if token_type is not None and token_type not in TOKEN_TYPES:
        raise ConfigurationError(
            f"token_type must be 'AWSIdentity' or 'JWT_SVID', not {token_type!r}")
    if token_type is not None and (subject_mode is not None or scope is not None):
        raise ConfigurationError(
            f"{what}: token_type cannot be combined with subject_mode or scope (STS refuses "
            "it): pass token_type alone, or drop it")
    if token_type == TOKEN_TYPES[1] and (len(audiences) != 1 or tags):
        raise ConfigurationError(
            f"{what}: a JWT_SVID takes exactly one audience and no tags")
    if scope is not None:
        if not isinstance(scope, str) or len(scope) > 256 or not _SCOPE.fullmatch(scope):
            raise ConfigurationError(
                f"{what}(scope=...) must be space-separated scope values of printable ASCII "
                "(no quotes, commas or backslashes), at most 256 characters")
        words = scope.split(" ")
        if len(set(words)) != len(words):
            raise ConfigurationError(f"{what}(scope=...) repeats a scope value: give each once")
        if subject_mode != "OriginIdentity" or len(audiences) != 1:
            raise ConfigurationError(
                f"{what}(scope=...) needs subject_mode='OriginIdentity' and exactly one "
                "audience (STS refuses it otherwise)")
