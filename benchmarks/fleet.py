"""Fleet: N agent processes against one emulator, with and without the shared tier.

N = 2, 4, 8 worker processes (``agentcore_auth.testing._fleet``), each a resolver
over ``AgentCoreIdentitySource``; "shared" adds a ``RedisSharedCache`` on a local
``redis-server`` (same data key in every process), "local" is today's per-process
cache, which is the baseline. Counted by the emulator, side by side:

- **cold stampede**: every process resolves a new credential at once: upstream
  ``GetResourceApiKey`` calls (target 1 for the fleet; local: N).
- **per TTL**: every process calls a protected API in a loop for several TTLs
  (``ttl`` = 0.5 s): upstream calls per TTL window (target 1; local: N). A refresh
  cycle lasts a TTL plus one fetch, so both figures come out a little under.
- **rotation**: the same loop with a long TTL while the secret rotates every
  second: refetches per rotation (target 1; local: N) and downstream 401s per
  rotation (target: at most the requests in flight, here one per process; local:
  at least N).
- **hit path**: in this process, ``get_api_key`` on a hit with and without a shared
  tier attached, interleaved (target ratio 1: the local tier answers first).

Process start-up (imports) is outside every figure: the workers are started once.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ._harness import Row, batch, frozen_heap, interleave, set_target, skipped_row, summary
from ._wiring import Bench

SCENARIO = "fleet"


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """One row per (measure, N): shared tier against per-process caches."""
    from agentcore_auth.testing import LocalRedis
    from agentcore_auth.testing._fleet import Fleet
    from agentcore_auth.testing._redis import redis_server_binary

    if redis_server_binary() is None:
        reason = "no redis-server on PATH (apt-get install redis-server)"
        return [skipped_row(SCENARIO, "all", reason)]
    sizes = (2,) if quick else (2, 4, 8)
    seconds, period = (1.2, 0.5) if quick else (3.0, 1.0)
    rows: list[Row] = []
    with LocalRedis() as server, Fleet(max(sizes), bench.env.env_vars()) as fleet:
        rows.append(_hit_path(bench, server.url, quick))
        for n in sizes:
            figures: dict[str, dict[str, float]] = {}
            for mode in ("shared", "local"):
                figures[mode] = _measure(bench, fleet, n, mode, server.url, seconds, period)
            rows += _rows(n, figures)
    return rows


def _setup(fleet: Any, bench: Bench, n: int, mode: str, url: str, ttl: float) -> None:
    """New resolvers in the first ``n`` workers, warmed up (boto3 client, workload token)."""
    fleet.all(
        "setup",
        list(range(n)),
        workload=bench.workload,
        redis_url=url if mode == "shared" else None,
        data_key=KEY.hex(),
        ttl=ttl,
    )
    # One provider each: with the tier, a shared one would warm only the process that fetched.
    warm = [bench.provider("fleet-warm").name for _ in range(n)]
    for index in range(n):
        fleet.send(index, "get", provider=warm[index])
    for index in range(n):
        fleet.reply(index)


KEY = os.urandom(32)


def _measure(
    bench: Bench, fleet: Any, n: int, mode: str, url: str, seconds: float, period: float
) -> dict[str, float]:
    env = bench.env
    indexes = list(range(n))
    out: dict[str, float] = {}
    # Cold stampede: a new credential, every process at once.
    _setup(fleet, bench, n, mode, url, ttl=60.0)
    provider = bench.provider("fleet")
    before = env.call_count("GetResourceApiKey")
    answers = fleet.all("get", indexes, provider=provider.name)
    out["stampede_calls"] = env.call_count("GetResourceApiKey") - before
    out["stampede_median_s"] = summary([a["seconds"] for a in answers])[0]
    # Upstream calls per TTL, steady load.
    ttl = 0.5
    _setup(fleet, bench, n, mode, url, ttl=ttl)
    provider = bench.provider("fleet-ttl")
    before = env.call_count("GetResourceApiKey")
    fleet.all("call", indexes, provider=provider.name, url=provider.url, seconds=seconds,
              pause=0.01)
    # Per TTL window of the loop; a refresh takes a TTL plus one fetch, so 1 reads as < 1.
    out["calls_per_ttl"] = (env.call_count("GetResourceApiKey") - before) / (seconds / ttl)
    # Rotation under load, long TTL: only 401s make anyone refetch.
    _setup(fleet, bench, n, mode, url, ttl=60.0)
    provider = bench.provider("fleet-rotate")
    fleet.all("get", indexes, provider=provider.name)
    before = env.call_count("GetResourceApiKey")
    stop = threading.Event()
    rotations = [0]

    def rotate() -> None:
        while not stop.wait(period):
            provider.rotate()
            rotations[0] += 1

    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    answers = fleet.all("call", indexes, provider=provider.name, url=provider.url,
                        seconds=seconds + 0.3, pause=0.01)
    stop.set()
    rotator.join()
    time.sleep(0.1)
    done = max(1, rotations[0])
    out["rotations"] = rotations[0]
    out["refetches_per_rotation"] = (env.call_count("GetResourceApiKey") - before) / done
    out["met_401_per_rotation"] = sum(a["met_401"] for a in answers) / done
    out["failures"] = sum(a["failures"] for a in answers)
    out["requests"] = sum(a["calls"] for a in answers)
    return out


def _rows(n: int, figures: dict[str, dict[str, float]]) -> list[Row]:
    shared, local = figures["shared"], figures["local"]
    rows: list[Row] = []
    for measure, unit, target, goal in (
        ("stampede_calls", "upstream calls", "1 for the fleet", lambda v: v == 1),
        ("calls_per_ttl", "upstream calls / TTL", "~1 for the fleet", lambda v: v <= 1.5),
        ("refetches_per_rotation", "refetches / rotation", "1 for the fleet",
         lambda v: v <= 1.0),
        ("met_401_per_rotation", "401s / rotation", f"<= in flight ({n})", lambda v: v <= n),
    ):
        ours, base = round(shared[measure], 2), round(local[measure], 2)
        row: Row = {
            "scenario": SCENARIO,
            "case": f"{measure.replace('_', ' ')}, N={n}",
            "value": ours,
            "unit": unit,
            "baseline": "per-process caches (no shared tier)",
            "baseline_value": base,
            "ratio": round(base / ours, 2) if ours else None,
        }
        if measure == "stampede_calls":
            row["note"] = (
                f"median wait {shared['stampede_median_s'] * 1e3:.1f} ms "
                f"(local {local['stampede_median_s'] * 1e3:.1f} ms)"
            )
        if measure == "met_401_per_rotation":
            row["note"] = (
                f"{int(shared['rotations'])} rotations, {int(shared['requests'])} requests, "
                f"{int(shared['failures'])} failed (local: {int(local['failures'])} failed)"
            )
        rows.append(set_target(row, target, goal(ours)))
    return rows


def _hit_path(bench: Bench, url: str, quick: bool) -> Row:
    """A hit with a shared tier attached costs what a hit without one costs."""
    from agentcore_auth.fleet import RedisSharedCache

    n, rounds = (100, 10) if quick else (1000, 200)
    provider = bench.provider("fleet-hit")
    plain = bench.resolver()
    shared = RedisSharedCache(url, data_key=KEY, prefix="bench-hit:")
    with_tier = bench.resolver(shared_cache=shared)
    try:
        plain.get_api_key(provider.name)
        with_tier.get_api_key(provider.name)
        with frozen_heap():
            results = interleave(
                {
                    "shared": batch(with_tier.get_api_key, (provider.name,), n),
                    "local": batch(plain.get_api_key, (provider.name,), n),
                },
                rounds,
            )
    finally:
        with_tier.close()
        plain.close()
        shared.close()
    ours, base = summary(results["shared"]), summary(results["local"])
    ratio = round(base[0] / ours[0], 2)
    row: Row = {
        "scenario": SCENARIO,
        "case": "hit path, shared tier attached",
        "median_s": ours[0],
        "p99_s": ours[1],
        "baseline": "same resolver without shared tier",
        "baseline_median_s": base[0],
        "baseline_p99_s": base[1],
        "ratio": ratio,
    }
    return set_target(row, "ratio ~1 (unchanged)", ratio >= 0.9)
