"""LocalElastiCacheIAM: a loopback front for a local store that logs in as ElastiCache IAM does.

Each client connection must first ``AUTH <user> <token>`` (or ``HELLO <v> AUTH
<user> <token>``); the token is checked as ElastiCache checks it: a SigV4
presigned ``GET`` of ``<cache name>/?Action=connect&User=<user>`` for service
``elasticache`` in the Region, signed with known test credentials (the
signature recomputed here from the SigV4 specification, independently of
botocore), at most 15 minutes old by the front's own clock. Then the connection
is piped to the store. Counts of accepted and refused logins, with the reasons.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping

__all__ = ["LocalElastiCacheIAM"]

_MAX_EXPIRES = 900
_SKEW = 300  # a token dated up to 5 minutes ahead of the server's clock is accepted


class LocalElastiCacheIAM:
    """Listen on 127.0.0.1; require an ElastiCache IAM token; forward to ``upstream_port``.

    Args:
        upstream_port: the local store (a LocalRedis / LocalValkey) behind the front.
        cache_name: the replication group id the tokens must name.
        user_id: the one IAM-enabled user.
        credentials: access key id -> secret access key, the identities allowed.
        region: the Region tokens must be scoped to.
        clock: epoch seconds (default ``time.time``): move it to expire tokens.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        cache_name: str,
        user_id: str,
        credentials: Mapping[str, str],
        region: str = "us-east-1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.upstream_port = upstream_port
        self.cache_name = cache_name
        self.user_id = user_id
        self.region = region
        self._credentials = dict(credentials)
        self._clock = clock
        self.accepted = 0
        self.refused: list[str] = []  # the reason of each refused login
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True,
                                        name="local-elasticache-iam")

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0`` (no password: the token is the password)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalElastiCacheIAM:
        """Start accepting connections."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting (open connections end with their clients)."""
        self._stop.set()
        self._server.close()

    def __enter__(self) -> LocalElastiCacheIAM:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def verify(self, user: str, token: str) -> str | None:
        """Why ``token`` is refused for ``user``, or None when ElastiCache would accept it."""
        host, _, rest = token.partition("/")
        path, _, query = rest.partition("?")
        if host != self.cache_name or path != "":
            return "not a token for this cache"
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        if params.get("Action") != "connect" or params.get("User") != user != "":
            return "not a connect token for this user"
        if user != self.user_id:
            return "unknown user"
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            return "not SigV4"
        scope = params.get("X-Amz-Credential", "").split("/")
        if len(scope) != 5 or scope[2:] != [self.region, "elasticache", "aws4_request"]:
            return "wrong credential scope"
        secret = self._credentials.get(scope[0])
        if secret is None:
            return "unknown access key"
        try:
            signed_at = calendar.timegm(time.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
            expires = int(params["X-Amz-Expires"])
        except (KeyError, ValueError):
            return "no date or expiry"
        if not 0 < expires <= _MAX_EXPIRES:
            return "expiry over 15 minutes"
        now = self._clock()
        if now >= signed_at + expires:
            return "expired"
        if signed_at > now + _SKEW or params["X-Amz-Date"][:8] != scope[1]:
            return "dated in the future"
        if params.get("X-Amz-SignedHeaders") != "host":
            return "signed headers are not host"
        expected = _signature(secret, host, params, scope)
        if not hmac.compare_digest(expected, params.get("X-Amz-Signature", "")):
            return "signature mismatch"
        return None

    # --- internals -------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                command, buffer = _read_command(client, buffer)
                if command is None:
                    return
                verb = command[0].upper() if command else b""
                login: tuple[bytes, bytes] | None = None
                forward = b""
                if verb == b"AUTH" and len(command) == 3:
                    login = (command[1], command[2])
                elif verb == b"HELLO" and b"AUTH" in (c.upper() for c in command):
                    at = [c.upper() for c in command].index(b"AUTH")
                    login = (command[at + 1], command[at + 2])
                    forward = _encode([command[0], command[1]])
                if login is None:
                    client.sendall(b"-NOAUTH Authentication required.\r\n")
                    continue
                reason = self.verify(login[0].decode(errors="replace"),
                                     login[1].decode(errors="replace"))
                if reason is not None:
                    self.refused.append(reason)
                    client.sendall(b"-WRONGPASS invalid username-password pair or user is "
                                   b"disabled.\r\n")
                    continue
                self.accepted += 1
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
                if forward:
                    upstream.sendall(forward)
                else:
                    client.sendall(b"+OK\r\n")
                if buffer:
                    upstream.sendall(buffer)
                _pipe(client, upstream)
                return
        except OSError:
            pass
        finally:
            client.close()


def _signature(secret: str, host: str, params: Mapping[str, str], scope: list[str]) -> str:
    """The SigV4 signature of a presigned GET (the AWS specification, step by step)."""
    def quote(text: str) -> str:
        return urllib.parse.quote(text, safe="-_.~")

    query = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(params.items())
                     if k != "X-Amz-Signature")
    canonical = "\n".join(["GET", "/", query, f"host:{host}", "", "host",
                           hashlib.sha256(b"").hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], "/".join(scope[1:]),
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _read_command(sock: socket.socket, buffer: bytes) -> tuple[list[bytes] | None, bytes]:
    """One RESP array of bulk strings from ``sock`` (what redis-py sends)."""
    while True:
        parsed = _parse(buffer)
        if parsed is not None:
            return parsed
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        buffer += chunk


def _parse(buffer: bytes) -> tuple[list[bytes], bytes] | None:
    if not buffer.startswith(b"*") or b"\r\n" not in buffer:
        return None
    head, rest = buffer.split(b"\r\n", 1)
    items: list[bytes] = []
    for _ in range(int(head[1:])):
        if b"\r\n" not in rest:
            return None
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line[1:])
        if len(rest) < size + 2:
            return None
        items.append(rest[:size])
        rest = rest[size + 2:]
    return items, rest


def _encode(parts: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=copy, args=(b, a), daemon=True)
    other.start()
    copy(a, b)
    other.join()
    b.close()
