"""The data plane (``bedrock-agentcore``): workload access tokens, API keys, OAuth2 tokens.

Workload access tokens are HS256 JWTs (``sub`` = workload name, ``exp``, and for the
ForUserId/ForJWT variants ``user_id``), signed with a key only the emulator knows;
the data-plane calls verify them to learn the workload and the user. The user's JWT
given to ``GetWorkloadAccessTokenForJWT`` is kept server-side under the token's
``jti`` for ON_BEHALF_OF_TOKEN_EXCHANGE. A user JWT issued by the local OAuth2
server is verified; one from another issuer is only decoded (there is no inbound
authorizer configuration to check it against), but must have ``sub`` and be unexpired.

M2M tokens are fetched from the provider's token endpoint on every call (no vault
caching, so client-side caching is measurable with ``call_count("OAuth2Token")``).
USER_FEDERATION tokens live in a vault per (workload, provider, user, scopes).
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from typing import Any

from ._jwt import InvalidTokenError, decode_unverified, sign, verify
from ._oauth import TOKEN_EXCHANGE, OAuthServer
from ._secrets import SecretAccess
from ._server import Request, Response
from ._state import Oauth2Provider, Session, Store
from ._wire import ServiceError, validation

__all__ = ["DataPlane"]

_SESSION_PREFIX = "urn:ietf:params:oauth:request_uri:"


class DataPlane:
    """Handlers of the data-plane operations, and the OAuth2 callback of the 3-legged flow."""

    def __init__(self, store: Store, access: SecretAccess, oauth: OAuthServer,
                 identity_url: str, workload_token_lifetime: int = 900) -> None:
        self._store = store
        self._access = access
        self._oauth = oauth
        self._issuer = identity_url
        self._lifetime = workload_token_lifetime
        self._key = secrets.token_bytes(32)

    def handlers(self) -> dict[str, Any]:
        """Operation name -> handler."""
        return {name: getattr(self, name) for name in dir(self) if name[:1].isupper()}

    # --- workload access tokens -----------------------------------------------------------

    def _issue(self, workload: str, user_id: str | None, user_token: str | None) -> dict[str, Any]:
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
            if user_token is not None:
                self._store.user_tokens[claims["jti"]] = user_token
        return {"workloadAccessToken": sign(claims, self._key)}

    def _user_of(self, token: str, field: str) -> str:
        try:
            claims = decode_unverified(token)
            if claims.get("iss") == self._oauth.issuer:
                claims = self._oauth.verify_user_token(token)
            elif float(claims.get("exp", time.time() + 1)) <= time.time():
                raise InvalidTokenError("JWT has expired")
        except (InvalidTokenError, TypeError, ValueError) as exc:
            raise ServiceError("UnauthorizedException", f"{field} is not a valid user JWT: {exc}") \
                from None
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise validation(field, f"{field} has no 'sub' claim to identify the user")
        return str(claims["sub"])

    def GetWorkloadAccessToken(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._issue(body["workloadName"], None, None)

    def GetWorkloadAccessTokenForUserId(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._issue(body["workloadName"], body["userId"], None)

    def GetWorkloadAccessTokenForJWT(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        user = self._user_of(body["userToken"], "userToken")
        return self._issue(body["workloadName"], user, body["userToken"])

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

    # --- OAuth2 tokens --------------------------------------------------------------------

    def _client_secret(self, provider: Oauth2Provider) -> str:
        if provider.source == "MANAGED":
            return self._access.read_managed(provider.secret_arn, provider.json_key)
        return self._access.read_external(provider.secret_arn, provider.json_key)

    def _token_request(self, provider: Oauth2Provider, form: dict[str, str]) -> dict[str, Any]:
        import httpx

        secret = self._client_secret(provider)
        auth: tuple[str, str] | None = None
        if provider.auth_method == "client_secret_post":
            form = {**form, "client_id": provider.client_id, "client_secret": secret}
        else:
            auth = (urllib.parse.quote_plus(provider.client_id), urllib.parse.quote_plus(secret))
        endpoint = provider.metadata["token_endpoint"]
        try:
            response = httpx.post(endpoint, data=form, auth=auth, timeout=10.0)
        except httpx.HTTPError as exc:
            raise ServiceError("InternalServerException", f"token endpoint {endpoint} unreachable: "
                                                          f"{type(exc).__name__}") from None
        if response.status_code == 200:
            payload: dict[str, Any] = response.json()
            return payload
        try:
            error = str(response.json().get("error", ""))
        except ValueError:
            error = ""
        if response.status_code == 429:
            raise ServiceError("ThrottlingException", f"token endpoint {endpoint} throttled")
        if response.status_code >= 500:
            raise ServiceError("InternalServerException",
                               f"token endpoint {endpoint} answered {response.status_code}")
        if error == "invalid_client":
            raise ServiceError(
                "AccessDeniedException",
                f"the authorization server at {endpoint} refused client {provider.client_id!r} "
                f"of provider {provider.name!r} (invalid_client): its client secret in "
                f"{provider.secret_arn} is out of date or wrong",
            )
        raise ServiceError("ValidationException", f"token endpoint {endpoint} refused the "
                                                  f"request ({error or response.status_code})")

    def GetResourceOauth2Token(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        claims = self._workload_claims(body["workloadIdentityToken"])
        name = body["resourceCredentialProviderName"]
        with self._store.lock:
            provider = self._store.oauth2_providers.get(name)
        if provider is None:
            raise ServiceError("ResourceNotFoundException",
                               f"OAuth2 credential provider {name!r} does not exist")
        scopes = list(body["scopes"])
        form: dict[str, str] = {"scope": " ".join(scopes)} if scopes else {}
        audiences = body.get("audiences") or body.get("resources")
        if audiences:
            form["audience"] = audiences[0]
        flow = body["oauth2Flow"]
        if flow == "M2M":
            form["grant_type"] = "client_credentials"
            return {"accessToken": self._token_request(provider, form)["access_token"]}
        if flow == "ON_BEHALF_OF_TOKEN_EXCHANGE":
            with self._store.lock:
                user_token = self._store.user_tokens.get(str(claims.get("jti")))
            if user_token is None:
                raise validation("workloadIdentityToken",
                                 "ON_BEHALF_OF_TOKEN_EXCHANGE needs a workload access token from "
                                 "GetWorkloadAccessTokenForJWT (it carries the user's JWT)")
            form.update(grant_type=TOKEN_EXCHANGE, subject_token=user_token,
                        subject_token_type="urn:ietf:params:oauth:token-type:jwt")
            return {"accessToken": self._token_request(provider, form)["access_token"]}
        return self._user_federation(body, claims, provider, tuple(sorted(scopes)))

    def _user_federation(self, body: dict[str, Any], claims: dict[str, Any],
                         provider: Oauth2Provider, scopes: tuple[str, ...]) -> dict[str, Any]:
        user = claims.get("user_id")
        if not user:
            raise validation("workloadIdentityToken",
                             "USER_FEDERATION needs a workload access token bound to a user "
                             "(GetWorkloadAccessTokenForUserId or GetWorkloadAccessTokenForJWT)")
        workload = str(claims["sub"])
        return_url = body.get("resourceOauth2ReturnUrl")
        with self._store.lock:
            allowed = self._store.workloads[workload].return_urls
            if return_url is not None and return_url not in allowed:
                raise validation("resourceOauth2ReturnUrl",
                                 f"resourceOauth2ReturnUrl is not one of the allowed return URLs "
                                 f"of workload identity {workload!r} (UpdateWorkloadIdentity)")
            if body.get("sessionUri"):
                session = self._store.sessions.get(body["sessionUri"])
                if session is None:
                    raise validation("sessionUri", "sessionUri is unknown or has expired")
                if (session.workload, session.provider, session.user_id) != (
                        workload, provider.name, user):
                    raise ServiceError("AccessDeniedException",
                                       "sessionUri belongs to another workload, provider or user")
                if session.status == "COMPLETED" and session.token:
                    return {"accessToken": session.token, "sessionUri": session.uri}
                return self._pending(session, provider)
            cached = self._store.vault.get((workload, provider.name, str(user), scopes))
            if cached and cached[1] > time.time() and not body.get("forceAuthentication"):
                return {"accessToken": cached[0]}
            uri = _SESSION_PREFIX + secrets.token_urlsafe(24)
            session = Session(uri, secrets.token_urlsafe(24), workload, provider.name, str(user),
                              scopes, return_url, body.get("customState"))
            self._store.sessions[uri] = session
            self._store.sessions_by_state[session.state] = uri
        return self._pending(session, provider, body.get("customParameters") or {})

    @staticmethod
    def _pending(session: Session, provider: Oauth2Provider,
                 custom: dict[str, str] | None = None) -> dict[str, Any]:
        params = {"response_type": "code", "client_id": provider.client_id,
                  "redirect_uri": provider.callback_url, "scope": " ".join(session.scopes),
                  "state": session.state, "login_hint": session.user_id, **(custom or {})}
        url = provider.metadata["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)
        status = "FAILED" if session.status == "FAILED" else "IN_PROGRESS"
        return {"authorizationUrl": url, "sessionUri": session.uri, "sessionStatus": status}

    def callback(self, request: Request) -> Response:
        """The provider's callback URL: exchange the code, then send the user to the app."""
        with self._store.lock:
            uri = self._store.sessions_by_state.get(request.query.get("state", ""))
            session = self._store.sessions.get(uri or "")
            provider = self._store.oauth2_providers.get(session.provider) if session else None
        if session is None or provider is None:
            return Response.json({"message": "unknown or expired OAuth2 state"}, 400)
        if "code" not in request.query:
            with self._store.lock:
                session.status = "FAILED"
            return Response.json({"message": "the authorization server returned no code"}, 400)
        try:
            token = self._token_request(provider, {
                "grant_type": "authorization_code", "code": request.query["code"],
                "redirect_uri": provider.callback_url})
        except ServiceError as exc:
            with self._store.lock:
                session.status = "FAILED"
            return Response.json({"message": exc.message}, 502)
        with self._store.lock:
            session.token = str(token["access_token"])
            session.expires_at = time.time() + float(token.get("expires_in", 3600))
            session.status = "CONSENTED"
        if session.return_url:
            separator = "&" if "?" in session.return_url else "?"
            query = {"session_id": session.uri}
            if session.custom_state:
                query["state"] = session.custom_state
            return Response.redirect(session.return_url + separator + urllib.parse.urlencode(query))
        return Response(200, b"Consent recorded. The application completes the flow with "
                             b"CompleteResourceTokenAuth.\n", {"Content-Type": "text/plain"})

    def CompleteResourceTokenAuth(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        identifier = body["userIdentifier"]
        if identifier.get("userToken"):
            user = self._user_of(identifier["userToken"], "userIdentifier.userToken")
        elif identifier.get("userId"):
            user = identifier["userId"]
        else:
            raise validation("userIdentifier", "userIdentifier needs userId or userToken")
        with self._store.lock:
            session = self._store.sessions.get(body["sessionUri"])
            if session is None:
                raise validation("sessionUri", "sessionUri is unknown or has expired")
            if user != session.user_id:
                raise ServiceError("AccessDeniedException",
                                   "the session was started for another user")
            if session.status == "IN_PROGRESS":
                raise validation("sessionUri", "the user has not completed the authorization "
                                               "at the authorizationUrl yet")
            if session.status == "FAILED" or session.token is None:
                raise validation("sessionUri", "the authorization failed; start a new session")
            session.status = "COMPLETED"
            self._store.vault[self._store.vault_key(session)] = (session.token, session.expires_at)
        return {}
