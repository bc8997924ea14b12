"""Fleet tier cost per call: a local miss and a hit, with the tier healthy, slow or down.

One process, one emulator, one redis-server. A "miss" clears the resolver's own
cache (``clear()``, which the tier is not told about) and resolves again:

- no tier (baseline): the miss is an upstream ``GetResourceApiKey`` call;
- tier, healthy: the miss is answered by the store (another "process" filled it);
- tier, slow store: every store answer is held 200 ms by a loopback proxy; the
  miss budget marks the store down after the first miss, then misses go upstream;
- tier, store down: the URL points at a closed port; misses go upstream.

The hit path (a cached credential) is measured with and without the tier.
Every case is interleaved round by round with its baseline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ._harness import Row, batch, interleave, time_row
from ._wiring import Bench

SCENARIO = "fleet_tier"
SLOW_S = 0.2


class SlowProxy:
    """A TCP proxy on loopback holding every server->client chunk ``delay`` seconds."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target, self.delay = target, delay
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, upstream, 0.0), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.delay),
                             daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, delay: float) -> None:
        try:
            while data := src.recv(65536):
                if delay:
                    time.sleep(delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._server.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """One row per case: medians of per-call times, against the same call without the tier."""
    import os

    from agentcore_auth.fleet import RedisSharedCache
    from agentcore_auth.testing import LocalRedis

    rounds = 5 if quick else 40
    hit_n = 200 if quick else 2000
    key = os.urandom(32)
    rows: list[Row] = []
    with LocalRedis() as server:
        host, port = server.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        proxy = SlowProxy((host, int(port)), SLOW_S)
        shared: dict[str, Any] = {
            "healthy": RedisSharedCache(server.url, data_key=key, prefix="b:"),
            "filler": RedisSharedCache(server.url, data_key=key, prefix="b:"),
            "slow": RedisSharedCache(f"redis://127.0.0.1:{proxy.port}/0", data_key=key,
                                     prefix="b:", op_timeout=1.0, retry_interval=60.0),
            "down": RedisSharedCache(f"redis://127.0.0.1:{_closed_port()}/0", data_key=key,
                                     prefix="b:", retry_interval=60.0),
        }
        try:
            provider = bench.provider("fleet-tier")
            name = provider.name
            plain = bench.resolver()
            resolvers = {m: bench.resolver(shared_cache=shared[m])
                         for m in ("healthy", "filler", "slow", "down")}
            resolvers["filler"].get_api_key(name)  # the store holds it

            def miss(resolver: Any) -> Callable[[], float]:
                def sample() -> float:
                    resolver.clear()
                    start = time.perf_counter()
                    resolver.get_api_key(name)
                    return time.perf_counter() - start
                return sample

            samplers = {"none": miss(plain)} | {m: miss(resolvers[m])
                                                for m in ("healthy", "slow", "down")}
            before = bench.env.call_count("GetResourceApiKey")
            results = interleave(samplers, rounds)
            calls = bench.env.call_count("GetResourceApiKey") - before
            for mode, label in (("healthy", "healthy store"), ("slow", "slow store (200 ms)"),
                                ("down", "store down")):
                stats = shared[mode].stats
                rows.append(time_row(
                    SCENARIO, f"local miss, tier: {label}", results[mode], results["none"],
                    "no tier (upstream call)", shared_hits=stats.shared_hits,
                    fallbacks=stats.fallbacks, over_budget=stats.over_budget,
                    outages=stats.outages,
                ))
            rows[-1]["upstream_calls_all_cases"] = calls
            for resolver in (plain, resolvers["healthy"]):
                resolver.get_api_key(name)
            hits = interleave({"none": batch(plain.get_api_key, (name,), hit_n),
                               "tier": batch(resolvers["healthy"].get_api_key, (name,), hit_n)},
                              rounds)
            rows.append(time_row(SCENARIO, "hit, tier: healthy store", hits["tier"],
                                 hits["none"], "no tier"))
            for resolver in (plain, *resolvers.values()):
                resolver.close()
        finally:
            for cache in shared.values():
                cache.close()
            proxy.close()
    return rows
