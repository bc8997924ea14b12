"""The emulated AWS IAM CredentialBroker: both planes behind the AWS front.

Both boto3 clients (``credentialbroker`` 2026-07-01, ``credentialbroker-control``
2026-09-30) sign as ``credentialbroker``, so the front hands every such request
here (``route_service``) and the operation is told apart by its path, as
botocore's models give them (``GetOAuthToken`` is ``POST /oauth2/token``). Input
is validated by the same model-driven :class:`~._wire.WireModel` the AgentCore
planes use; ``https://`` patterns also accept ``http://`` on loopback, so the
local OAuth2 server can stand in for an authorization server.

Data plane: ``GetApiKey`` reads the provider's secret at call time (EXTERNAL:
the caller's secret, under the same rules as AgentCore Identity's, for the
principal ``credentialbroker.amazonaws.com``); ``GetOAuthToken`` with
``CLIENT_CREDENTIALS`` asks the provider's token endpoint and caches the token
until it expires or for an hour, ``forceAuthentication`` bypassing that cache.
The grants that act for an end user need an IAM Identity Center identity-enhanced
session, which the emulator has no way to receive: they are refused (see
``docs/credential-broker.md``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from ._broker_control import BrokerControl, invalid
from ._broker_state import TOKEN_CACHE_LIMIT, BrokerError, BrokerProvider, BrokerStore, CachedToken
from ._flows import Flows
from ._front import AwsRequest
from ._identity import Regions
from ._oauth import OAuthServer
from ._secrets import BROKER_PRINCIPAL, SecretAccess
from ._server import Response
from ._state import Counters, Faults, Oauth2Provider, Settings, Store
from ._wire import ServiceError, WireModel, encode_json

__all__ = ["BrokerService", "BrokerWire"]

logger = logging.getLogger("agentcore_auth.testing")

_LOOPBACK_HTTP = r"(?:https://|http://(?:127\.0\.0\.1|localhost|\[::1\])(?=[:/]|$))"
_USER_GRANTS = ("AUTHORIZATION_CODE", "TOKEN_EXCHANGE", "JWT_AUTHORIZATION_GRANT")
_IDP_REASONS = {"invalid_client": "EXTERNAL_IDP_INVALID_CLIENT",
                "invalid_scope": "EXTERNAL_IDP_INVALID_SCOPE",
                "invalid_target": "EXTERNAL_IDP_INVALID_TARGET",
                "unauthorized_client": "EXTERNAL_IDP_UNAUTHORIZED_CLIENT",
                "unsupported_grant_type": "EXTERNAL_IDP_UNSUPPORTED_GRANT_TYPE",
                "invalid_grant": "EXTERNAL_IDP_INVALID_GRANT"}


class BrokerWire(WireModel):
    """Routes and validators of both CredentialBroker planes, from botocore's models."""

    SERVICES = ("credentialbroker", "credentialbroker-control")

    def _pattern(self, pattern: str) -> re.Pattern[str] | None:
        if pattern.startswith("https://"):  # the emulator serves http on loopback
            if pattern not in self._patterns:
                self._patterns[pattern] = re.compile(_LOOPBACK_HTTP + pattern[len("https://"):])
            return self._patterns[pattern]
        return super()._pattern(pattern)


def _reshape(exc: ServiceError) -> BrokerError:
    """A generic emulator error in the broker's error shapes (a ``reason`` of its model)."""
    if isinstance(exc, BrokerError):
        return exc
    message = exc.message
    if exc.code == "ValidationException":
        reason = ("MISSING_REQUIRED_FIELD" if "must not be null" in message
                  else "INVALID_FIELD_VALUE")
        return BrokerError(exc.code, message, reason=reason)
    return BrokerError(exc.code, message)


def _secret_error(exc: ServiceError) -> BrokerError:
    """A failed read of a provider's secret, with the broker's reasons."""
    if isinstance(exc, BrokerError):
        return exc
    text = exc.message
    if exc.code == "AccessDeniedException":
        reason = ("SECRET_ACCESS_DENIED" if "secretsmanager:GetSecretValue" in text
                  else "KMS_KEY_ACCESS_DENIED")
        return BrokerError(exc.code, text, reason=reason)
    if exc.code in ("ValidationException", "ResourceNotFoundException"):
        reason = "KMS_KEY_DISABLED" if "KMS key" in text else "INVALID_SECRET_REFERENCE"
        return BrokerError("ValidationException", text, reason=reason)
    return BrokerError(exc.code, text)


class _BrokerSecrets:
    """What :class:`~._flows.Flows` reads client secrets with, as the broker's principal."""

    def __init__(self, access: SecretAccess) -> None:
        self._access = access

    def read_managed(self, arn: str, json_key: str) -> str:
        return self._access.read_managed(arn, json_key)

    def read_external(self, arn: str, json_key: str) -> str:
        return self._access.read_external(arn, json_key, principal=BROKER_PRINCIPAL)


class BrokerData:
    """Handlers of the data-plane operations, for one Region."""

    def __init__(self, store: BrokerStore, access: SecretAccess, oauth: OAuthServer,
                 settings: Settings) -> None:
        self._store = store
        self._access = access
        self._secrets = _BrokerSecrets(access)
        self._flows = Flows(Store(), self._secrets, oauth, "", settings)  # type: ignore[arg-type]

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Operation name -> handler."""
        return {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}

    def _ready(self, arn: str, kind: str) -> BrokerProvider:
        provider = self._store.provider(None, arn)
        status = provider.life.status(self._store.clock())
        if status != "READY":
            raise invalid(f"credential provider {arn} is {status}, not READY: poll "
                          "GetCredentialProvider until its status is READY")
        if provider.kind != kind:
            raise invalid(f"credential provider {arn} is an {provider.kind} provider; "
                          f"{'GetApiKey' if kind == 'API_KEY' else 'GetOAuthToken'} needs an "
                          f"{kind} provider", "UNSUPPORTED_CONFIGURATION")
        return provider

    def _read(self, provider: BrokerProvider) -> str:
        assert provider.secret_arn is not None and provider.json_key is not None
        try:
            if provider.source == "MANAGED":
                return self._access.read_managed(provider.secret_arn, provider.json_key)
            return self._secrets.read_external(provider.secret_arn, provider.json_key)
        except ServiceError as exc:
            raise _secret_error(exc) from None

    def GetApiKey(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return {"apiKey": self._read(self._ready(body["credentialProviderArn"], "API_KEY"))}

    def GetOAuthToken(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        provider = self._ready(body["credentialProviderArn"], "OAUTH")
        grant = body["grantType"]
        if grant not in provider.grants:
            raise invalid(f"grantType {grant} is not allowed by credential provider "
                          f"{provider.arn} (allowedGrantTypes: {', '.join(provider.grants)})",
                          "GRANT_TYPE_NOT_ALLOWED")
        if grant in _USER_GRANTS:
            raise self._no_end_user(provider, grant)
        if provider.auth_method == "NONE":
            raise invalid(f"CLIENT_CREDENTIALS needs a confidential client; credential provider "
                          f"{provider.arn} is a public client (clientAuthenticationMethod NONE)",
                          "UNSUPPORTED_CONFIGURATION")
        key = (provider.id, grant, tuple(sorted(body.get("scopes") or ())),
               tuple(sorted(body.get("resources") or ())),
               tuple(sorted(body.get("audiences") or ())),
               tuple(sorted((body.get("customParameters") or {}).items())))
        now = self._store.clock()
        with self._store.lock:
            cached = self._store.tokens.get(key)
        if cached is not None and not body.get("forceAuthentication") and now < cached.keep_until:
            return _token_out(cached)
        token = self._client_credentials(provider, body)
        expires_in = token.get("expires_in")
        expires_at = now + float(expires_in) if isinstance(expires_in, int | float) else None
        keep = min(expires_at or now + TOKEN_CACHE_LIMIT, now + TOKEN_CACHE_LIMIT)
        entry = CachedToken(str(token["access_token"]), expires_at, keep)
        with self._store.lock:
            self._store.tokens[key] = entry
        return _token_out(entry)

    def _client_credentials(self, provider: BrokerProvider, body: dict[str, Any]) -> dict[str, Any]:
        shim = Oauth2Provider(
            name=provider.name, arn=provider.arn, vendor=provider.vendor_key,
            config_key=provider.vendor_key, client_id=provider.client_id,
            source=provider.source or "MANAGED", secret_arn=provider.secret_arn or "",
            json_key=provider.json_key or "", discovery=provider.discovery,
            metadata=provider.metadata, callback_url="",
            auth_method=("client_secret_post" if provider.auth_method == "CLIENT_SECRET_POST"
                         else "client_secret_basic"))
        scopes = list(body.get("scopes") or [])
        form = [("grant_type", "client_credentials"),
                *([("scope", " ".join(scopes))] if scopes else []),
                *[("resource", str(r)) for r in body.get("resources") or []],
                *[("audience", str(a)) for a in body.get("audiences") or []]]
        from ._flows import _extra

        form += _extra(body.get("customParameters") or {})
        try:
            return self._flows.token_request(shim, form)
        except ServiceError as exc:
            if exc.code == "AccessDeniedException" and "invalid_client" in exc.message:
                raise BrokerError(exc.code, exc.message.replace("AgentCore", "CredentialBroker"),
                                  reason="EXTERNAL_IDP_INVALID_CLIENT") from None
            found = re.search(r"refused the request \((\w+)\)", exc.message)
            if found and found.group(1) in _IDP_REASONS:
                raise BrokerError("AccessDeniedException", exc.message,
                                  reason=_IDP_REASONS[found.group(1)]) from None
            if exc.code in ("ValidationException", "AccessDeniedException") and (
                    "secret" in exc.message):
                raise _secret_error(exc) from None
            raise _reshape(exc) from None

    def _no_end_user(self, provider: BrokerProvider, what: str) -> BrokerError:
        pool = self._store.pools.get(provider.pool_id)
        if pool is None or not pool.identity_center:
            return invalid(f"{what} for credential provider {provider.arn} needs an end user: "
                           f"its pool {provider.pool_id} is not associated with an IAM Identity "
                           "Center instance", "INVALID_IDENTITY_CENTER_INSTANCE_REFERENCE")
        return BrokerError("AccessDeniedException",
                           f"{what} for credential provider {provider.arn} needs the caller's "
                           "IAM Identity Center identity-enhanced session; this request carries "
                           "none (the local emulator cannot receive one)",
                           reason="IDENTITY_CENTER_ACCESS_DENIED")

    def StartOAuthSession(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        provider = self._ready(body["credentialProviderArn"], "OAUTH")
        if "AUTHORIZATION_CODE" not in provider.grants:
            raise invalid(f"credential provider {provider.arn} does not allow "
                          "AUTHORIZATION_CODE", "GRANT_TYPE_NOT_ALLOWED")
        if body["sessionBindingUrl"] not in provider.binding_urls:
            raise invalid(f"sessionBindingUrl is not one of the allowedSessionBindingUrls of "
                          f"credential provider {provider.arn}", "SESSION_BINDING_URL_NOT_ALLOWED")
        raise self._no_end_user(provider, "StartOAuthSession")

    def CompleteOAuthSessionBinding(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        raise BrokerError("ResourceNotFoundException",
                          f"consent session {body['sessionUri']} does not exist",
                          resource_id=body["sessionUri"], resource_type="OAuthSession")


def _token_out(entry: CachedToken) -> dict[str, Any]:
    out: dict[str, Any] = {"accessToken": entry.access_token}
    if entry.expires_at is not None:
        out["expiresAt"] = entry.expires_at
    return out


class BrokerService:
    """Serves both CredentialBroker planes for the AWS front, one state per Region.

    Attributes:
        clock: the broker's epoch clock (statuses, token expiry); tests may replace it.
    """

    def __init__(self, regions: Regions, oauth: OAuthServer, counters: Counters,
                 faults: Faults, settings: Settings) -> None:
        self._regions = regions
        self._oauth = oauth
        self._counters = counters
        self._faults = faults
        self._settings = settings
        self.clock: Callable[[], float] = time.time
        self._wire = BrokerWire()
        self._wire.compile_patterns()
        self._lock = threading.Lock()
        self._planes: dict[str, tuple[BrokerStore, dict[str, Any]]] = {}

    def store(self, region: str) -> BrokerStore:
        """The broker state of ``region``."""
        return self._plane(region)[0]

    def _plane(self, region: str) -> tuple[BrokerStore, dict[str, Any]]:
        with self._lock:
            if region not in self._planes:
                access = self._regions.access(region)
                store = BrokerStore(region, self._regions.account_id, lambda: self.clock())
                handlers = {
                    **BrokerControl(store, access, self._oauth, self._settings).handlers(),
                    **BrokerData(store, access, self._oauth, self._settings).handlers()}
                self._planes[region] = (store, handlers)
            return self._planes[region]

    def handle(self, request: AwsRequest) -> Response:
        """Answer one request signed for ``credentialbroker``."""
        http = request.http
        operation, labels = self._wire.match(http.method, http.path)
        handlers = self._plane(request.region)[1]
        if operation is None or operation.name not in handlers:
            return _error(BrokerError("UnknownOperationException",
                                      f"{http.method} {http.path} is not a CredentialBroker "
                                      "operation"))
        self._counters.increment(operation.name)
        fault = self._faults.apply(operation.name)
        if fault is not None:
            return _error(BrokerError(fault, f"injected {fault} for {operation.name}"))
        try:
            try:
                body = http.json()
            except ValueError:
                raise invalid("request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise invalid("request body must be a JSON object")
            body = self._wire.request_body(operation, body, labels, http.query_items)
            result = handlers[operation.name](self._wire.validate(operation, body))
        except ServiceError as exc:
            shaped = _reshape(exc)
            logger.debug("%s -> %s: %s", operation.name, shaped.code, shaped.message)
            return _error(shaped)
        return Response(operation.status, encode_json(result),
                        {"Content-Type": "application/json"})


def _error(exc: BrokerError) -> Response:
    return Response(exc.status, encode_json(exc.body()),
                    {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})
