"""The AgentCore Identity HTTP service: both planes behind one loopback server.

Requests are routed by botocore's models (``_wire``), counted, subjected to
injected faults, validated, and handed to the control or data plane; errors go
back in AWS's rest-json shape (``x-amzn-ErrorType`` header, ``{"message": ...}``).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from ._control import ControlPlane
from ._data import DataPlane
from ._oauth import OAuthServer
from ._secrets import SecretAccess
from ._server import HttpServer, Request, Response
from ._state import Counters, Faults, Settings, Store
from ._trust import TrustedIssuers
from ._wire import ServiceError, WireModel, encode_json

__all__ = ["IdentityService", "Regions", "region_of"]

logger = logging.getLogger("agentcore_auth.testing")

_SCOPE = re.compile(r"Credential=([^/,\s]*)/\d{8}/([a-z0-9-]+)/")


def _error(exc: ServiceError) -> Response:
    return Response(exc.status, encode_json(exc.body()),
                    {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})


class Regions:
    """The per-Region state: a :class:`Store` and a :class:`SecretAccess` for each Region.

    Resources belong to the Region they were created in, as in the service: a client
    of another Region sees none of them. Regions are created on first use.
    """

    def __init__(self, aws_url: str, account_id: str, default_region: str) -> None:
        self.aws_url = aws_url
        self.account_id = account_id
        self.default_region = default_region
        self._lock = threading.Lock()
        self._state: dict[str, tuple[Store, SecretAccess]] = {}
        self.store(default_region)

    def _get(self, region: str) -> tuple[Store, SecretAccess]:
        with self._lock:
            if region not in self._state:
                session = (self._state[self.default_region][1].boto_session()
                           if self._state else None)
                self._state[region] = (Store(), SecretAccess(self.aws_url, region,
                                                             self.account_id, session))
            return self._state[region]

    def store(self, region: str) -> Store:
        """The Region's store."""
        return self._get(region)[0]

    def access(self, region: str) -> SecretAccess:
        """The Region's view of Secrets Manager and KMS."""
        return self._get(region)[1]

    def names(self) -> list[str]:
        """The Regions used so far."""
        with self._lock:
            return list(self._state)


def region_of(request: Request, default: str) -> str:
    """The Region a SigV4-signed request was signed for (its credential scope)."""
    match = _SCOPE.search(request.headers.get("authorization", ""))
    return match.group(2) if match else default


class IdentityService:
    """Serves ``bedrock-agentcore`` and ``bedrock-agentcore-control`` (starts when constructed).

    Each request is served by the control and data planes of the Region it was signed
    for, so resources of one Region are invisible to clients of another.
    """

    def __init__(self, regions: Regions, oauth: OAuthServer, counters: Counters,
                 faults: Faults, workload_token_lifetime: int, trust: TrustedIssuers,
                 settings: Settings) -> None:
        self._regions = regions
        self._trust = trust
        self._settings = settings
        self._oauth = oauth
        self._counters = counters
        self._faults = faults
        self._lifetime = workload_token_lifetime
        self._wire = WireModel()
        self._wire.compile_patterns()  # here, not in a request thread (re warnings)
        self._lock = threading.Lock()
        self._planes: dict[str, tuple[dict[str, Any], DataPlane]] = {}
        self._signers: set[str] = set()
        self._server = HttpServer(self._dispatch, "agentcore-identity")
        self.url = self._server.url

    def plane(self, region: str) -> tuple[dict[str, Any], DataPlane]:
        """(operation handlers, data plane) of one Region, created on first use."""
        with self._lock:
            if region not in self._planes:
                store, access = self._regions.store(region), self._regions.access(region)
                data = DataPlane(store, access, self._oauth, self.url, self._lifetime,
                                 self._trust, self._settings)
                control = ControlPlane(store, access, self._oauth, self.url)
                self._planes[region] = ({**control.handlers(), **data.handlers()}, data)
            return self._planes[region]

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def signers(self) -> set[str]:
        """Access key ids seen in requests' SigV4 credential scopes.

        A request that also carried a session token shows as ``<id>+session-token``.
        """
        with self._lock:
            return set(self._signers)

    def _note_signer(self, request: Request) -> None:
        match = _SCOPE.search(request.headers.get("authorization", ""))
        if match:
            token = "+session-token" if "x-amz-security-token" in request.headers else ""
            with self._lock:
                self._signers.add(match.group(1) + token)

    def _session_region(self, request: Request) -> str | None:
        """The Region holding the consent session a browser request refers to."""
        state, uri = request.query.get("state", ""), request.query.get("request_uri", "")
        for region in self._regions.names():
            store = self._regions.store(region)
            with store.lock:
                if state in store.sessions_by_state or uri in store.sessions:
                    return region
        return None

    def _browser(self, request: Request, kind: str) -> Response:
        self._counters.increment(kind)
        region = self._session_region(request)
        if region is None:
            return Response(400, b"This authorization link has expired or is unknown: ask the "
                                 b"application to start the sign-in again.\n",
                            {"Content-Type": "text/plain"})
        data = self.plane(region)[1]
        return data.callback(request) if kind == "OAuth2Callback" else data.authorize(request)

    def _dispatch(self, request: Request) -> Response:
        if request.method == "GET" and request.path.startswith("/identities/oauth2/callback"):
            return self._browser(request, "OAuth2Callback")
        if request.method == "GET" and request.path == "/identities/oauth2/authorize":
            return self._browser(request, "IdentityAuthorize")
        self._note_signer(request)
        operation, labels = self._wire.match(request.method, request.path)
        handlers, _ = self.plane(region_of(request, self._regions.default_region))
        if operation is None or operation.name not in handlers:
            return _error(ServiceError("UnknownOperationException",
                                       f"{request.method} {request.path} is not emulated"))
        self._counters.increment(operation.name)
        fault = self._faults.apply(operation.name)
        if fault is not None:
            return _error(ServiceError(fault, f"injected {fault} for {operation.name}"))
        try:
            try:
                body = request.json()
            except ValueError:
                raise ServiceError("ValidationException",
                                   "request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ServiceError("ValidationException", "request body must be a JSON object")
            body = self._wire.request_body(operation, body, labels, request.query_items)
            result = handlers[operation.name](self._wire.validate(operation, body))
        except ServiceError as exc:
            logger.debug("%s -> %s: %s", operation.name, exc.code, exc.message)
            return _error(exc)
        if operation.status == 204:
            return Response(204)
        return Response(operation.status, encode_json(result), {"Content-Type": "application/json"})
