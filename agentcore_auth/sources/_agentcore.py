"""AgentCoreIdentitySource: credentials from the AgentCore Identity data plane."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from .._credential import Credential, CredentialRequest
from .._exceptions import (
    AccessDeniedError,
    AgentCoreAuthError,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialNotFoundError,
)
from .._identity import Identity, runtime_workload_token
from .._jwt import jwt_expiry
from .._secret import Secret
from ._base import BotoClientFactory, map_boto_error
from ._protect import naming, register_value

if TYPE_CHECKING:
    from botocore.client import BaseClient

__all__ = ["AgentCoreIdentitySource"]

SOURCE = "agentcore-identity"
WORKLOAD_NAME_ENV = "AGENTCORE_AUTH_WORKLOAD_NAME"

_PERMISSION_HINT = (
    "Grant the agent's IAM role bedrock-agentcore:{op} (and GetWorkloadAccessToken* when it "
    "fetches its own workload token). For a provider whose secret is EXTERNAL, the secret's "
    "resource policy must allow the service principal bedrock-agentcore.amazonaws.com "
    "secretsmanager:GetSecretValue, and a customer managed KMS key must allow it kms:Decrypt; "
    "run `agentcore-auth doctor {provider}` to check"
)


class AgentCoreIdentitySource:
    """Resolves API keys and OAuth2 tokens through Amazon Bedrock AgentCore Identity.

    The workload access token the data plane needs is found, in order: on the
    request's :class:`Identity` (passed explicitly or set with
    :func:`agentcore_auth.identity_context`); in the AgentCore Runtime's request
    context; or, for local development, fetched with ``GetWorkloadAccessToken``
    (``...ForUserId`` / ``...ForJWT`` when a user is known) for ``workload_name``.

    Args:
        region: AWS Region; defaults to boto3's configuration.
        endpoint_url: override the endpoint (the local emulator); boto3 also honours
            ``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE``.
        client: a ready ``bedrock-agentcore`` boto3 client (then region and endpoint
            are taken from it).
        workload_name: workload identity used to fetch workload tokens locally;
            defaults to ``$AGENTCORE_AUTH_WORKLOAD_NAME``.
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
        workload_name: str | None = None,
        max_attempts: int = 4,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        session: Any = None,
    ) -> None:
        self._clients = BotoClientFactory(
            "bedrock-agentcore",
            region=region,
            endpoint_url=endpoint_url,
            client=client,
            max_attempts=max_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session=session,
        )
        self.workload_name = workload_name or os.environ.get(WORKLOAD_NAME_ENV) or None
        # Workload tokens fetched locally, per identity; short-lived, never logged.
        self._workload_tokens: TTLCache[str, str] = TTLCache(maxsize=4096, ttl=300)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AgentCoreIdentitySource(workload_name={self.workload_name!r})"

    @property
    def region(self) -> str:
        """The data plane's Region."""
        return self._clients.region

    @property
    def client(self) -> BaseClient:
        """The ``bedrock-agentcore`` client (created on first use)."""
        return self._clients.get()

    def binding(self) -> tuple[str, ...]:
        """What a shared tier binds this source's values to: kind, Region, workload (no I/O).

        The AWS account is not among them: it is known only from an STS call or the
        credentials, neither of which may be on a call's path (see fleet-security docs).
        A source without ``workload_name`` gets each request's workload bound instead.
        """
        return (SOURCE, f"region={self._region_or_none() or ''}",
                f"workload={self.workload_name or ''}")

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        """Call GetResourceApiKey or GetResourceOauth2Token for ``request``."""
        token, fetched_here = self._workload_token(request, identity)
        # botocore logs request bodies at DEBUG: the token must be known to the redactor first.
        register_value(token, "workload-access-token")
        try:
            return self._call(request, token)
        except AccessDeniedError as exc:
            if not fetched_here or _error_code(exc.__cause__) != "UnauthorizedException":
                raise
            # A workload token we cached has expired: get a new one, once.
            self._forget_workload_token(identity)
            token, _ = self._workload_token(request, identity)
            return self._call(request, token)

    def _call(self, request: CredentialRequest, token: str) -> Credential:
        name = request.provider_name
        if request.kind == "api_key":
            response = self._invoke(
                "GetResourceApiKey",
                name,
                lambda c: c.get_resource_api_key(
                    workloadIdentityToken=token, resourceCredentialProviderName=name
                ),
            )
            return Credential(Secret(response["apiKey"], name=name))
        params: dict[str, Any] = {
            "workloadIdentityToken": token,
            "resourceCredentialProviderName": name,
            "scopes": list(request.scopes),
            "oauth2Flow": request.auth_flow or "M2M",
        }
        optional = {
            "resources": list(request.resources),
            "audiences": list(request.audiences),
            "customParameters": dict(request.custom_parameters),
            "customState": request.custom_state,
            "resourceOauth2ReturnUrl": request.callback_url,
            "sessionUri": request.session_uri,
        }
        params.update({k: v for k, v in optional.items() if v})
        if request.force_authentication:
            params["forceAuthentication"] = True
        response = self._invoke(
            "GetResourceOauth2Token", name, lambda c: c.get_resource_oauth2_token(**params)
        )
        access_token = response.get("accessToken")
        if access_token:
            return Credential(Secret(access_token, name=name), expires_at=jwt_expiry(access_token))
        if response.get("sessionStatus") == "FAILED":
            raise AccessDeniedError(
                f"the user's authorization for provider {name!r} failed or was declined; "
                "start the consent flow again (call without session_uri)",
                provider_name=name,
                source=SOURCE,
            )
        url = response.get("authorizationUrl")
        if not url and not response.get("sessionUri"):
            raise CredentialNotFoundError(
                f"GetResourceOauth2Token for provider {name!r} returned neither a token nor an "
                "authorization URL",
                provider_name=name,
                source=SOURCE,
            )
        raise AuthorizationRequiredError(
            f"user consent is required for provider {name!r} ({request.auth_flow}): show the "
            "user the authorization URL, then retry with the session URI",
            authorization_url=url or "",
            session_uri=response.get("sessionUri"),
            provider_name=name,
            source=SOURCE,
        )

    def _invoke(
        self, operation: str, provider_name: str, call: Any, *, workload: str | None = None
    ) -> dict[str, Any]:
        subject = f"workload {workload!r}" if workload else f"provider {provider_name!r}"
        try:
            with naming(provider_name if workload is None else "workload-access-token"):
                return call(self.client)  # type: ignore[no-any-return]
        except AgentCoreAuthError:
            raise
        except Exception as exc:  # botocore's errors do not share a base we can name
            raise map_boto_error(
                exc,
                provider_name=provider_name,
                source=SOURCE,
                what=f"{operation} for {subject}",
                hints=lambda code: _hint(code, operation, provider_name, workload,
                                         self._region_or_none()),
            ) from exc

    def _workload_token(
        self, request: CredentialRequest, identity: Identity | None
    ) -> tuple[str, bool]:
        """(token, whether we fetched it ourselves)."""
        if identity is not None and identity.workload_access_token is not None:
            return identity.workload_access_token.reveal(), False
        runtime_token = runtime_workload_token()
        if runtime_token is not None:
            return runtime_token, False
        if not self.workload_name:
            raise ConfigurationError(
                f"no workload access token to resolve provider {request.provider_name!r}: on "
                "AgentCore Runtime it comes with each request; elsewhere pass "
                f"workload_name= to AgentCoreIdentitySource (or set ${WORKLOAD_NAME_ENV}), or "
                "set one with agentcore_auth.identity_context(workload_access_token=...)"
            )
        key = (identity.user_key() if identity else None) or ""
        with self._lock:
            cached = self._workload_tokens.get(key)
        if cached is not None:
            return cached, True
        token = self._fetch_workload_token(request.provider_name, identity)
        with self._lock:
            self._workload_tokens[key] = token
        return token, True

    def _fetch_workload_token(self, provider_name: str, identity: Identity | None) -> str:
        workload = self.workload_name
        assert workload is not None
        if identity is not None and identity.user_id is not None:
            user_id = identity.user_id
            op = "GetWorkloadAccessTokenForUserId"
            response = self._invoke(
                op,
                provider_name,
                lambda c: c.get_workload_access_token_for_user_id(
                    workloadName=workload, userId=user_id
                ),
                workload=workload,
            )
        elif identity is not None and identity.user_token is not None:
            user_token = identity.user_token.reveal()
            register_value(user_token, "user-token")
            op = "GetWorkloadAccessTokenForJWT"
            response = self._invoke(
                op,
                provider_name,
                lambda c: c.get_workload_access_token_for_jwt(
                    workloadName=workload, userToken=user_token
                ),
                workload=workload,
            )
        else:
            response = self._invoke(
                "GetWorkloadAccessToken",
                provider_name,
                lambda c: c.get_workload_access_token(workloadName=workload),
                workload=workload,
            )
        return str(response["workloadAccessToken"])

    def _region_or_none(self) -> str | None:
        try:
            return self.region
        except Exception:  # no Region configured: the error says so elsewhere
            return None

    def _forget_workload_token(self, identity: Identity | None) -> None:
        key = (identity.user_key() if identity else None) or ""
        with self._lock:
            self._workload_tokens.pop(key, None)


def _error_code(exc: BaseException | None) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _hint(
    code: str, operation: str, provider_name: str, workload: str | None, region: str | None = None
) -> str | None:
    if code in ("AccessDeniedException", "AccessDenied"):
        return _PERMISSION_HINT.format(op=operation, provider=provider_name)
    if code == "ResourceNotFoundException":
        where = (
            f"Region {region} was searched: if it lives in another Region, fix the Region "
            "(region=, --region, AWS_REGION). " if region else ""
        )
        flag = f" --region {region}" if region else ""
        if workload:
            return (
                f"{where}Otherwise create the workload identity: aws bedrock-agentcore-control "
                f"create-workload-identity --name {workload}{flag}, or fix workload_name="
            )
        return (
            f"{where}Otherwise check the name, or create it: agentcore-auth providers "
            f"create-api-key --name {provider_name}{flag} ... (or create-oauth2)"
        )
    if code == "UnauthorizedException":
        return (
            "The workload access token was refused (expired, or for another workload): "
            "pass a current one, or let the source fetch one with workload_name="
        )
    if code in ("ThrottlingException", "InternalServerException"):
        return "AgentCore Identity stayed unavailable after botocore's retries; try again later"
    return None
