"""OAuth2 tokens as the service gets them: token requests, USER_FEDERATION, the token vault.

Token requests carry each of ``resources`` as an RFC 8707 ``resource`` parameter and
each of ``audiences`` as ``audience``; ``customParameters`` add parameters and never
replace a standard one. ON_BEHALF_OF_TOKEN_EXCHANGE uses the grant the provider is
configured for (``onBehalfOfTokenExchangeConfig.grantType``: RFC 8693 token exchange,
the default, or an RFC 7523 JWT authorization grant).

USER_FEDERATION runs as on AWS: the authorization URL is the emulator's own
``/identities/oauth2/authorize?request_uri=<sessionUri>``, which sends the browser on
to the provider; a session expires after ``Settings.consent_session_lifetime``; the
vault keeps each user's refresh token and, when the access token has expired, uses
it without asking the user again; when that refresh fails (the grant was revoked)
the user is asked to consent again. A user is issuer plus subject.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.parse
from typing import Any

from ._oauth import JWT_BEARER, TOKEN_EXCHANGE, OAuthServer
from ._secrets import SecretAccess
from ._server import Request, Response
from ._state import Oauth2Provider, Session, Settings, Store, VaultEntry
from ._wire import ServiceError, validation

__all__ = ["SESSION_PREFIX", "Flows"]

logger = logging.getLogger("agentcore_auth.testing")

SESSION_PREFIX = "urn:ietf:params:oauth:request_uri:"
_STANDARD = {"grant_type", "scope", "resource", "audience", "client_id", "client_secret",
             "code", "redirect_uri", "refresh_token", "subject_token", "subject_token_type",
             "requested_token_type", "actor_token", "actor_token_type", "assertion",
             "response_type", "state", "login_hint", "code_challenge",
             "code_challenge_method", "prompt", "nonce"}
_JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class _RefreshRefusedError(Exception):
    """The authorization server refused a refresh token (revoked or expired grant)."""


def _extra(custom: dict[str, str]) -> list[tuple[str, str]]:
    """Custom parameters that do not collide with a standard one."""
    ignored = sorted(k for k in custom if k in _STANDARD)
    if ignored:
        logger.debug("customParameters %s ignored: they would override standard parameters",
                     ", ".join(ignored))
    return [(k, str(v)) for k, v in custom.items() if k not in _STANDARD]


def _targets(body: dict[str, Any]) -> list[tuple[str, str]]:
    return ([("resource", str(r)) for r in body.get("resources") or []]
            + [("audience", str(a)) for a in body.get("audiences") or []])


class Flows:
    """Token requests and consent sessions of one Region's data plane."""

    def __init__(self, store: Store, access: SecretAccess, oauth: OAuthServer,
                 identity_url: str, settings: Settings) -> None:
        self._store = store
        self._access = access
        self._oauth = oauth
        self._identity_url = identity_url
        self._settings = settings
        # one refresh at a time: the IdP rotates refresh tokens, so two concurrent
        # refreshes of one user's token would make the second look like a revocation
        self._refresh_lock = threading.Lock()

    # --- token requests -------------------------------------------------------------------

    def _client_secret(self, provider: Oauth2Provider) -> str:
        if provider.source == "MANAGED":
            return self._access.read_managed(provider.secret_arn, provider.json_key)
        return self._access.read_external(provider.secret_arn, provider.json_key)

    def token_request(self, provider: Oauth2Provider,
                      form: list[tuple[str, str]]) -> dict[str, Any]:
        """POST ``form`` to the provider's token endpoint with its client credentials."""
        import httpx

        secret = self._client_secret(provider)
        auth: tuple[str, str] | None = None
        if provider.auth_method == "client_secret_post":
            form = [*form, ("client_id", provider.client_id), ("client_secret", secret)]
        else:
            auth = (urllib.parse.quote_plus(provider.client_id), urllib.parse.quote_plus(secret))
        endpoint = provider.metadata["token_endpoint"]
        try:
            response = httpx.post(endpoint, content=urllib.parse.urlencode(form), auth=auth,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"},
                                  timeout=10.0)
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
        if error == "invalid_grant" and ("grant_type", "refresh_token") in form:
            raise _RefreshRefusedError()
        raise ServiceError("ValidationException", f"token endpoint {endpoint} refused the "
                                                  f"request ({error or response.status_code})")

    def machine_token(self, provider: Oauth2Provider, body: dict[str, Any]) -> dict[str, Any]:
        """M2M: a client credentials grant."""
        form = [("grant_type", "client_credentials"), *self._scope(body), *_targets(body),
                *_extra(body.get("customParameters") or {})]
        return {"accessToken": self.token_request(provider, form)["access_token"]}

    @staticmethod
    def _scope(body: dict[str, Any]) -> list[tuple[str, str]]:
        scopes = list(body.get("scopes") or [])
        return [("scope", " ".join(scopes))] if scopes else []

    def on_behalf_of(self, provider: Oauth2Provider, body: dict[str, Any],
                     user_token: str | None) -> dict[str, Any]:
        """ON_BEHALF_OF_TOKEN_EXCHANGE with the grant the provider is configured for."""
        if user_token is None:
            raise validation("workloadIdentityToken",
                             "ON_BEHALF_OF_TOKEN_EXCHANGE needs a workload access token from "
                             "GetWorkloadAccessTokenForJWT (it carries the user's JWT)")
        config = provider.settings.get("onBehalfOfTokenExchangeConfig") or {}
        if config.get("grantType") == "JWT_AUTHORIZATION_GRANT":
            form = [("grant_type", JWT_BEARER), ("assertion", user_token)]
        else:
            form = [("grant_type", TOKEN_EXCHANGE), ("subject_token", user_token),
                    ("subject_token_type", _JWT_TYPE)]
            actor = (config.get("tokenExchangeGrantTypeConfig") or {}).get("actorTokenContent")
            if actor == "M2M":
                scopes = list((config.get("tokenExchangeGrantTypeConfig") or {})
                              .get("actorTokenScopes") or [])
                actor_form = [("grant_type", "client_credentials")]
                if scopes:
                    actor_form.append(("scope", " ".join(scopes)))
                actor_token = self.token_request(provider, actor_form)["access_token"]
                form += [("actor_token", actor_token), ("actor_token_type", _JWT_TYPE)]
        form += [*self._scope(body), *_targets(body), *_extra(body.get("customParameters") or {})]
        return {"accessToken": self.token_request(provider, form)["access_token"]}

    # --- USER_FEDERATION ------------------------------------------------------------------

    def user_federation(self, body: dict[str, Any], claims: dict[str, Any],
                        provider: Oauth2Provider, user_token: str | None) -> dict[str, Any]:
        """A vaulted token, refreshed when expired, or a consent session to complete."""
        user = claims.get("user_id")
        if not user:
            raise validation("workloadIdentityToken",
                             "USER_FEDERATION needs a workload access token bound to a user "
                             "(GetWorkloadAccessTokenForUserId or GetWorkloadAccessTokenForJWT)")
        issuer, user = str(claims.get("user_iss") or ""), str(user)
        workload, scopes = str(claims["sub"]), tuple(sorted(body.get("scopes") or []))
        return_url = body.get("resourceOauth2ReturnUrl")
        now = time.time()
        with self._store.lock:
            self._store.expire_sessions(now)
            allowed = self._store.workloads[workload].return_urls
            if return_url is not None and return_url not in allowed:
                raise validation("resourceOauth2ReturnUrl",
                                 f"resourceOauth2ReturnUrl is not one of the allowed return URLs "
                                 f"of workload identity {workload!r} (UpdateWorkloadIdentity)")
            if body.get("sessionUri"):
                return self._poll(body["sessionUri"], workload, provider, (issuer, user))
            key = (workload, provider.name, issuer, user, scopes)
            entry = self._store.vault.get(key)
        if entry is not None and not body.get("forceAuthentication"):
            if entry.expires_at > now:
                return {"accessToken": entry.access_token}
            with self._refresh_lock:
                with self._store.lock:
                    entry = self._store.vault.get(key)  # another call may have refreshed it
                if entry is not None and entry.expires_at > time.time():
                    return {"accessToken": entry.access_token}
                refreshed = (self._refresh(provider, entry, scopes)
                             if entry is not None and entry.refresh_token else None)
                with self._store.lock:
                    if refreshed is None:
                        self._store.vault.pop(key, None)  # the grant is gone: consent again
                    else:
                        self._store.vault[key] = refreshed
                        return {"accessToken": refreshed.access_token}
        session = Session(SESSION_PREFIX + secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                          workload, provider.name, user, scopes, return_url,
                          body.get("customState"), issuer, user_token,
                          [*_targets(body), *_extra(body.get("customParameters") or {})],
                          valid_until=now + self._settings.consent_session_lifetime)
        with self._store.lock:
            self._store.sessions[session.uri] = session
            self._store.sessions_by_state[session.state] = session.uri
        return self._pending(session)

    def _refresh(self, provider: Oauth2Provider, entry: VaultEntry,
                 scopes: tuple[str, ...]) -> VaultEntry | None:
        form = [("grant_type", "refresh_token"), ("refresh_token", entry.refresh_token or "")]
        if scopes:
            form.append(("scope", " ".join(scopes)))
        try:
            token = self.token_request(provider, form)
        except _RefreshRefusedError:
            logger.info("refreshing a vaulted token of provider %s failed (grant revoked or "
                        "expired): the user must consent again", provider.name)
            return None
        return VaultEntry(str(token["access_token"]),
                          time.time() + float(token.get("expires_in", 3600)),
                          token.get("refresh_token") or entry.refresh_token)

    def _poll(self, uri: str, workload: str, provider: Oauth2Provider,
              user: tuple[str, str]) -> dict[str, Any]:
        session = self._store.sessions.get(uri)
        if session is None:
            raise validation("sessionUri", "sessionUri is unknown or has expired: start a new "
                                           "session (call without sessionUri)")
        if (session.workload, session.provider, session.user()) != (workload, provider.name,
                                                                     user):
            raise ServiceError("AccessDeniedException",
                               "sessionUri belongs to another workload, provider or user")
        if session.status == "COMPLETED" and session.token:
            return {"accessToken": session.token, "sessionUri": session.uri}
        return self._pending(session)

    def _pending(self, session: Session) -> dict[str, Any]:
        url = (f"{self._identity_url}/identities/oauth2/authorize?"
               + urllib.parse.urlencode({"request_uri": session.uri}))
        status = "FAILED" if session.status == "FAILED" else "IN_PROGRESS"
        return {"authorizationUrl": url, "sessionUri": session.uri, "sessionStatus": status}

    def authorize(self, session: Session, provider: Oauth2Provider) -> Response:
        """The service's authorization URL: send the browser on to the provider."""
        params = [("response_type", "code"), ("client_id", provider.client_id),
                  ("redirect_uri", provider.callback_url), ("scope", " ".join(session.scopes)),
                  ("state", session.state), ("login_hint", session.user_id),
                  *session.authorize_params]
        endpoint = provider.metadata["authorization_endpoint"]
        separator = "&" if "?" in endpoint else "?"
        return Response.redirect(endpoint + separator + urllib.parse.urlencode(params))

    def callback(self, request: Request) -> Response:
        """The provider's callback URL: exchange the code, then send the user to the app."""
        with self._store.lock:
            self._store.expire_sessions(time.time())
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
            token = self.token_request(provider, [
                ("grant_type", "authorization_code"), ("code", request.query["code"]),
                ("redirect_uri", provider.callback_url)])
        except ServiceError as exc:
            with self._store.lock:
                session.status = "FAILED"
            return Response.json({"message": exc.message}, 502)
        with self._store.lock:
            session.token = str(token["access_token"])
            session.refresh_token = token.get("refresh_token")
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

    def complete(self, uri: str, user: tuple[str, str]) -> None:
        """CompleteResourceTokenAuth: the user who started the session stores the token."""
        with self._store.lock:
            self._store.expire_sessions(time.time())
            session = self._store.sessions.get(uri)
            if session is None:
                raise validation("sessionUri", "sessionUri is unknown or has expired: start a "
                                               "new session")
            if user != session.user():
                raise ServiceError("AccessDeniedException",
                                   "the session was started for another user")
            if session.status == "IN_PROGRESS":
                raise validation("sessionUri", "the user has not completed the authorization "
                                               "at the authorizationUrl yet")
            if session.status == "FAILED" or session.token is None:
                raise validation("sessionUri", "the authorization failed; start a new session")
            session.status = "COMPLETED"
            self._store.vault[self._store.vault_key(session)] = VaultEntry(
                session.token, session.expires_at, session.refresh_token)
