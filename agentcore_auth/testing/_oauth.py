"""A real OAuth2 authorization server on loopback, for M2M, 3-legged and token exchange.

Endpoints: ``/.well-known/openid-configuration`` and
``/.well-known/oauth-authorization-server`` (discovery), ``/authorize`` (approves at
once and redirects with a code; ``login_hint`` becomes the token's ``sub``) and
``/token`` (``client_credentials``, ``authorization_code``, ``refresh_token``,
RFC 8693 ``token-exchange`` and RFC 7523 ``jwt-bearer``; ``client_secret_basic``
or ``client_secret_post``). Access tokens are HS256 JWTs carrying the client's
secret *generation*: registering a client again rotates its secret and makes every
token issued before invalid. Every RFC 8707 ``resource`` and every ``audience``
parameter counts (``aud`` lists the audiences, else the resources). The
authorization code grant also returns a refresh token; :meth:`OAuthServer.revoke`
withdraws a user's grant, so refreshing fails with ``invalid_grant``. Requests are
logged without secret values (:meth:`OAuthServer.requests`).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
import urllib.parse
from typing import Any

from ._jwt import InvalidTokenError, sign, verify
from ._server import HttpServer, Request, Response
from ._state import Counters, Faults

__all__ = ["JWT_BEARER", "TOKEN_EXCHANGE", "OAuthServer"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_USERS_AUDIENCE = "local-users"
# parameters whose values are secrets: logged as "<redacted>"
_SECRET_PARAMS = {"client_secret", "code", "refresh_token", "subject_token", "actor_token",
                  "assertion", "client_assertion", "code_verifier"}


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


class OAuthServer:
    """The local OAuth2 authorization server (starts serving when constructed).

    Args:
        counters: where ``OAuth2Token``, ``OAuth2Authorize`` and ``OAuth2Discovery`` are counted.
        faults: faults injected under those same names.
        token_lifetime: lifetime of access tokens in seconds.
    """

    def __init__(self, counters: Counters, faults: Faults, token_lifetime: int = 3600) -> None:
        self._counters = counters
        self._faults = faults
        self.token_lifetime = token_lifetime
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[str, int]] = {}  # client_id -> (secret, generation)
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, dict[str, Any]] = {}  # refresh token -> grant
        self._log: list[tuple[str, list[tuple[str, str]]]] = []
        self._server = HttpServer(self._handle, "oauth2")
        self.issuer = self._server.url

    @property
    def discovery_url(self) -> str:
        """The OpenID discovery document's URL."""
        return f"{self.issuer}/.well-known/openid-configuration"

    def metadata(self) -> dict[str, Any]:
        """The authorization server metadata (RFC 8414 names)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials",
                                      "refresh_token", TOKEN_EXCHANGE, JWT_BEARER],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["HS256"],
        }

    def register_client(self, client_id: str, client_secret: str) -> int:
        """Add a client, or rotate its secret; return the secret's generation (1, 2, ...)."""
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret must be non-empty")
        with self._lock:
            generation = self._clients.get(client_id, ("", 0))[1] + 1
            self._clients[client_id] = (client_secret, generation)
        return generation

    def requests(self, endpoint: str = "/token") -> list[list[tuple[str, str]]]:
        """The parameters of each request to ``endpoint`` (oldest first), secrets redacted."""
        with self._lock:
            return [list(items) for path, items in self._log if path == endpoint]

    def _record(self, endpoint: str, items: list[tuple[str, str]]) -> None:
        safe = [(k, "<redacted>" if k in _SECRET_PARAMS else v) for k, v in items]
        with self._lock:
            self._log.append((endpoint, safe))
            del self._log[:-200]

    def revoke(self, sub: str) -> int:
        """Withdraw every refresh token of user ``sub``; return how many there were."""
        with self._lock:
            gone = [t for t, grant in self._refresh.items() if grant["sub"] == sub]
            for token in gone:
                del self._refresh[token]
        return len(gone)

    def issue(self, *, sub: str, client_id: str | None, scopes: list[str],
              audience: str | list[str] | None = None, **extra: Any) -> dict[str, Any]:
        """Issue an access token; return the token response (``access_token``, ``expires_in``)."""
        now = int(time.time())
        with self._lock:
            generation = self._clients[client_id][1] if client_id in self._clients else 0
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": sub, "aud": audience or client_id or _USERS_AUDIENCE,
            "scope": " ".join(scopes), "iat": now, "exp": now + self.token_lifetime,
            "jti": secrets.token_urlsafe(12), "client_id": client_id, "gen": generation, **extra,
        }
        return {"access_token": sign(claims, self._key), "token_type": "Bearer",
                "expires_in": self.token_lifetime, "scope": claims["scope"]}

    def _issue_with_refresh(self, grant: dict[str, Any], audience: str | list[str] | None,
                            scopes: list[str], client_id: str) -> dict[str, Any]:
        response = self.issue(sub=grant["sub"], client_id=client_id, scopes=scopes,
                              audience=audience)
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[refresh] = {**grant, "client_id": client_id, "scopes": scopes}
        return {**response, "refresh_token": refresh}

    def issue_user_token(self, sub: str, lifetime: int | None = None) -> str:
        """A signed user JWT (like an IdP's ID token) for ``GetWorkloadAccessTokenForJWT``."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": sub, "aud": _USERS_AUDIENCE, "token_use": "id",
                  "iat": now, "exp": now + (lifetime or self.token_lifetime),
                  "jti": secrets.token_urlsafe(12)}
        return sign(claims, self._key)

    def verify_user_token(self, token: str) -> dict[str, Any]:
        """Check a JWT issued by this server (signature and expiry); return its claims."""
        return verify(token, self._key, now=time.time())

    def validate(self, token: str, *, audience: str | None = None,
                 scopes: list[str] | None = None) -> dict[str, Any]:
        """Check an access token: signature, expiry, current client secret, audience, scopes.

        Raises:
            InvalidTokenError: the token is not (or no longer) acceptable; the message says why.
        """
        claims = verify(token, self._key, now=time.time())
        client_id = claims.get("client_id")
        if client_id is not None:
            with self._lock:
                current = self._clients.get(client_id, ("", -1))[1]
            if claims.get("gen") != current:
                raise InvalidTokenError("token was issued with a client secret since rotated")
        if audience is not None:
            aud = claims.get("aud")
            if audience not in (aud if isinstance(aud, list) else [aud]):
                raise InvalidTokenError("token is for another audience")
        missing = set(scopes or ()) - set(str(claims.get("scope", "")).split())
        if missing:
            raise InvalidTokenError(f"token lacks scopes {sorted(missing)}")
        return claims

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    # --- HTTP -------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        if request.path.startswith("/.well-known/"):
            name = "OAuth2Discovery"
        elif request.path == "/authorize":
            name = "OAuth2Authorize"
        elif request.path == "/token":
            name = "OAuth2Token"
        else:
            return Response.json({"error": "not_found"}, 404)
        self._counters.increment(name)
        fault = self._faults.apply(name)
        if fault is not None:
            status = 429 if fault == "ThrottlingException" else 500
            return Response.json({"error": "temporarily_unavailable", "error_description": fault},
                                 status)
        try:
            if name == "OAuth2Discovery":
                if request.path not in ("/.well-known/openid-configuration",
                                        "/.well-known/oauth-authorization-server"):
                    return Response.json({"error": "not_found"}, 404)
                return Response.json(self.metadata())
            if name == "OAuth2Authorize":
                self._record("/authorize", list(request.query.items()))
                return self._authorize(request.query)
            if request.method != "POST":
                raise _OAuthError("invalid_request", "use POST", 405)
            return Response.json(self._token(request), 200, **{"Cache-Control": "no-store"})
        except _OAuthError as exc:
            headers = {"WWW-Authenticate": "Basic"} if exc.status == 401 else {}
            return Response.json({"error": exc.error, "error_description": exc.description},
                                 exc.status, **headers)

    def _authorize(self, query: dict[str, str]) -> Response:
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        with self._lock:
            known = client_id in self._clients
        if not known or not redirect_uri or query.get("response_type") != "code":
            raise _OAuthError("invalid_request",
                              "unknown client_id, missing redirect_uri or response_type != code")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "client_id": client_id, "redirect_uri": redirect_uri,
                "scopes": query.get("scope", "").split(), "sub": query.get("login_hint") or "user",
                "expires": time.time() + 300,
            }
        params = {"code": code}
        if "state" in query:
            params["state"] = query["state"]
        separator = "&" if "?" in redirect_uri else "?"
        return Response.redirect(redirect_uri + separator + urllib.parse.urlencode(params))

    def _client(self, request: Request, form: dict[str, str]) -> str:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
            except ValueError:
                raise _OAuthError("invalid_client", "malformed Basic credentials", 401) from None
            client_id, _, client_secret = decoded.partition(":")
            client_id = urllib.parse.unquote_plus(client_id)
            client_secret = urllib.parse.unquote_plus(client_secret)
        else:
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        with self._lock:
            expected = self._clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected[0].encode(),
                                                       client_secret.encode()):
            raise _OAuthError("invalid_client", "client authentication failed", 401)
        return client_id

    def _token(self, request: Request) -> dict[str, Any]:
        items = request.form_items()
        self._record("/token", items)
        form = dict(items)
        client_id = self._client(request, form)
        grant = form.get("grant_type")
        scopes = form.get("scope", "").split()
        audiences = [v for k, v in items if k == "audience"]
        resources = [v for k, v in items if k == "resource"]
        targets = audiences or resources
        audience = (targets[0] if len(targets) == 1 else targets) or None
        if grant == "client_credentials":
            return self.issue(sub=client_id, client_id=client_id, scopes=scopes, audience=audience)
        if grant == "refresh_token":
            with self._lock:
                previous = self._refresh.pop(form.get("refresh_token", ""), None)
            if previous is None or previous["client_id"] != client_id:
                raise _OAuthError("invalid_grant", "refresh token unknown, revoked or not this "
                                                   "client's")
            return self._issue_with_refresh(previous, audience, scopes or previous["scopes"],
                                            client_id)
        if grant == "authorization_code":
            with self._lock:
                code = self._codes.pop(form.get("code", ""), None)
            if (code is None or code["client_id"] != client_id or code["expires"] < time.time()
                    or code["redirect_uri"] != form.get("redirect_uri")):
                raise _OAuthError("invalid_grant", "unknown, expired or mismatched code")
            return self._issue_with_refresh({"sub": code["sub"]}, audience,
                                            scopes or code["scopes"], client_id)
        if grant in (TOKEN_EXCHANGE, JWT_BEARER):
            field = "subject_token" if grant == TOKEN_EXCHANGE else "assertion"
            try:
                subject = self.verify_user_token(form.get(field, ""))
            except InvalidTokenError as exc:
                raise _OAuthError("invalid_grant", f"{field} rejected: {exc}") from None
            return self.issue(sub=str(subject["sub"]), client_id=client_id, scopes=scopes,
                              audience=audience, act={"sub": client_id})
        raise _OAuthError("unsupported_grant_type", "grant_type is not supported")
