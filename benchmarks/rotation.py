"""Rotation under load: M callers hit a protected API while its secret rotates every period.

The protected API (``env.protected_api``) accepts only the secret's current value.
A rotator thread calls ``env.rotate_secret`` every ``period`` seconds while M
callers loop: through a tool decorated with ``agentcore_auth.requires_api_key``
(threads, and tasks), and through ``httpx`` with ``AgentCoreAuth`` (a shared
``Client`` from threads, an ``AsyncClient`` from tasks). The official decorator
runs the same load from threads as the baseline: it asks the service on every
call, and does nothing about a 401.

Reported per variant: caller-visible failures (target 0; transport errors such as a
connection reset by the emulator's stdlib servers are counted apart), latency of all calls
and of those that met a 401 (p50/max), and upstream refetches per rotation
(target 1 per resolver), from ``resolver.stats`` and the emulator's
``GetResourceApiKey`` count.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._harness import Row, optional_import, percentile, set_target, skipped_row
from ._wiring import Bench, Provider

SCENARIO = "rotation"
TIMEOUT = httpx.Timeout(60.0)
#: The emulator's stdlib servers have a listen backlog of 5: share a few connections.
LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)
THREADS, TASKS = 8, 32

Outcome = tuple[float, bool, bool, bool]  # latency, met a 401, succeeded, transport error


@dataclass
class Tally:
    """What the callers saw."""

    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome, error: str | None = None) -> None:
        """Record one call (and the first few errors' reprs)."""
        with self.lock:
            self.outcomes.append(outcome)
            if error is not None and len(self.errors) < 3:
                self.errors.append(error)


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """One row per variant."""
    duration, period = (1.1, 0.5) if quick else (5.5, 1.0)
    # Threads: as many as the shared client's connections (a sync httpx pool with more
    # threads than connections showed transport errors against the stdlib server).
    threads, tasks = (4, 4) if quick else (THREADS, TASKS)
    variants: list[tuple[str, Callable[..., Any], int]] = [
        ("decorator, threads", _decorator_threads, threads),
        ("decorator, tasks", _decorator_tasks, tasks),
        ("httpx Client + AgentCoreAuth, threads", _httpx_threads, threads),
        ("httpx AsyncClient + AgentCoreAuth, tasks", _httpx_tasks, tasks),
    ]
    rows = []
    for name, variant, callers in variants:
        rows.append(_run_variant(bench, name, variant, duration, period, callers))
    _, missing = optional_import("bedrock_agentcore.identity.auth")
    if missing:
        rows.append(skipped_row(SCENARIO, "official requires_api_key, threads", missing))
    else:
        rows.append(
            _run_variant(
                bench,
                "official requires_api_key, threads (baseline)",
                _official_threads,
                duration,
                period,
                threads,
                official=True,
            )
        )
    return rows


def _run_variant(
    bench: Bench,
    name: str,
    variant: Callable[..., Any],
    duration: float,
    period: float,
    callers: int,
    official: bool = False,
) -> Row:
    provider = bench.provider("rotate")
    resolver = bench.resolver()
    stop = threading.Event()
    tally = Tally()
    rotations = [0]

    def rotator() -> None:
        deadline = time.monotonic() + duration
        while not stop.wait(min(period, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                break
            provider.rotate()
            rotations[0] += 1
        stop.set()

    with httpx.Client(timeout=TIMEOUT, limits=LIMITS) as warm:  # the first fetch, not timed
        warm.get(provider.url, headers={"x-api-key": resolver.get_api_key(provider.name).reveal()})
    before_stats, before_calls = resolver.stats, provider.lookups()
    thread = threading.Thread(target=rotator, daemon=True)
    thread.start()
    variant(bench, provider, resolver, callers, stop, tally)
    thread.join()
    upstream = resolver.stats.upstream_calls - before_stats.upstream_calls
    emulator = provider.lookups() - before_calls
    resolver.close()
    return _row(name, tally, rotations[0], upstream, emulator, callers, official)


def _row(
    name: str,
    tally: Tally,
    rotations: int,
    upstream: int,
    emulator: int,
    callers: int,
    official: bool,
) -> Row:
    latencies = [o[0] for o in tally.outcomes]
    met = [o[0] for o in tally.outcomes if o[1]]
    failures = sum(1 for o in tally.outcomes if not o[2] and not o[3])
    transport = sum(1 for o in tally.outcomes if o[3])
    per_rotation = (emulator if official else upstream) / rotations if rotations else None
    row: Row = {
        "scenario": SCENARIO,
        "case": f"{name}, M={callers}",
        "callers": callers,
        "median_s": percentile(latencies, 0.5) if latencies else None,
        "p99_s": percentile(latencies, 0.99) if latencies else None,
        "calls": len(latencies),
        "failures": failures,
        "transport_errors": transport,
        "rotations": rotations,
        "met_401": len(met),
        "met_401_p50_s": percentile(met, 0.5) if met else None,
        "met_401_max_s": max(met) if met else None,
        "resolver_upstream_calls": None if official else upstream,
        "emulator_get_resource_api_key": emulator,
        "refetches_per_rotation": round(per_rotation, 2) if per_rotation is not None else None,
        "errors": tally.errors,
    }
    met_text = (
        f"met 401: {len(met)} (p50 {_ms(row['met_401_p50_s'])}, max {_ms(row['met_401_max_s'])})"
        if met
        else "met 401: 0"
    )
    row["note"] = (
        f"{len(latencies)} calls, {failures} failed"
        + (f" (+{transport} transport errors, not auth)" if transport else "")
        + f", {rotations} rotations, "
        f"{met_text}, upstream/rotation {row['refetches_per_rotation']}"
    )
    if not official:
        set_target(
            row,
            "0 failures, 1 refetch/rotation",
            failures == 0 and upstream == rotations and emulator == rotations,
        )
    return row


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.1f} ms"


def _threads(
    callers: int,
    stop: threading.Event,
    tally: Tally,
    call: Callable[[], tuple[bool, bool]],
    prepare: Callable[[], None] | None = None,
) -> None:
    def loop() -> None:
        if prepare is not None:
            prepare()
        while not stop.is_set():
            start = time.perf_counter()
            try:
                met, ok = call()
                tally.add((time.perf_counter() - start, met, ok, False))
            except Exception as exc:  # noqa: BLE001 - a caller-visible failure, counted
                transport = isinstance(exc, httpx.TransportError)
                tally.add((time.perf_counter() - start, False, False, transport), repr(exc)[:200])

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def _tasks(
    callers: int,
    stop: threading.Event,
    tally: Tally,
    call: Callable[[], Awaitable[tuple[bool, bool]]],
) -> None:
    async def loop() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            try:
                met, ok = await call()
                tally.add((time.perf_counter() - start, met, ok, False))
            except Exception as exc:  # noqa: BLE001 - a caller-visible failure, counted
                transport = isinstance(exc, httpx.TransportError)
                tally.add((time.perf_counter() - start, False, False, transport), repr(exc)[:200])

    await asyncio.gather(*(loop() for _ in range(callers)))


def _decorator_threads(
    bench: Bench,
    provider: Provider,
    resolver: Any,
    callers: int,
    stop: threading.Event,
    tally: Tally,
) -> None:
    from agentcore_auth import requires_api_key

    with httpx.Client(timeout=TIMEOUT, limits=LIMITS) as client:

        @requires_api_key(provider_name=provider.name, resolver=resolver)
        def tool(attempts: list[int], *, api_key: str) -> int:
            attempts.append(1)
            return (
                client.get(provider.url, headers={"x-api-key": api_key})
                .raise_for_status()
                .status_code
            )

        def call() -> tuple[bool, bool]:
            attempts: list[int] = []
            tool(attempts)
            return len(attempts) > 1, True

        _threads(callers, stop, tally, call)


def _decorator_tasks(
    bench: Bench,
    provider: Provider,
    resolver: Any,
    callers: int,
    stop: threading.Event,
    tally: Tally,
) -> None:
    from agentcore_auth import requires_api_key

    async def main() -> None:
        async with httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS) as client:

            @requires_api_key(provider_name=provider.name, resolver=resolver)
            async def tool(attempts: list[int], *, api_key: str) -> int:
                attempts.append(1)
                response = await client.get(provider.url, headers={"x-api-key": api_key})
                return response.raise_for_status().status_code

            async def call() -> tuple[bool, bool]:
                attempts: list[int] = []
                await tool(attempts)
                return len(attempts) > 1, True

            await _tasks(callers, stop, tally, call)

    asyncio.run(main())


def _met_401(response: httpx.Response) -> tuple[bool, bool]:
    return any(r.status_code == 401 for r in response.history), response.status_code == 200


def _httpx_threads(
    bench: Bench,
    provider: Provider,
    resolver: Any,
    callers: int,
    stop: threading.Event,
    tally: Tally,
) -> None:
    from agentcore_auth.httpx import AgentCoreAuth

    auth = AgentCoreAuth.api_key(provider.name, header="x-api-key", resolver=resolver)
    with httpx.Client(auth=auth, timeout=TIMEOUT, limits=LIMITS) as client:
        _threads(callers, stop, tally, lambda: _met_401(client.get(provider.url)))


def _httpx_tasks(
    bench: Bench,
    provider: Provider,
    resolver: Any,
    callers: int,
    stop: threading.Event,
    tally: Tally,
) -> None:
    from agentcore_auth.httpx import AgentCoreAuth

    auth = AgentCoreAuth.api_key(provider.name, header="x-api-key", resolver=resolver)

    async def main() -> None:
        async with httpx.AsyncClient(auth=auth, timeout=TIMEOUT, limits=LIMITS) as client:

            async def call() -> tuple[bool, bool]:
                return _met_401(await client.get(provider.url))

            await _tasks(callers, stop, tally, call)

    asyncio.run(main())


def _official_threads(
    bench: Bench,
    provider: Provider,
    resolver: Any,
    callers: int,
    stop: threading.Event,
    tally: Tally,
) -> None:
    with httpx.Client(timeout=TIMEOUT, limits=LIMITS) as client:

        def tool(*, api_key: str = "") -> int:
            return client.get(provider.url, headers={"x-api-key": api_key}).status_code

        official = bench.official_api_key(provider.name, tool)

        def call() -> tuple[bool, bool]:
            status = official()
            return status == 401, status == 200

        _threads(callers, stop, tally, call, bench.official_token)
