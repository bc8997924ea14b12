"""Stampede: N concurrent callers on a cold credential, threads and asyncio tasks.

Each round makes a new resolver (a cold cache) over the shared source (its
workload token already fetched), releases N callers at once (threads gate on a
``threading.Barrier``; tasks start together under ``asyncio.gather``) and counts
``GetResourceApiKey`` calls at the emulator: the target is exactly one per
round. Latency is per caller, from the release (the barrier's action; the
gather) to its value. The official decorator
runs the same rounds; it calls the service once per caller. Its sync wrapper
runs ``asyncio.run`` per call and its async wrapper blocks the loop during the
boto3 call (tasks run one after another), so it runs only up to
``OFFICIAL_MAX`` callers per mode; larger N are reported as skipped rows.
N <= 100 runs 3 rounds (full mode), N = 1,000 one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from ._harness import Row, optional_import, set_target, skipped_row, summary
from ._wiring import Bench, Provider

SCENARIO = "stampede"
OFFICIAL_MAX = {"threads": 100, "tasks": 1000}
_HOW = {"threads": "one asyncio.run each", "tasks": "run one by one (boto3 blocks the loop)"}


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """One row per (mode, N, implementation)."""
    sizes = (1, 10, 100) if quick else (1, 10, 100, 1000)
    rounds = 1 if quick else 3
    official_max = {"threads": 10, "tasks": 10} if quick else OFFICIAL_MAX
    bench.resolver().get_api_key(bench.provider("warm").name)  # the source's workload token
    _, missing = optional_import("bedrock_agentcore.identity.auth")
    rows: list[Row] = []
    for mode in ("threads", "tasks"):
        for n in sizes:
            ours: dict[str, list[float]] = {"lat": [], "calls": []}
            official: dict[str, list[float]] = {"lat": [], "calls": []}
            run_official = missing is None and n <= official_max[mode]
            for _ in range(rounds if n <= 100 else 1):  # ours, then the official SDK
                provider = bench.provider("stampede")
                _measure(bench, provider, mode, n, ours, official=False)
                if run_official:
                    _measure(bench, provider, mode, n, official, official=True)
            row = _row(f"ours, {mode}, N={n}", ours, n, target=True)
            if run_official:
                base = summary(official["lat"])
                row.update(
                    baseline="official requires_api_key",
                    baseline_median_s=base[0],
                    baseline_p99_s=base[1],
                    ratio=round(base[0] / row["median_s"], 2),
                )
            rows.append(row)
            if run_official:
                rows.append(_row(f"official requires_api_key, {mode}, N={n}", official, n))
            elif missing:
                rows.append(skipped_row(SCENARIO, f"official, {mode}, N={n}", missing))
            else:
                rows.append(
                    skipped_row(
                        SCENARIO,
                        f"official requires_api_key, {mode}, N={n}",
                        f"capped at N<={official_max[mode]} for {mode}: one service call per "
                        f"caller, {_HOW[mode]}",
                    )
                )
    return rows


def _row(case: str, figures: dict[str, list[float]], n: int, target: bool = False) -> Row:
    median, p99 = summary(figures["lat"])
    calls = [int(c) for c in figures["calls"]]
    row: Row = {
        "scenario": SCENARIO,
        "case": case,
        "callers": n,
        "median_s": median,
        "p99_s": p99,
        "max_s": max(figures["lat"]),
        "upstream_calls_per_round": calls,
        "note": f"GetResourceApiKey per round: {', '.join(map(str, calls))}",
    }
    if target:
        set_target(row, "1 upstream call", all(c == 1 for c in calls))
    return row


def _measure(
    bench: Bench,
    provider: Provider,
    mode: str,
    n: int,
    into: dict[str, list[float]],
    *,
    official: bool,
) -> None:
    before = provider.lookups()
    if official:
        call = _official_call(bench, provider.name, asynchronous=mode == "tasks")
        resolver = None
    else:
        resolver = bench.resolver()
        call = resolver.aget_api_key if mode == "tasks" else resolver.get_api_key
    if mode == "threads":
        latencies = _threads(call, provider.name, n, bench.official_token if official else None)
    else:
        latencies = asyncio.run(_tasks(call, provider.name, n))
    into["lat"] += latencies
    into["calls"].append(provider.lookups() - before)
    if resolver is not None:
        resolver.close()


def _official_call(bench: Bench, provider: str, asynchronous: bool) -> Callable[..., Any]:
    bench.official_token()
    if asynchronous:

        async def atool(name: str, *, api_key: str = "") -> str:
            return api_key

        return bench.official_api_key(provider, atool)

    def tool(name: str, *, api_key: str = "") -> str:
        return api_key

    return bench.official_api_key(provider, tool)


def _threads(
    call: Callable[[str], Any], name: str, n: int, prepare: Callable[[], None] | None
) -> list[float]:
    """Latency of each caller from the barrier's release (not its own wake-up, which
    for most of 1,000 threads comes after the fetch is over)."""
    released: list[float] = []
    barrier = threading.Barrier(n, action=lambda: released.append(time.perf_counter()))
    latencies: list[float] = []
    errors: list[BaseException] = []

    def caller() -> None:
        if prepare is not None:
            prepare()
        barrier.wait()
        try:
            call(name)
        except Exception as exc:  # noqa: BLE001 - reported below, never swallowed
            errors.append(exc)
        latencies.append(time.perf_counter() - released[0])

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} callers failed: {errors[0]!r}")
    return latencies


async def _tasks(call: Callable[[str], Any], name: str, n: int) -> list[float]:
    async def caller(start: float) -> float:
        await call(name)
        return time.perf_counter() - start

    start = time.perf_counter()
    return list(await asyncio.gather(*(caller(start) for _ in range(n))))
