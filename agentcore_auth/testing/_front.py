"""AwsFront: one loopback URL for every AWS service the emulator offers.

moto serves most AWS services, but not every operation the project needs (STS
``GetWebIdentityToken``, IAM's outbound web identity federation), and it does
nothing when a secret changes (Secrets Manager's EventBridge events). The front
sits before moto: each request is routed by the service its SigV4 credential
scope names and by its operation (``X-Amz-Target`` for JSON protocols, the
``Action`` form field for query protocols).

Three extension points, one pattern for every service the emulator grows:

- :meth:`AwsFront.route` serves one operation of a service here instead of moto;
- :meth:`AwsFront.route_service` serves a whole service moto does not have;
- :meth:`AwsFront.observe` runs a callback after moto answered an operation
  successfully (an event on a secret write, a counter).

Everything else is forwarded to moto unchanged, headers and body included.
"""

from __future__ import annotations

import http.client
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from ._server import HttpServer, Request, Response

__all__ = ["AwsFront", "AwsRequest", "Observer", "OperationHandler"]

logger = logging.getLogger("agentcore_auth.testing")

_SCOPE = re.compile(r"Credential=([^/,\s]*)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                         "proxy-connection", "te", "trailer", "upgrade"})


@dataclass(frozen=True, slots=True)
class AwsRequest:
    """A request to the front, with what routing read off it.

    Attributes:
        http: the HTTP request.
        service: the signing name of its credential scope (``sts``, ``iam``,
            ``secretsmanager``, ``credentialbroker``...), or ``""`` when unsigned.
        region: the Region of its credential scope (the emulator's default when unsigned).
        operation: ``X-Amz-Target``'s operation or the ``Action`` form field, or ``""``
            (rest protocols: route on the path).
        access_key_id: the signer's access key id, or ``""``.
        account_id: the account the caller acts as (moto's ``x-moto-account-id``).
    """

    http: Request
    service: str
    region: str
    operation: str
    access_key_id: str
    account_id: str

    def params(self) -> dict[str, str]:
        """A query-protocol request's parameters (form body and query string)."""
        return {**self.http.query, **self.http.form()}


OperationHandler = Callable[[AwsRequest], Response]
Observer = Callable[[AwsRequest, int, bytes], None]


def _operation(request: Request) -> str:
    target = request.headers.get("x-amz-target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if request.method == "POST" and "x-www-form-urlencoded" in request.headers.get(
            "content-type", ""):
        return request.form().get("Action", "")
    return request.query.get("Action", "")


class AwsFront:
    """The front of moto (starts when constructed).

    Args:
        moto_url: moto's own URL, where unrouted requests go.
        default_region: the Region of unsigned requests.
        default_account: the account of requests without moto's account header.
    """

    def __init__(self, moto_url: str, default_region: str, default_account: str) -> None:
        parts = urllib.parse.urlsplit(moto_url)
        self._moto_host = parts.hostname or "127.0.0.1"
        self._moto_port = parts.port or 80
        self._region = default_region
        self._account = default_account
        self._lock = threading.Lock()
        self._operations: dict[tuple[str, str], OperationHandler] = {}
        self._services: dict[str, OperationHandler] = {}
        self._observers: dict[tuple[str, str], list[Observer]] = {}
        self._local = threading.local()
        self._server = HttpServer(self._dispatch, "aws-front")
        self.url = self._server.url

    def route(self, service: str, operation: str, handler: OperationHandler) -> None:
        """Serve ``operation`` of ``service`` (signing name) with ``handler`` instead of moto."""
        with self._lock:
            self._operations[(service, operation)] = handler

    def route_service(self, service: str, handler: OperationHandler) -> None:
        """Serve every request signed for ``service`` with ``handler`` (moto never sees it)."""
        with self._lock:
            self._services[service] = handler

    def observe(self, service: str, operation: str, observer: Observer) -> None:
        """Call ``observer(request, status, body)`` after moto answered ``operation`` with 2xx.

        Observers run on the request's thread before the answer goes back, so what
        they do is visible to the caller's next request; an observer's exception is
        logged and does not change the answer.
        """
        with self._lock:
            self._observers.setdefault((service, operation), []).append(observer)

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    # --- serving --------------------------------------------------------------------------

    def _describe(self, request: Request) -> AwsRequest:
        match = _SCOPE.search(request.headers.get("authorization", ""))
        key, region, service = match.groups() if match else ("", self._region, "")
        account = request.headers.get("x-moto-account-id", self._account)
        return AwsRequest(request, service, region, _operation(request), key, account)

    def _dispatch(self, request: Request) -> Response:
        aws = self._describe(request)
        with self._lock:
            handler = (self._operations.get((aws.service, aws.operation))
                       or self._services.get(aws.service))
            observers = list(self._observers.get((aws.service, aws.operation), ()))
        if handler is not None:
            return handler(aws)
        response = self._forward(request)
        if observers and 200 <= response.status < 300:
            for observer in observers:
                try:
                    observer(aws, response.status, response.body)
                except Exception:
                    logger.exception("aws-front: observer of %s.%s failed", aws.service,
                                     aws.operation)
        return response

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._moto_host, self._moto_port, timeout=60)
            self._local.connection = connection
        return connection

    def _forward(self, request: Request) -> Response:
        target = request.path
        if request.query_items:
            target += "?" + urllib.parse.urlencode(request.query_items)
        headers = {name: value for name, value in request.headers.items()
                   if name not in _HOP_BY_HOP}
        headers["content-length"] = str(len(request.body))
        for attempt in (1, 2):  # a kept-alive connection moto closed: reconnect once
            connection = self._connection()
            try:
                connection.request(request.method, target, body=request.body, headers=headers)
                answer = connection.getresponse()
                body = answer.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
                continue
            kept = {name: value for name, value in answer.getheaders()
                    if name.lower() not in _HOP_BY_HOP}
            return Response(answer.status, body, kept)
        raise AssertionError("unreachable")  # pragma: no cover
