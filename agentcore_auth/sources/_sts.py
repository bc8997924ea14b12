"""StsWebIdentitySource: AWS-signed JWTs from STS ``GetWebIdentityToken``.

IAM outbound web identity federation lets an AWS principal ask STS for a JWT
(``aud``, ``iss`` = the account's issuer, ``sub`` = the caller) that any service
trusting the account's issuer (its OIDC discovery document and JWKS) accepts: no
client secret at all. The token cannot change before it expires, so the resolver
caches it until shortly before ``Expiration`` (``Credential.until_expiry``).

The token belongs to whoever signed the request, so the resolver keys it by
:meth:`StsWebIdentitySource.caller_key` too: a digest of the access key id the
client signs with now (never the key itself).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .._credential import WEB_IDENTITY_NAME, Credential, CredentialRequest
from .._exceptions import AgentCoreAuthError, ConfigurationError
from .._identity import Identity
from .._secret import Secret
from ._base import BotoClientFactory, map_boto_error
from ._protect import naming

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["StsWebIdentitySource"]

SOURCE = "sts-web-identity"

_ENABLE = ("enable outbound web identity federation once for the account: `aws iam "
           "enable-outbound-web-identity-federation` (boto3: iam.enable_outbound_web_identity_"
           "federation()); `agentcore-auth doctor --web-identity` shows its status and issuer")

#: STS's errors for GetWebIdentityToken that no retry fixes, and what to do about each.
_FIXES = {
    "OutboundWebIdentityFederationDisabledException":
        "outbound web identity federation is not enabled for this AWS account: " + _ENABLE,
    # the name older SDKs (bedrock-agentcore 1.25.0) look for
    "FeatureDisabledException":
        "outbound web identity federation is not enabled for this AWS account: " + _ENABLE,
    "FeatureDisabled":
        "outbound web identity federation is not enabled for this AWS account: " + _ENABLE,
    "SessionDurationEscalationException":
        "the token would outlive the calling session's credentials: lower duration_seconds, "
        "or use credentials whose session lasts longer than the token",
    "JWTPayloadSizeExceededException":
        "the token's claims are too large: pass fewer or shorter tags",
    "SignerNotConfiguredException":
        "the calling session's workload identity provider has no JWT signer for "
        "token_type='JWT_SVID': add a JWT signer to the provider, or drop token_type",
    "RegionalSignerUnavailableException":
        "no signer in this Region can sign the token now (a new signer not active yet, or "
        "its provider disabled): retry after the signer's start time, or call STS in "
        "another Region (region=)",
    "ValidationError":
        "fix the decorator's arguments (scope needs subject_mode='OriginIdentity' and one "
        "audience; token_type excludes subject_mode, scope and tags)",
}


class StsWebIdentitySource:
    """Fetches AWS-signed JWTs with STS ``GetWebIdentityToken`` (web identity requests only).

    :func:`~agentcore_auth.requires_iam_access_token` uses it through the resolver: a
    resolver over any other source makes one of these, from boto3's configuration,
    for its web identity requests. Pass one yourself for another session or Region.

    Args:
        region: AWS Region (GetWebIdentityToken has no global endpoint); default boto3's.
        endpoint_url: override the STS endpoint (the local emulator); boto3 also
            honours ``AWS_ENDPOINT_URL_STS``.
        client: a ready ``sts`` boto3 client.
        max_attempts: botocore standard-mode attempts (throttling, 5xx).
        connect_timeout: seconds.
        read_timeout: seconds.
        session: a boto3 Session to create the client from.
    """

    name = SOURCE

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: BaseClient | None = None,
        max_attempts: int = 4,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        session: Any = None,
    ) -> None:
        self._clients = BotoClientFactory(
            "sts", region=region, endpoint_url=endpoint_url, client=client,
            max_attempts=max_attempts, connect_timeout=connect_timeout,
            read_timeout=read_timeout, session=session)
        self._credentials: Any = None

    def __repr__(self) -> str:
        return "StsWebIdentitySource()"

    @property
    def region(self) -> str:
        """The STS client's Region."""
        return self._clients.region

    @property
    def client(self) -> BaseClient:
        """The ``sts`` client (created on first use)."""
        return self._clients.get()

    def binding(self) -> tuple[str, ...]:
        """What a shared tier binds this source's tokens to: kind and Region (no I/O; who
        calls is in each request's cache key, see :meth:`caller_key`)."""
        try:
            region = self.region
        except Exception:  # noqa: BLE001 - no Region yet: the fetch will say so
            region = ""
        return (SOURCE, f"region={region}")

    def caller_key(self) -> str:
        """Who the tokens are for: a digest of the access key id the client signs with now.

        Refreshed credentials (a new role session) get a new key, so a token is never
        handed to another caller than the one STS issued it to.
        """
        credentials = self._credentials
        if credentials is None:
            signer = getattr(self.client, "_request_signer", None)
            credentials = self._credentials = getattr(signer, "_credentials", None)
        access_key = getattr(credentials, "access_key", None) or ""
        return hashlib.sha256(str(access_key).encode()).hexdigest()[:24]

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        """Call ``GetWebIdentityToken`` for a web identity request."""
        ask = request.web_identity
        if request.kind != "web_identity" or ask is None:
            raise ConfigurationError(
                f"StsWebIdentitySource only issues web identity tokens, not {request.kind} "
                f"credentials (provider {request.provider_name!r}): give "
                "requires_api_key/requires_access_token a resolver over AgentCoreIdentitySource")
        try:
            with naming(WEB_IDENTITY_NAME):
                response = self.client.get_web_identity_token(**ask.params())
        except AgentCoreAuthError:
            raise
        except Exception as exc:  # botocore's errors do not share a base we can name
            raise _error(exc, ask.audience) from exc
        token = response.get("WebIdentityToken")
        expiration = response.get("Expiration")
        if not isinstance(token, str) or not token:
            raise ConfigurationError("STS GetWebIdentityToken answered without a token")
        expires_at = expiration.timestamp() if hasattr(expiration, "timestamp") else None
        return Credential(Secret(token, name=WEB_IDENTITY_NAME), expires_at=expires_at,
                          until_expiry=expires_at is not None)


def _error(exc: Exception, audience: tuple[str, ...]) -> AgentCoreAuthError:
    from botocore.exceptions import ClientError

    what = f"STS GetWebIdentityToken for audience {list(audience)}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        fix = _FIXES.get(code)
        if fix is not None:
            detail = str(error.get("Message", "")) or code
            return ConfigurationError(f"{what} failed with {code} ({detail}): {fix}")
    return map_boto_error(
        exc, provider_name=WEB_IDENTITY_NAME, source=SOURCE, what=what,
        hints=lambda code: (
            "Grant the caller sts:GetWebIdentityToken (and sts:SetWebIdentityTokenScope for "
            "scope=; policies may restrict sts:IdentityTokenAudience and sts:DurationSeconds)"
            if code in ("AccessDenied", "AccessDeniedException") else None))
