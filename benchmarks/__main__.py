"""Run the benchmark suite: ``python -m benchmarks [--quick] [--only NAME] [--json PATH]``.

Every scenario runs in this one process against one ``LocalAgentCore`` on
loopback, with its baselines interleaved, and returns rows (see
``benchmarks/_harness.py``). The table shows medians, p99s, the baseline's median
and the ratio (> 1: ours is better); ``--json`` writes every raw figure together
with the machine and package versions. Targets are reported, never asserted; the
exit status is 1 only when a scenario crashed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._harness import Row, machine_info, package_versions, silence_logging, table


def _redaction(bench: Any, quick: bool) -> list[Row]:
    from . import redaction

    return redaction.run(quick=quick)


def _log_redaction(bench: Any, quick: bool) -> list[Row]:
    from . import logging_overhead

    return logging_overhead.run(quick=quick)


def _module(name: str) -> Callable[[Any, bool], list[Row]]:
    def run(bench: Any, quick: bool) -> list[Row]:
        import importlib

        module = importlib.import_module(f"benchmarks.{name}")
        rows: list[Row] = module.run(bench, quick=quick)
        return rows

    return run


#: name -> (runner, needs the emulator). Memory runs last: it churns the global redactor.
SCENARIOS: dict[str, tuple[Callable[[Any, bool], list[Row]], bool]] = {
    "hot_path": (_module("hot_path"), True),
    "stampede": (_module("stampede"), True),
    "rotation": (_module("rotation"), True),
    "httpx_overhead": (_module("httpx_overhead"), True),
    "fleet": (_module("fleet"), True),
    "fleet_tier": (_module("fleet_tier"), True),
    "fleet_faults": (_module("fleet_faults"), True),
    "rotation_watcher": (_module("rotation_watcher"), True),
    "iam_access_token": (_module("iam_access_token"), True),
    "redaction": (_redaction, False),
    "log_redaction": (_log_redaction, False),
    "stream_chunks": (_module("stream_chunks"), False),
    "otel_processing": (_module("otel_processing"), False),
    "memory": (_module("memory"), False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write raw figures here")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    silence_logging()
    names = [n for n in SCENARIOS if not args.only or n in args.only]
    started, began = datetime.now(UTC), time.perf_counter()
    rows: list[Row] = []
    timings: dict[str, float] = {}
    failed = False
    bench = None
    try:
        for name in names:
            runner, needs_bench = SCENARIOS[name]
            if needs_bench and bench is None:
                from ._wiring import Bench

                bench = Bench()
            print(f"running {name}...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                new = runner(bench, args.quick)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the others
                failed = True
                traceback.print_exc()
                new = [
                    {
                        "scenario": name,
                        "case": "crashed",
                        "error": repr(exc)[:500],
                        "skipped": f"crashed: {type(exc).__name__}: {exc}"[:200],
                    }
                ]
            timings[name] = round(time.perf_counter() - start, 2)
            for row in new:
                row.setdefault("scenario", name)
            rows += new
    finally:
        if bench is not None:
            bench.close()
    total = round(time.perf_counter() - began, 2)
    print(table(rows, markdown=args.markdown))
    print(
        f"\n{len(rows)} rows in {total} s ({'quick' if args.quick else 'full'}); "
        + ", ".join(f"{k} {v} s" for k, v in timings.items())
    )
    if args.json:
        report = {
            "started": started.isoformat(),
            "seconds": total,
            "quick": args.quick,
            "scenarios": names,
            "scenario_seconds": timings,
            "machine": machine_info(),
            "packages": package_versions(),
            "rows": rows,
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
