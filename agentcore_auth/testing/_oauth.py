"""A real OAuth2 authorization server on loopback, for M2M, 3-legged and token exchange.

Endpoints: ``/.well-known/openid-configuration`` and
``/.well-known/oauth-authorization-server`` (discovery), ``/authorize`` (approves at
once and redirects with a code; ``login_hint`` becomes the token's ``sub``) and
``/token`` (``client_credentials``, ``authorization_code`` and RFC 8693
``token-exchange``; ``client_secret_basic`` or ``client_secret_post``). Access
tokens are HS256 JWTs carrying the client's secret *generation*: registering a
client again rotates its secret and makes every token issued before invalid.
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

__all__ = ["TOKEN_EXCHANGE", "OAuthServer"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
_USERS_AUDIENCE = "local-users"


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
            "grant_types_supported": ["authorization_code", "client_credentials", TOKEN_EXCHANGE],
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
        form = request.form()
        client_id = self._client(request, form)
        grant = form.get("grant_type")
        scopes = form.get("scope", "").split()
        audience = form.get("audience") or form.get("resource") or None
        if grant == "client_credentials":
            return self.issue(sub=client_id, client_id=client_id, scopes=scopes, audience=audience)
        if grant == "authorization_code":
            with self._lock:
                code = self._codes.pop(form.get("code", ""), None)
            if (code is None or code["client_id"] != client_id or code["expires"] < time.time()
                    or code["redirect_uri"] != form.get("redirect_uri")):
                raise _OAuthError("invalid_grant", "unknown, expired or mismatched code")
            return self.issue(sub=code["sub"], client_id=client_id,
                              scopes=scopes or code["scopes"], audience=audience)
        if grant == TOKEN_EXCHANGE:
            try:
                subject = self.verify_user_token(form.get("subject_token", ""))
            except InvalidTokenError as exc:
                raise _OAuthError("invalid_grant", f"subject_token rejected: {exc}") from None
            return self.issue(sub=str(subject["sub"]), client_id=client_id, scopes=scopes,
                              audience=audience, act={"sub": client_id})
        raise _OAuthError("unsupported_grant_type", "grant_type is not supported")
