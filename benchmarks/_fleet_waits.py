"""The fleet_faults row "async waits": waiting for another process's fetch holds no worker.

Another process holds N credentials' fleet locks (its source fetches wait for a
``release``, renewing the leases); here N async callers wait for those fills on a
resolver with N workers, then an unrelated credential is resolved: how long it
took, against the same tier seen through ``fetch`` only (whose waits hold the N
workers; the holder releases after 1 s).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._harness import Row

if TYPE_CHECKING:
    from .fleet_faults import Run

__all__ = ["async_waits"]


def async_waits(self: Run) -> Row:
    """The row: the unrelated credential's latency with N waits pending, both ways."""
    from ._harness import run_async

    holder = self.n - 1
    taken: dict[str, tuple[float, int]] = {}
    calls_here = 0
    for mode in ("steps", "fetch only"):
        self.setup([holder], gated=True, warm=False)
        held = [self.bench.provider("ff-held").name for _ in range(self.n)]
        free = self.bench.provider("ff-free").name
        assert self.fleet.all("hold", [holder], providers=held)[0]["holding"] == self.n
        taken[mode], fetched = run_async(_waits(self, mode, held, free, holder))
        calls_here += fetched
    ours, control = taken["steps"], taken["fetch only"]
    row = self.row(
        f"async waits on {self.n} held locks (max_workers={self.n})", calls_here,
        "the unrelated call is not queued behind the waits",
        ours[1] == self.n and ours[0] < 0.5, processes=2, rotations=0, refetches=0,
        failures=0,
        note=(f"unrelated credential served in {ours[0] * 1e3:.0f} ms with {ours[1]} of "
              f"{self.n} waits pending; through fetch only: {control[0] * 1e3:.0f} ms "
              f"({control[1]} pending: queued until the holder released at 1 s)"))
    row["median_s"], row["baseline_median_s"] = ours[0], control[0]
    row["baseline"] = "the same tier through fetch only"
    row["ratio"] = round(control[0] / ours[0], 1) if ours[0] else None
    return row

async def _waits(self: Run, mode: str, held: list[str], free: str, holder: int,
                 ) -> tuple[tuple[float, int], int]:
    import asyncio

    from agentcore_auth.fleet import RedisSharedCache

    from .fleet_faults import KEY, PREFIX  # the workers' fleet key and prefix

    shared = RedisSharedCache(self.server.url, data_key=KEY, prefix=PREFIX)
    tier: Any = shared if mode == "steps" else _FetchOnly(shared)
    resolver = self.bench.resolver(shared_cache=tier, max_workers=self.n)
    loop = asyncio.get_running_loop()
    try:
        waits = [asyncio.ensure_future(resolver.aget_api_key(p)) for p in held]
        for _ in range(6000):  # every caller waits for the holder (30 s at most)
            if shared.stats.lock_waits >= self.n:
                break
            await asyncio.sleep(0.005)

        async def release_later() -> None:
            await asyncio.sleep(1.0)
            await loop.run_in_executor(None, self.fleet.all, "release", [holder])

        release = asyncio.ensure_future(release_later())
        start = time.perf_counter()
        await resolver.aget_api_key(free)
        took = time.perf_counter() - start
        pending = sum(not w.done() for w in waits)
        await asyncio.gather(*waits, release)
        return (took, pending), shared.stats.source_fetches
    finally:
        resolver.close()
        shared.close()



class _FetchOnly:
    """A shared tier seen through the seam's minimum (``fetch``): the control."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def attach(self, cache: Any, *, ttl: float, expiry_skew: float, source: Any = None) -> Any:
        # source= passed on: its names are bound like the holder's (else it shares no lock)
        inner = self.inner.attach(cache, ttl=ttl, expiry_skew=expiry_skew, source=source)

        class Attachment:
            fetch = inner.fetch
            invalidated = inner.invalidated
            invalidated_provider = inner.invalidated_provider
            detach = inner.detach

        return Attachment()
