"""``resolve --wait``: a loopback listener that completes a USER_FEDERATION consent.

After consenting, AgentCore Identity sends the user's browser to the workload's return
URL with ``?session_id=<session URI>``; whoever serves that URL must call
``CompleteResourceTokenAuth`` as the user who started the session. The CLI has no web
application, so, as cloud CLIs do for their logins (RFC 8252, loopback redirect), it
listens on a loopback return URL itself, completes the session it started (and no
other) for its user, and tells the browser it may close the tab.
"""

from __future__ import annotations

import html
import http.server
import ipaddress
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from ._cli_env import DEFAULT_LISTEN_URL
from ._exceptions import ConfigurationError

__all__ = ["DEFAULT_LISTEN_URL", "ConsentListener", "is_loopback_url", "registered_loopback_url"]

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is ``http://`` on a loopback host with an explicit port."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or port is None:
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def registered_loopback_url(control: Any, workload: str) -> str | None:
    """The first loopback return URL registered on ``workload``, if any (None if unknown)."""
    try:
        described = control.get_workload_identity(name=workload)
    except Exception:  # no permission, or no such workload: the resolve says which
        return None
    for url in described.get("allowedResourceOauth2ReturnUrls") or []:
        if is_loopback_url(str(url)):
            return str(url)
    return None


_PAGE = ("<!doctype html><meta charset=utf-8><title>agentcore-auth</title>"
         "<body style='font-family:sans-serif;margin:3em'><h1>{title}</h1><p>{text}</p>")


class ConsentListener:
    """An HTTP server on a loopback return URL that completes one expected session.

    ``complete(session_uri)`` makes the ``CompleteResourceTokenAuth`` call; it runs at
    most once, when a request to the return URL's path carries the expected
    ``session_id``. Everything else gets a 4xx page and changes nothing.
    """

    def __init__(self, return_url: str, complete: Callable[[str], None]) -> None:
        if not is_loopback_url(return_url):
            raise ConfigurationError(
                f"--return-url {return_url!r} is not a loopback URL the CLI can listen on: "
                "use http://localhost:PORT/PATH (or 127.0.0.1), registered on the workload")
        parts = urllib.parse.urlsplit(return_url)
        self.return_url = return_url
        self._path = parts.path or "/"
        self._complete = complete
        self._expected: str | None = None
        self._lock = threading.Lock()
        self.completed = threading.Event()
        self.error: str | None = None
        host = parts.hostname or "localhost"
        bind = "127.0.0.1" if host == "localhost" else host
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                status, title, text = listener._answer(self.path)
                body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # the query holds the session URI: never logged

        try:
            self._server = http.server.ThreadingHTTPServer((bind, parts.port or 80), Handler)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot listen on {return_url} ({exc.strerror or exc}): free the port, or "
                "pass --return-url with another registered loopback URL") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="agentcore-auth-consent-listener", daemon=True)

    def expect(self, session_uri: str) -> None:
        """Complete only this session (the one the CLI started)."""
        with self._lock:
            self._expected = session_uri

    def __enter__(self) -> ConsentListener:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, target: str) -> tuple[int, str, str]:
        parts = urllib.parse.urlsplit(target)
        if parts.path != self._path:
            return 404, "Not found", "This is the agentcore-auth consent listener."
        session = dict(urllib.parse.parse_qsl(parts.query)).get("session_id", "")
        with self._lock:
            if not session or session != self._expected:
                return 400, "Unknown consent session", (
                    "This address completes only the consent the agentcore-auth command "
                    "started; start it again.")
            if self.completed.is_set():
                return 200, "Consent completed", "You can close this tab."
            try:
                self._complete(session)
            except Exception as exc:
                from ._redact import redact

                self.error = redact(str(exc).strip().splitlines()[0] if str(exc).strip()
                                    else type(exc).__name__)
                return 502, "Consent not completed", self.error
            self.completed.set()
        return 200, "Consent completed", (
            "agentcore-auth has the token for this user. You can close this tab.")
