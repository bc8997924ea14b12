"""Small loopback HTTP servers on daemon threads, plus moto's server for AWS services.

Each server is a stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive,
bound to 127.0.0.1 on a free port, that hands every request to one function.
Request lines are logged at DEBUG without their query strings (which can carry
OAuth2 codes); the stdlib's stderr lines are silenced.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HttpServer", "MotoServer", "Request", "Response"]

logger = logging.getLogger("agentcore_auth.testing")


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as the handlers see it (header names lower-cased)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    query_items: tuple[tuple[str, str], ...] = ()  # every pair, repeated names included

    def json(self) -> Any:
        """The body parsed as JSON (an empty body is ``{}``)."""
        return json.loads(self.body) if self.body.strip() else {}

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (last value wins)."""
        return dict(self.form_items())

    def form_items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair of a form body, repeated names included, in order."""
        return urllib.parse.parse_qsl(self.body.decode("utf-8", "replace"))


@dataclass(slots=True)
class Response:
    """What a handler returns."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: object, status: int = 200, **headers: str) -> Response:
        """A JSON response."""
        headers = {"Content-Type": "application/json", **headers}
        return cls(status, json.dumps(value).encode(), headers)

    @classmethod
    def redirect(cls, location: str) -> Response:
        """A 302 redirect."""
        return cls(302, b"", {"Location": location})


Handler = Callable[[Request], Response]


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm and
        # delayed ACKs add ~40 ms to every keep-alive response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        pairs = tuple(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        request = Request(
            self.command,
            parts.path,
            dict(pairs),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            pairs,
        )
        try:
            response = self.server.handler(request)
        except Exception:
            logger.exception("%s: unexpected error serving %s %s", self.server.label,
                             self.command, parts.path)
            response = Response.json({"message": "internal error in the local emulator"}, 500,
                                     **{"x-amzn-ErrorType": "InternalServerException"})
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.debug("%s: %s", self.server.label, format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        logger.debug("%s: %s %s -> %s", self.server.label, self.command, path, code)


def _quiet_disconnects(server: Any) -> None:
    """Make ``server`` log a client's dropped connection at DEBUG instead of a traceback.

    socketserver prints a traceback to stderr for every connection a client resets
    (boto3 retrying, httpx closing a pooled socket): normal events, pages of noise
    under load. Any other error is still reported as before.
    """
    original = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("client %s dropped its connection", client_address)
            return
        original(request, client_address)

    server.handle_error = handle_error


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default 5 drops SYNs when hundreds of clients connect at once

    def __init__(self, handler: Handler, label: str) -> None:
        self.handler = handler
        self.label = label
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        _quiet_disconnects(self)


class HttpServer:
    """One loopback HTTP server on a daemon thread.

    Args:
        handler: called for every request, on the server's request threads.
        label: a name for log lines.
    """

    def __init__(self, handler: Handler, label: str) -> None:
        self._server = _Server(handler, label)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"agentcore-{label}", daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _isolate_moto() -> None:
    """Give moto boto sessions that ignore the user's AWS set-up.

    moto makes ``boto3.Session()`` / ``botocore.session.Session()`` from the process
    environment to list Regions and services (getmoto/moto#5469): with ``AWS_PROFILE``
    naming a profile that is not in the config file (an SSO profile, another
    machine's), every request to moto's server would fail with ProfileNotFound.
    Both hooks are replaced with isolated sessions, which list the same Regions and
    services from botocore's bundled data.
    """
    from moto.core import base_backend, utils

    from ._isolation import isolated_session

    if getattr(utils, "_agentcore_isolated", False):
        return
    session = isolated_session()
    setattr(base_backend.AccountSpecificBackend, "get_session",  # noqa: B010
            classmethod(lambda cls: session))
    setattr(utils, "Session", lambda: session._session)  # noqa: B010
    setattr(utils, "_agentcore_isolated", True)  # noqa: B010


class MotoServer:
    """moto's ``ThreadedMotoServer`` on 127.0.0.1, port 0, with quiet request logging."""

    def __init__(self) -> None:
        _isolate_moto()
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from moto.server import ThreadedMotoServer

        class QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                logger.debug("moto: %s %s -> %s", self.command, self.path.split("?")[0], code)

        class QuietServer(ThreadedMotoServer):
            def _server_entry(self) -> None:
                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    create_backend_app,
                )
                from werkzeug.serving import make_server

                app = DomainDispatcherApplication(create_backend_app)
                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=QuietHandler)
                _quiet_disconnects(self._server)
                self._server_ready_event.set()
                self._server.serve_forever(poll_interval=0.05)

        self._server = QuietServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def reset(self) -> None:
        """Wipe moto's process-wide state (every account and Region)."""
        import urllib.request

        # http:// on loopback, built from our own server's address
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def stop(self) -> None:
        """Stop moto's server."""
        self._server.stop()
