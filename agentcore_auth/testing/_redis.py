"""LocalRedis: a throw-away ``redis-server`` (or ``valkey-server``) on a free loopback port.

For tests and benchmarks of fleet mode. Nothing is persisted (``--save ''
--appendonly no``). :meth:`kill` ends it abruptly (SIGKILL) and :meth:`start`
brings it back on the same port, to test an outage.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

__all__ = ["LocalRedis", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The path of ``redis-server`` or ``valkey-server``, if one is installed."""
    return shutil.which("redis-server") or shutil.which("valkey-server")


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
