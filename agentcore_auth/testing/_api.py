"""A protected downstream API: accepts only the current credential, 401 otherwise.

Two kinds of route: an API-key route compares a header with the current value of a
secret's JSON key (read anew per request), and a bearer route accepts access tokens
from the local OAuth2 server that are unexpired and were issued with the client's
current secret. ``?echo=1`` puts the received credential in the body (to test
redaction downstream); ``?status=NNN`` answers NNN instead of 200 once authorized.
Hits are counted as ``ProtectedApi``; faults injected under that name apply.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._jwt import InvalidTokenError
from ._oauth import OAuthServer
from ._server import HttpServer, Request, Response
from ._state import Counters, Faults

__all__ = ["ProtectedApi"]


@dataclass(frozen=True, slots=True)
class _KeyRoute:
    secret_id: str
    json_key: str
    header: str


@dataclass(frozen=True, slots=True)
class _BearerRoute:
    audience: str | None
    scopes: tuple[str, ...]


class ProtectedApi:
    """The protected API server (starts serving when constructed).

    Args:
        counters: call counters (``ProtectedApi``).
        faults: injected faults (``ProtectedApi``).
        read_secret: returns the current value under a JSON key of a secret, or ``None``.
        oauth: the local OAuth2 server, which validates bearer tokens.
    """

    def __init__(self, counters: Counters, faults: Faults,
                 read_secret: Callable[[str, str], str | None], oauth: OAuthServer) -> None:
        self._counters = counters
        self._faults = faults
        self._read_secret = read_secret
        self._oauth = oauth
        self._lock = threading.Lock()
        self._routes: dict[str, _KeyRoute | _BearerRoute] = {}
        self._server = HttpServer(self._handle, "protected-api")
        self.url = self._server.url

    def add_key_route(self, secret_id: str, json_key: str, header: str = "x-api-key") -> str:
        """A URL that accepts the current value of ``secret_id``'s ``json_key`` in ``header``."""
        return self._add(_KeyRoute(secret_id, json_key, header.lower()))

    def add_bearer_route(self, audience: str | None = None,
                         scopes: list[str] | None = None) -> str:
        """A URL that accepts ``Authorization: Bearer`` tokens of the local OAuth2 server."""
        return self._add(_BearerRoute(audience, tuple(scopes or ())))

    def _add(self, route: _KeyRoute | _BearerRoute) -> str:
        route_id = secrets.token_hex(6)
        with self._lock:
            self._routes[route_id] = route
        return f"{self.url}/api/{route_id}"

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def _handle(self, request: Request) -> Response:
        parts = request.path.split("/")
        if len(parts) < 3 or parts[1] != "api":
            return Response.json({"ok": False, "error": "not_found"}, 404)
        with self._lock:
            route = self._routes.get(parts[2])
        if route is None:
            return Response.json({"ok": False, "error": "not_found"}, 404)
        self._counters.increment("ProtectedApi")
        fault = self._faults.apply("ProtectedApi")
        if fault is not None:
            status = 429 if fault == "ThrottlingException" else 500
            return Response.json({"ok": False, "error": fault}, status)
        body: dict[str, object] = {"ok": True, "method": request.method, "path": request.path}
        if isinstance(route, _KeyRoute):
            given = request.headers.get(route.header)
            current = self._read_secret(route.secret_id, route.json_key)
            if (given is None or current is None
                    or not hmac.compare_digest(given.encode(), current.encode())):
                return Response.json({"ok": False, "error": "unauthorized"}, 401)
        else:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not given:
                return self._bearer_denied("missing bearer token")
            try:
                claims = self._oauth.validate(given.strip(), audience=route.audience,
                                              scopes=list(route.scopes))
            except InvalidTokenError as exc:
                return self._bearer_denied(str(exc))
            body.update(sub=claims.get("sub"), scope=claims.get("scope"))
        if request.query.get("echo") == "1":
            body["credential"] = given
        wanted = request.query.get("status", "200")
        return Response.json(body, int(wanted) if wanted.isdigit() else 200)

    @staticmethod
    def _bearer_denied(reason: str) -> Response:
        return Response.json({"ok": False, "error": "unauthorized", "reason": reason}, 401,
                             **{"WWW-Authenticate": 'Bearer error="invalid_token"'})
