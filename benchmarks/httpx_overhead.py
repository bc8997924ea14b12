"""httpx overhead: requests per second with ``AgentCoreAuth`` against a static header.

Both sides send GETs over one keep-alive connection to the same static-200
server, running in its own process (``_static_server.py``), so the only
difference is the auth flow: a resolver cache hit, the generator exchange, and
reading the (empty) request body so it could be replayed. The baseline is a
client with the same key set as a default header. Sync ``httpx.Client`` and
``httpx.AsyncClient`` (sequential awaits in one loop), alternating small batches
(10 requests) hundreds of times, since on a shared machine a loopback request's
time drifts by 2x within seconds. Target: ours within 3% of the baseline (goal 2%).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from ._harness import (
    Row,
    abatch,
    ainterleave,
    batch,
    frozen_heap,
    interleave,
    run_async,
    set_target,
    summary,
)
from ._wiring import Bench

SCENARIO = "httpx_overhead"


@contextmanager
def static_server() -> Iterator[str]:
    """The URL of a static-200 server in a child process (stopped on exit)."""
    script = Path(__file__).with_name("_static_server.py")
    process = subprocess.Popen(  # noqa: S603 - our own script, with our own interpreter
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/static"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """Sync and async rows: requests/s of ours and the static header."""
    from agentcore_auth.httpx import AgentCoreAuth

    n, rounds = (5, 30) if quick else (10, 500)
    provider = bench.provider("httpx")
    resolver = bench.resolver()
    key = resolver.get_api_key(provider.name).reveal()
    auth = AgentCoreAuth.api_key(provider.name, header="x-api-key", resolver=resolver)
    rows = []
    with static_server() as url, frozen_heap():
        with httpx.Client(auth=auth) as ours, httpx.Client(headers={"x-api-key": key}) as base:
            results = interleave(
                {"ours": batch(ours.get, (url,), n), "base": batch(base.get, (url,), n)}, rounds
            )
        rows.append(_row("httpx.Client (sync, keep-alive)", results, n))

        async def measure() -> dict[str, list[float]]:
            async with (
                httpx.AsyncClient(auth=auth) as ours,
                httpx.AsyncClient(headers={"x-api-key": key}) as base,
            ):
                return await ainterleave(
                    {"ours": abatch(ours.get, (url,), n), "base": abatch(base.get, (url,), n)},
                    rounds,
                )

        rows.append(_row("httpx.AsyncClient (sequential awaits)", run_async(measure()), n))
    resolver.close()
    return rows


def _row(case: str, results: dict[str, list[float]], n: int) -> Row:
    ours, base = summary(results["ours"]), summary(results["base"])
    overhead = [o - b for o, b in zip(results["ours"], results["base"], strict=True)]
    row: Row = {
        "scenario": SCENARIO,
        "case": f"{case}: AgentCoreAuth vs static header",
        "value": round(1 / ours[0]),
        "unit": "req/s",
        "p99": round(1 / ours[1]),
        "median_s": ours[0],
        "p99_s": ours[1],
        "baseline": "static x-api-key header",
        "baseline_value": round(1 / base[0]),
        "baseline_median_s": base[0],
        "baseline_p99_s": base[1],
        "ratio": round(base[0] / ours[0], 3),
        "auth_overhead_s": summary(overhead)[0],
        "note": f"auth flow adds {summary(overhead)[0] * 1e6:.1f} us/request (median of paired "
        f"rounds); {n} requests per sample; p99 column: req/s at p99 latency",
    }
    return set_target(row, "within 3% of baseline", row["ratio"] >= 0.97)
