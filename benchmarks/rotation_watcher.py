"""Rotation under load with and without a RotationWatcher, N = 1 and N = 4 real processes.

Every process (``agentcore_auth.testing._fleet`` workers) calls the emulator's
protected API, which refuses the old key the moment the secret changes, in a loop
(a call every ``PAUSE`` s) through a ``requires_api_key`` tool while this process
rotates the secret every ``period`` seconds with ``env.rotate_secret`` (the write
puts Secrets Manager's CloudTrail-shaped event on the default bus; a rule sends it to
an SQS queue). N = 1 is
one process with its own cache; N = 4 is fleet mode (a ``RedisSharedCache`` on a local
``redis-server``). "watcher": process 0 runs a ``RotationWatcher`` on the queue (in
fleet mode its drop reaches the other three through the tier); the baseline is the
same set-up without it (the reactive 401-and-refetch path). Rounds alternate
watcher / no watcher, a new provider each round. Reported, medians over rounds:

- downstream 401s per rotation (summed over the processes);
- upstream ``GetResourceApiKey`` calls per rotation (counted by the emulator);
- time from the secret write to each process's first request with the new value
  (median over rotations x processes).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from typing import Any

from ._harness import Row, set_target, skipped_row
from ._wiring import Bench

SCENARIO = "rotation_watcher"
#: Between one process's calls: 20 calls/s per process (a busy agent), as a loop.
PAUSE = 0.05


def run(bench: Bench, quick: bool = False) -> list[Row]:
    """One row per (measure, N): with the watcher against without it."""
    from agentcore_auth.testing import LocalRedis
    from agentcore_auth.testing._fleet import Fleet
    from agentcore_auth.testing._redis import redis_server_binary

    if redis_server_binary() is None:
        return [skipped_row(SCENARIO, "all", "no redis-server on PATH (apt-get install "
                            "redis-server)")]
    rounds, seconds, period = (1, 1.6, 0.5) if quick else (3, 4.0, 1.0)
    sizes = (1,) if quick else (1, 4)  # quick: the smoke test's budget
    queue_url = _queue(bench)
    rows: list[Row] = []
    with LocalRedis() as server, Fleet(max(sizes), bench.env.env_vars()) as fleet:
        for n in sizes:
            figures: dict[str, list[dict[str, float]]] = {"watcher": [], "none": []}
            for index in range(rounds):
                order = ("watcher", "none") if index % 2 == 0 else ("none", "watcher")
                for mode in order:
                    figures[mode].append(_round(bench, fleet, n, mode, server.url, queue_url,
                                                seconds, period))
            rows += _rows(n, figures)
    return rows


def _queue(bench: Bench) -> str:
    """A queue with a rule sending it Secrets Manager's write events, and its policy."""
    from agentcore_auth._doctor_events import RULE_PATTERN

    env = bench.env
    sqs, events = env.client("sqs"), env.client("events")
    name = env.unique_name("bench-rotations")
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    rule = events.put_rule(Name=name, EventPattern=json.dumps(RULE_PATTERN))["RuleArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage", "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule}}}]})})
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def _round(bench: Bench, fleet: Any, n: int, mode: str, redis_url: str, queue_url: str,
           seconds: float, period: float) -> dict[str, float]:
    from agentcore_auth import Secret

    env = bench.env
    indexes = list(range(n))
    fleet.all("watch", [0], queue_url=None)
    fleet.all("setup", indexes, workload=bench.workload, ttl=300.0,
              redis_url=redis_url if n > 1 else None, data_key=os.urandom(32).hex(),
              prefix=f"rw{os.urandom(3).hex()}:")
    provider = bench.provider("rotation-watcher")
    fleet.all("call", indexes, provider=provider.name, url=provider.url, n=1)  # warm
    if mode == "watcher":
        fleet.all("watch", [0], queue_url=queue_url, wait=20)
    writes: list[tuple[float, str]] = []
    stop = threading.Event()

    def rotate() -> None:
        while not stop.wait(period):
            written = time.time()
            value = provider.rotate()
            writes.append((written, Secret(value).fingerprint))

    before = env.call_count("GetResourceApiKey")
    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    answers = fleet.all("call", indexes, provider=provider.name, url=provider.url,
                        seconds=seconds, pause=PAUSE)
    stop.set()
    rotator.join()
    rotations = max(1, len(writes))
    delays = []
    for written, fingerprint in writes:
        for answer in answers:
            first = next((t for t, f in answer["changes"] if f == fingerprint), None)
            if first is not None:
                delays.append(first - written)
    return {
        "met_401": sum(a["met_401"] for a in answers) / rotations,
        "upstream": (env.call_count("GetResourceApiKey") - before) / rotations,
        "time_to_new_s": statistics.median(delays) if delays else float("nan"),
        "failures": sum(a["failures"] for a in answers),
        "calls": sum(a["calls"] for a in answers),
        "rotations": len(writes),
    }


def _rows(n: int, figures: dict[str, list[dict[str, float]]]) -> list[Row]:
    def median(mode: str, key: str) -> float:
        return statistics.median(f[key] for f in figures[mode])

    rows: list[Row] = []
    mode = "fleet mode, one watcher" if n > 1 else "one process"
    for key, unit, target, goal in (
        ("met_401", "downstream 401s / rotation", "fewer than without", lambda v, b: v < b),
        ("upstream", "upstream calls / rotation", "1 for the fleet", lambda v, b: v <= 1.0),
        ("time_to_new_s", "seconds, write -> first request with new value", None, None),
    ):
        ours, base = median("watcher", key), median("none", key)
        row: Row = {
            "scenario": SCENARIO,
            "case": f"{unit.split(' /')[0].split(',')[0]}, N={n} ({mode})",
            "value": round(ours, 4),
            "unit": unit,
            "baseline": "same processes without a RotationWatcher (401 -> refetch)",
            "baseline_value": round(base, 4),
            "ratio": round(base / ours, 2) if ours else None,
            "rounds": [round(f[key], 4) for f in figures["watcher"]],
            "baseline_rounds": [round(f[key], 4) for f in figures["none"]],
        }
        if key == "met_401":
            row["note"] = (
                f"{sum(int(f['rotations']) for f in figures['watcher'])} rotations, "
                f"{sum(int(f['calls']) for f in figures['watcher'])} calls, "
                f"{sum(int(f['failures']) for f in figures['watcher'])} failed (without: "
                f"{sum(int(f['rotations']) for f in figures['none'])} rotations, "
                f"{sum(int(f['calls']) for f in figures['none'])} calls, "
                f"{sum(int(f['failures']) for f in figures['none'])} failed); "
                f"median of {len(figures['watcher'])} rounds each"
            )
        rows.append(set_target(row, target, goal(ours, base)) if target and goal else row)
    return rows
