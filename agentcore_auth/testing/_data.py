"""The data plane (``bedrock-agentcore``): workload access tokens, API keys, OAuth2 tokens.

Workload access tokens are HS256 JWTs (``sub`` = workload name, ``exp``, and for the
ForUserId/ForJWT variants ``user_id``), signed with a key only the emulator knows;
the data-plane calls verify them to learn the workload and the user. The user's JWT
given to ``GetWorkloadAccessTokenForJWT`` is kept server-side under the token's
``jti`` for ON_BEHALF_OF_TOKEN_EXCHANGE. User JWTs are verified against the trusted
issuers (:class:`~._trust.TrustedIssuers`: the local OAuth2 server unless told
more); a JWT user is issuer plus subject (``user_iss`` + ``user_id`` claims).

M2M tokens are fetched from the provider's token endpoint on every call (no vault
caching, so client-side caching is measurable with ``call_count("OAuth2Token")``).
USER_FEDERATION tokens live in a vault per (workload, provider, user, scopes); the
flows themselves are in :mod:`._flows`.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ._flows import Flows
from ._jwt import InvalidTokenError, sign, verify
from ._oauth import OAuthServer
from ._payments import payment_token
from ._secrets import SecretAccess
from ._server import Request, Response
from ._state import Settings, Store
from ._trust import TrustedIssuers
from ._wire import ServiceError, validation

__all__ = ["DataPlane"]



class DataPlane:
    """Handlers of the data-plane operations, and the OAuth2 callback of the 3-legged flow."""

    def __init__(self, store: Store, access: SecretAccess, oauth: OAuthServer,
                 identity_url: str, workload_token_lifetime: int = 900,
                 trust: TrustedIssuers | None = None, settings: Settings | None = None) -> None:
        self._store = store
        self._access = access
        self._oauth = oauth
        self._trust = trust or TrustedIssuers(oauth.issuer, oauth.verify_user_token)
        self._issuer = identity_url
        self._lifetime = workload_token_lifetime
        self._key = secrets.token_bytes(32)
        self.flows = Flows(store, access, oauth, identity_url, settings or Settings())

    def handlers(self) -> dict[str, Any]:
        """Operation name -> handler."""
        return {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}

    # --- workload access tokens -----------------------------------------------------------

    def _issue(self, workload: str, user_id: str | None, user_token: str | None,
               issuer: str | None = None) -> dict[str, Any]:
        with self._store.lock:
            if workload not in self._store.workloads:
                raise ServiceError("ResourceNotFoundException",
                                   f"workload identity {workload!r} does not exist")
            now = int(time.time())
            claims: dict[str, Any] = {"iss": self._issuer, "sub": workload, "iat": now,
                                      "exp": now + self._lifetime, "jti": secrets.token_urlsafe(12),
                                      "token_use": "workload"}
            if user_id is not None:
                claims["user_id"] = user_id
            if issuer is not None:
                claims["user_iss"] = issuer
            if user_token is not None:
                self._store.user_tokens[claims["jti"]] = user_token
        return {"workloadAccessToken": sign(claims, self._key)}

    def _user_of(self, token: str, field: str) -> tuple[str, str]:
        """(issuer, subject) of a user JWT, verified against the trusted issuers."""
        try:
            claims = self._trust.verify(token)
        except (InvalidTokenError, TypeError, ValueError) as exc:
            raise ServiceError("UnauthorizedException", f"{field} is not a valid user JWT: {exc}") \
                from None
        return str(claims["iss"]), str(claims["sub"])

    def GetWorkloadAccessToken(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._issue(body["workloadName"], None, None)

    def GetWorkloadAccessTokenForUserId(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._issue(body["workloadName"], body["userId"], None)

    def GetWorkloadAccessTokenForJWT(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        issuer, user = self._user_of(body["userToken"], "userToken")
        return self._issue(body["workloadName"], user, body["userToken"], issuer)

    def _workload_claims(self, token: str) -> dict[str, Any]:
        try:
            claims = verify(token, self._key, now=time.time())
        except InvalidTokenError as exc:
            raise ServiceError(
                "UnauthorizedException",
                f"workloadIdentityToken is invalid ({exc}); get a new one with "
                "GetWorkloadAccessToken, GetWorkloadAccessTokenForUserId or ...ForJWT",
            ) from None
        with self._store.lock:
            if claims.get("sub") not in self._store.workloads:
                raise ServiceError("AccessDeniedException",
                                   f"workload identity {claims.get('sub')!r} no longer exists")
        return claims

    # --- API keys -------------------------------------------------------------------------

    def GetResourceApiKey(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self._workload_claims(body["workloadIdentityToken"])
        name = body["resourceCredentialProviderName"]
        with self._store.lock:
            provider = self._store.api_key_providers.get(name)
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"API key credential provider {name!r} does not exist")
        if provider.source == "MANAGED":
            return {"apiKey": self._access.read_managed(provider.secret_arn, provider.json_key)}
        return {"apiKey": self._access.read_external(provider.secret_arn, provider.json_key)}

    # --- payment tokens -------------------------------------------------------------------

    def GetResourcePaymentToken(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self._workload_claims(body["workloadIdentityToken"])
        name = body["resourceCredentialProviderName"]
        with self._store.lock:
            provider = self._store.payment_providers.get(name)
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"payment credential provider {name!r} does not exist")
        values = {field: (self._access.read_managed(arn, key) if source == "MANAGED"
                          else self._access.read_external(arn, key))
                  for field, (source, arn, key) in provider.secrets.items()}
        return {"paymentTokenResponse": payment_token(provider, values,
                                                      body["paymentTokenRequest"])}

    # --- OAuth2 tokens --------------------------------------------------------------------

    def GetResourceOauth2Token(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        claims = self._workload_claims(body["workloadIdentityToken"])
        name = body["resourceCredentialProviderName"]
        with self._store.lock:
            provider = self._store.oauth2_providers.get(name)
            user_token = self._store.user_tokens.get(str(claims.get("jti")))
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"OAuth2 credential provider {name!r} does not exist")
        flow = body["oauth2Flow"]
        if flow == "M2M":
            return self.flows.machine_token(provider, body)
        if flow == "ON_BEHALF_OF_TOKEN_EXCHANGE":
            return self.flows.on_behalf_of(provider, body, user_token)
        return self.flows.user_federation(body, claims, provider, user_token)

    def authorize(self, request: Request) -> Response:
        """``/identities/oauth2/authorize?request_uri=...``: on to the provider, or 400."""
        with self._store.lock:
            self._store.expire_sessions(time.time())
            session = self._store.sessions.get(request.query.get("request_uri", ""))
            provider = self._store.oauth2_providers.get(session.provider) if session else None
        if session is None or provider is None:
            return Response(400, b"This authorization link has expired or is unknown: ask the "
                                 b"application to start the sign-in again.\n",
                            {"Content-Type": "text/plain"})
        return self.flows.authorize(session, provider)

    def callback(self, request: Request) -> Response:
        """The provider's callback URL (see :meth:`Flows.callback`)."""
        return self.flows.callback(request)

    def CompleteResourceTokenAuth(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        identifier = body["userIdentifier"]
        if identifier.get("userToken"):
            user = self._user_of(identifier["userToken"], "userIdentifier.userToken")
        elif identifier.get("userId"):
            user = ("", str(identifier["userId"]))
        else:
            raise validation("userIdentifier", "userIdentifier needs userId or userToken")
        self.flows.complete(body["sessionUri"], user)
        return {}
