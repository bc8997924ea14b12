"""The AgentCore Identity HTTP service: both planes behind one loopback server.

Requests are routed by botocore's models (``_wire``), counted, subjected to
injected faults, validated, and handed to the control or data plane; errors go
back in AWS's rest-json shape (``x-amzn-ErrorType`` header, ``{"message": ...}``).
"""

from __future__ import annotations

import logging
from typing import Any

from ._control import ControlPlane
from ._data import DataPlane
from ._oauth import OAuthServer
from ._secrets import SecretAccess
from ._server import HttpServer, Request, Response
from ._state import Counters, Faults, Store
from ._wire import ServiceError, WireModel, encode_json

__all__ = ["IdentityService"]

logger = logging.getLogger("agentcore_auth.testing")


def _error(exc: ServiceError) -> Response:
    return Response(exc.status, encode_json(exc.body()),
                    {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})


class IdentityService:
    """Serves ``bedrock-agentcore`` and ``bedrock-agentcore-control`` (starts when constructed)."""

    def __init__(self, store: Store, access: SecretAccess, oauth: OAuthServer,
                 counters: Counters, faults: Faults, workload_token_lifetime: int) -> None:
        self._counters = counters
        self._faults = faults
        self._wire = WireModel()
        self._wire.compile_patterns()  # here, not in a request thread (re warnings)
        self._handlers: dict[str, Any] = {}
        self._server = HttpServer(self._dispatch, "agentcore-identity")
        self.url = self._server.url
        self._data = DataPlane(store, access, oauth, self.url, workload_token_lifetime)
        control = ControlPlane(store, access, oauth, self.url)
        self._handlers.update(control.handlers(), **self._data.handlers())

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def _dispatch(self, request: Request) -> Response:
        if request.path.startswith("/identities/oauth2/callback") and request.method == "GET":
            self._counters.increment("OAuth2Callback")
            return self._data.callback(request)
        operation = self._wire.route(request.method, request.path)
        if operation is None or operation.name not in self._handlers:
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
            result = self._handlers[operation.name](self._wire.validate(operation, body))
        except ServiceError as exc:
            logger.debug("%s -> %s: %s", operation.name, exc.code, exc.message)
            return _error(exc)
        if operation.status == 204:
            return Response(204)
        return Response(operation.status, encode_json(result), {"Content-Type": "application/json"})
