"""Log redaction: what one log record costs with redaction installed, against without.

One logger with one ``StreamHandler`` (a discarding stream) and a four-field
formatter (``%(asctime)s %(levelname)s %(name)s %(message)s``), 100 registered
values (1,000 in a second row). Each case's batches run alternately with
redaction installed and not (``install_log_redaction`` / ``uninstall``
between batches, outside the timed loop), interleaved round by round; the
overhead is the paired difference per round. A record holding a value is
checked to come out redacted before it is timed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from ._harness import Row, batch, interleave, set_target, time_row

SCENARIO = "log_redaction"
OVERHEAD_TARGET_S = 2e-6
OVERHEAD_TARGET_RATIO = 0.15
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _Sink:
    """A stream that keeps the last line written (to check it) and discards the rest."""

    last = ""

    def write(self, text: str) -> int:
        self.last = text
        return len(text)

    def flush(self) -> None:
        pass


def _logger(sink: _Sink) -> logging.Logger:
    logger = logging.getLogger("benchmarks.log_redaction")
    logger.handlers.clear()
    handler = logging.StreamHandler(sink)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _cases(logger: logging.Logger, value: str) -> dict[str, Callable[[], None]]:
    info = logger.info

    def no_args() -> None:
        info("tool forecast finished for the current user session")

    def with_args() -> None:
        info("GET %s -> %d in %.1f ms", "/v1/forecast?city=Paris", 200, 12.5)

    counter = iter(range(10**12))

    def with_four_args() -> None:
        # The record: arguments that change per call (no clean-text cache hit).
        i = next(counter)
        info("request %d handled for user %s in %.2f ms path=%s", i, "alice", i / 7,
             "/v1/forecast")

    def with_extra() -> None:
        info("request done", extra={"route": "/v1/forecast", "status": 200})

    def with_value() -> None:
        info("calling the API with key %s", value)

    return {
        "record, no value, no args": no_args,
        "record, no value, 3 %-args": with_args,
        "record, no value, 4 varying %-args": with_four_args,
        "record, no value, 2 extra= fields": with_extra,
        "record holding a value (redacted)": with_value,
    }


def run(quick: bool = False) -> list[Row]:
    """Per-record overhead of redaction for each record shape, 100 and 1,000 values."""
    from agentcore_auth._logging import _installed, install_log_redaction, uninstall_log_redaction
    from agentcore_auth._redact import Redactor, default_redactor

    # Short samples (50 records, about 1 ms), many rounds: a sample the scheduler
    # preempted is an outlier the median drops.
    n, rounds = (50, 10) if quick else (50, 600)
    was_installed = _installed()
    uninstall_log_redaction()
    sink = _Sink()
    logger = _logger(sink)
    rows: list[Row] = []
    try:
        for count in (100, 1000):
            redactor = Redactor()
            values = [f"sk-live-{secrets.token_urlsafe(24)}" for _ in range(count)]
            for i, value in enumerate(values):
                redactor.register(value, name=f"provider-{i}")
            redactor.redact("warm the matcher up: " + values[0])
            cases = _cases(logger, values[count // 2])
            cases["record holding a value (redacted)"]()  # not installed: in clear
            assert values[count // 2] in sink.last
            _check_redacted(redactor, cases["record holding a value (redacted)"], sink,
                            values[count // 2])
            for case, call in cases.items():
                if count != 100 and case != "record, no value, no args":
                    continue
                samplers = {
                    "plain": batch(call, (), n),
                    "redacted": _installed_batch(batch(call, (), n), redactor),
                }
                results = interleave(samplers, rounds)
                rows.append(_row(case, count, results))
    finally:
        logger.handlers.clear()
        uninstall_log_redaction()
        if was_installed:
            install_log_redaction(default_redactor())
    return rows


def _check_redacted(redactor: Any, call: Callable[[], None], sink: _Sink, value: str) -> None:
    from agentcore_auth._logging import install_log_redaction, uninstall_log_redaction

    install_log_redaction(redactor)
    try:
        call()
    finally:
        uninstall_log_redaction()
    if value in sink.last or "[REDACTED:" not in sink.last:
        raise AssertionError("the record holding a value was not redacted")


def _installed_batch(sample: Callable[[], float], redactor: Any) -> Callable[[], float]:
    from agentcore_auth._logging import install_log_redaction, uninstall_log_redaction

    def run_installed() -> float:
        install_log_redaction(redactor)
        try:
            return sample()
        finally:
            uninstall_log_redaction()

    return run_installed


def _row(case: str, count: int, results: dict[str, list[float]]) -> Row:
    overhead = [r - p for r, p in zip(results["redacted"], results["plain"], strict=True)]
    row = time_row(
        SCENARIO,
        f"{case}, {count:,} values: overhead per record",
        overhead,
        note="paired difference per round; four-field formatter",
    )
    plain = time_row(SCENARIO, "plain", results["plain"])["median_s"]
    row["baseline"] = "plain record, redaction not installed"
    row["baseline_median_s"] = plain
    row["overhead_ratio"] = round(row["median_s"] / plain, 3) if plain else None
    row["note"] += f"; plain record {plain * 1e6:.2f} us, overhead {row['overhead_ratio']:.0%}"
    if "no value" in case:
        # The target is issue 30's: within 2 us *or* 15 % of the plain record.
        met = row["median_s"] <= OVERHEAD_TARGET_S or (
            row["median_s"] <= OVERHEAD_TARGET_RATIO * plain)
        set_target(row, "<= 2 us or <= 15 % of the plain record", met)
    return row
