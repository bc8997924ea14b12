"""Shared timing, row and reporting helpers for every benchmark scenario.

A row is a plain dict (it goes to JSON as is). Keys every scenario may set:

- ``scenario``, ``case``: what was measured.
- ``median_s``, ``p99_s``: per-call time of ours (seconds).
- ``value``, ``unit``: a figure that is not a time (requests/s, bytes, calls).
- ``baseline`` and ``baseline_median_s`` / ``baseline_p99_s`` / ``baseline_value``.
- ``ratio``: how many times better ours is than the baseline: baseline time / our
  time, or our throughput / baseline throughput (so > 1 means ours wins).
- ``target``, ``target_met``: a goal stated in the issue, reported, never asserted.
- ``skipped``: why a case did not run (an optional peer failed to import).
- ``note``: anything a reader of the table must know.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import Any

Row = dict[str, Any]

#: Loggers that would otherwise print per call (the official SDK sets INFO on its own).
NOISY_LOGGERS = (
    "agentcore_auth",
    "agentcore_auth.testing",
    "bedrock_agentcore",
    "bedrock_agentcore.auth",
    "bedrock_agentcore.identity_client",
    "botocore",
    "boto3",
    "urllib3",
    "httpx",
    "httpcore",
    "moto",
    "werkzeug",
    "aws_lambda_powertools",
    "aws_secretsmanager_caching",
    "strands",
)
PACKAGES = (
    "agentcore-auth",
    "bedrock-agentcore",
    "aws-secretsmanager-caching",
    "aws-lambda-powertools",
    "httpx",
    "boto3",
    "botocore",
    "moto",
    "cachetools",
    "strands-agents",
    "redis",
)


def silence_logging() -> None:
    """Keep library log lines out of the benchmark output (WARNING and up still show)."""
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


# --- statistics ------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; ``values`` need not be sorted."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(values: Sequence[float]) -> tuple[float, float]:
    """(median, p99) of ``values``."""
    return statistics.median(values), percentile(values, 0.99)


# --- timing ------------------------------------------------------------------------------


def batch(fn: Callable[..., Any], args: tuple[Any, ...] = (), n: int = 1000) -> Callable[[], float]:
    """A sampler: one call times ``n`` calls of ``fn(*args)`` and returns seconds per call."""
    loop = range(n)
    clock = time.perf_counter_ns

    def sample() -> float:
        start = clock()
        for _ in loop:
            fn(*args)
        return (clock() - start) / n / 1e9

    return sample


def abatch(
    fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...] = (), n: int = 1000
) -> Callable[[], Awaitable[float]]:
    """Async twin of :func:`batch`: ``n`` awaits inside the running loop, seconds per call."""
    loop = range(n)
    clock = time.perf_counter_ns

    async def sample() -> float:
        start = clock()
        for _ in loop:
            await fn(*args)
        return (clock() - start) / n / 1e9

    return sample


def interleave(
    samplers: dict[str, Callable[[], float]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every sampler once per round, alternating the order, so drift hits all alike."""
    names = list(samplers)
    for _ in range(warmup):
        for name in names:
            samplers[name]()
    results: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            results[name].append(samplers[name]())
    return results


async def ainterleave(
    samplers: dict[str, Callable[[], Awaitable[float]]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Async twin of :func:`interleave` (every sampler runs in the current loop)."""
    names = list(samplers)
    for _ in range(warmup):
        for name in names:
            await samplers[name]()
    results: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            results[name].append(await samplers[name]())
    return results


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Move every object alive now out of the GC's reach while timing.

    The benchmark process holds moto, botocore models and the emulator: millions
    of objects that an agent process would not have. Without this, each full
    collection triggered by a measured call walks them all and its pause lands on
    whichever case was running. New objects are still collected as usual.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def run_async(main: Awaitable[Any]) -> Any:
    """``asyncio.run`` for a coroutine object."""

    async def runner() -> Any:
        return await main

    return asyncio.run(runner())


# --- rows --------------------------------------------------------------------------------


def time_row(
    scenario: str,
    case: str,
    ours: Sequence[float],
    base: Sequence[float] | None = None,
    baseline: str | None = None,
    **extra: Any,
) -> Row:
    """A row of per-call times, with the ratio baseline median / our median."""
    median, p99 = summary(ours)
    row: Row = {
        "scenario": scenario,
        "case": case,
        "median_s": median,
        "p99_s": p99,
        "samples": len(ours),
    }
    if base:
        base_median, base_p99 = summary(base)
        row.update(
            baseline=baseline,
            baseline_median_s=base_median,
            baseline_p99_s=base_p99,
            ratio=round(base_median / median, 2) if median else None,
        )
    row.update(extra)
    return row


def skipped_row(scenario: str, case: str, reason: str) -> Row:
    """A row for a case that could not run, saying why."""
    return {"scenario": scenario, "case": case, "skipped": reason}


def set_target(row: Row, text: str, met: bool) -> Row:
    """Attach a goal and whether it was met (reported, never asserted)."""
    row["target"] = text
    row["target_met"] = bool(met)
    return row


def optional_import(module: str) -> tuple[Any, str | None]:
    """(module, None), or (None, reason) when an optional peer fails to import."""
    import importlib

    try:
        return importlib.import_module(module), None
    except Exception as exc:  # noqa: BLE001 - any import failure makes the peer "skipped"
        return None, f"cannot import {module}: {type(exc).__name__}: {exc}"


# --- the run's context ---------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
    }


def package_versions() -> dict[str, str | None]:
    """Installed versions of ours and every peer (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# --- the table ---------------------------------------------------------------------------


def fmt_time(seconds: float | None) -> str:
    """A duration with a unit that keeps three significant figures."""
    if seconds is None:
        return ""
    for scale, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def fmt_value(value: Any, unit: str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text} {unit}" if unit else text


def _cells(row: Row) -> list[str]:
    if row.get("skipped"):
        return [row["scenario"], row["case"], "skipped", "", "", "", "", row["skipped"]]
    if "median_s" in row and "value" not in row:
        median, p99 = fmt_time(row.get("median_s")), fmt_time(row.get("p99_s"))
        base = fmt_time(row.get("baseline_median_s"))
    else:
        unit = row.get("unit")
        median, p99 = fmt_value(row.get("value"), unit), fmt_value(row.get("p99"), unit)
        base = fmt_value(row.get("baseline_value"), unit)
        if "median_s" in row and not p99:
            p99 = fmt_time(row.get("median_s"))
    ratio = row.get("ratio")
    met = row.get("target_met")
    target = "" if met is None else ("met" if met else "MISSED")
    if row.get("target"):
        target = f"{target}: {row['target']}"
    return [
        row["scenario"],
        row["case"],
        median,
        p99,
        base,
        "" if ratio is None else f"{ratio:g}x",
        target,
        row.get("note", ""),
    ]


def table(rows: Sequence[Row], markdown: bool = False) -> str:
    """The rows as an aligned text table (or a Markdown table)."""
    head = ["scenario", "case", "median/value", "p99", "baseline", "ratio", "target", "note"]
    body = [_cells(r) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in body]
        return "\n".join(lines)
    widths = [min(60, max(len(x) for x in col)) for col in zip(head, *body, strict=False)]
    widths[-1] = 0
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*cells).rstrip() for cells in body]
    return "\n".join(out)
