"""LocalRedisCluster: a throw-away three-node Redis Cluster on loopback.

Three ``redis-server --cluster-enabled yes`` primaries on free 127.0.0.1 ports
(their cluster bus ports free too), slots split in three (``CLUSTER ADDSLOTSRANGE``)
and joined with ``CLUSTER MEET``. Nothing is persisted but each node's cluster
configuration (in a temporary directory), so :meth:`kill` then :meth:`start`
brings the same cluster back, empty, as a restart of every node does.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from typing import Any

from ._redis import _free_port, redis_server_binary

__all__ = ["LocalRedisCluster"]

_SLOTS = 16384


class LocalRedisCluster:
    """A Redis Cluster of ``nodes`` primaries on 127.0.0.1; use as a context manager.

    The same interface as :class:`~agentcore_auth.testing.LocalRedis` (``url``,
    ``start``, ``kill``, ``stop``, ``client``), with ``cluster = True``: give
    ``RedisSharedCache(store.url, cluster=store.cluster)``.

    Args:
        nodes: how many primaries (at least 3, as ``redis-cli --cluster create`` asks).
        binary: the server binary (default: ``redis-server``, else ``valkey-server``).
    """

    #: True: connect with ``redis.RedisCluster`` (``RedisSharedCache(..., cluster=True)``).
    cluster = True

    def __init__(self, nodes: int = 3, binary: str | None = None) -> None:
        found = binary or redis_server_binary()
        if found is None:
            raise RuntimeError(
                "no redis-server or valkey-server on PATH: apt-get install redis-server "
                "(Debian / Ubuntu) or valkey"
            )
        if nodes < 3:
            raise ValueError("a Redis Cluster needs at least 3 primaries")
        self.binary = found
        self.ports = [_free_port() for _ in range(nodes)]
        self.bus_ports = [_free_port() for _ in range(nodes)]
        self._dir: str | None = None
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self._formed = False

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<first node's port>/0``: any node bootstraps a cluster client."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def urls(self) -> list[str]:
        """Every node's URL."""
        return [f"redis://127.0.0.1:{port}/0" for port in self.ports]

    @property
    def running(self) -> bool:
        """True while every node's process is alive."""
        return all(p is not None and p.poll() is None for p in self._processes)

    def start(self, timeout: float = 20.0) -> LocalRedisCluster:
        """Start every node (again), form the cluster once, wait until it serves every slot."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="agentcore-auth-cluster-")
        for index, port in enumerate(self.ports):
            process = self._processes[index]
            if process is not None and process.poll() is None:
                continue
            args = [self.binary, "--port", str(port), "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes", "--cluster-port", str(self.bus_ports[index]),
                    "--cluster-config-file", f"nodes-{port}.conf", "--dir", self._dir,
                    "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no",
                    "--protected-mode", "yes", "--loglevel", "warning",
                    "--enable-debug-command", "local"]
            self._processes[index] = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        for port in self.ports:
            self._until(deadline, lambda p=port: self._node(p).ping())
        if not self._formed:
            self._form()
            self._formed = True
        for port in self.ports:
            self._until(deadline, lambda p=port: self._ok(p))
        return self

    def kill(self) -> None:
        """End every node at once (SIGKILL): every connection drops, all data is lost."""
        for index, process in enumerate(self._processes):
            if process is not None:
                process.kill()
                process.wait()
                self._processes[index] = None

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 5 s) and remove their files."""
        for index, process in enumerate(self._processes):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                self._processes[index] = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._formed = False

    def client(self, **options: Any) -> Any:
        """A ``redis.RedisCluster`` client of this cluster (redis-py, the ``redis`` extra)."""
        import redis

        return redis.RedisCluster.from_url(self.url, **options)

    def slot_owner(self, key: str) -> int:
        """The port of the node that serves ``key``'s slot."""
        node = self._node(self.ports[0])
        slot = int(node.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, primary, *_ in node.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise LookupError(f"no node serves slot {slot}")

    def __enter__(self) -> LocalRedisCluster:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------------------------

    def _form(self) -> None:
        count = len(self.ports)
        bounds = [round(i * _SLOTS / count) for i in range(count + 1)]
        for index, port in enumerate(self.ports):
            self._node(port).execute_command(
                "CLUSTER", "ADDSLOTSRANGE", bounds[index], bounds[index + 1] - 1
            )
        first = self._node(self.ports[0])
        for index, port in enumerate(self.ports[1:], start=1):
            first.execute_command("CLUSTER", "MEET", "127.0.0.1", port, self.bus_ports[index])

    def _ok(self, port: int) -> bool:
        """Serving every slot, and every peer linked and not suspected of failure."""
        node = self._node(port)
        info = node.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        if "cluster_state:ok" not in text or f"cluster_known_nodes:{len(self.ports)}" not in text:
            return False
        nodes = node.execute_command("CLUSTER", "NODES")
        lines = (nodes.decode() if isinstance(nodes, bytes) else str(nodes)).splitlines()
        return all(
            "fail" not in line.split()[2] and line.split()[7] == "connected" for line in lines
        )

    def _node(self, port: int) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0,
                           socket_connect_timeout=0.5)

    def _until(self, deadline: float, check: Any) -> None:
        while True:
            for process in self._processes:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{self.binary} exited at start ({process.returncode})")
            try:
                ready = bool(check())
            except Exception:  # noqa: BLE001 - not up yet (refused, loading, no slots yet)
                ready = False
            if ready:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local Redis Cluster did not come up in time")
            time.sleep(0.05)
