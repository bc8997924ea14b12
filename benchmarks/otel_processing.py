"""OpenTelemetry protection: what a span and a log record cost through a protected provider.

Two SDK providers each for spans and log records, one :func:`agentcore_auth.otel.protect`-ed,
one not, both exporting through ``Simple*Processor`` to an exporter that drops
what it gets (so the figure is the SDK plus redaction, not an exporter). A GenAI
tool span (six attributes, a 1 kB tool result, one event) and a tool event log
record (a map body, three attributes) are made clean, or echoing the key, with
100 values registered. Protected and unprotected runs alternate round by round
in one process; the row is the per-item median. What the protected exporter got
is checked to hold no value before anything is timed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._harness import Row, interleave, time_row

SCENARIO = "otel_processing"


def run(bench: Any = None, quick: bool = False) -> list[Row]:
    """Per-span and per-log-record time, protected vs unprotected, clean and echoing a key."""
    from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
    from opentelemetry.sdk._logs.export import (
        LogRecordExporter,
        LogRecordExportResult,
        SimpleLogRecordProcessor,
    )
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from agentcore_auth import Redactor
    from agentcore_auth.otel import protect

    class Spans(SpanExporter):
        last: Sequence[ReadableSpan] = ()

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            self.last = spans
            return SpanExportResult.SUCCESS

    class Logs(LogRecordExporter):
        last: Sequence[ReadableLogRecord] = ()

        def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
            self.last = batch
            return LogRecordExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    key = "sk-live-" + secrets.token_urlsafe(24)
    redactor = Redactor()
    for i in range(99):
        redactor.register(f"sk-other-{i:03d}-" + secrets.token_urlsafe(16), name=f"p{i}")
    redactor.register(key, name="bench")
    per_sample = 20 if quick else 200
    rounds = 5 if quick else 60
    rows: list[Row] = []

    def tracers(protected: bool) -> tuple[Any, Spans]:
        exporter = Spans()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        if protected:
            protect(tracer_provider=provider, logger_provider=LoggerProvider(), redactor=redactor)
        return provider.get_tracer("bench"), exporter

    def loggers(protected: bool) -> tuple[Any, Logs]:
        exporter = Logs()
        provider = LoggerProvider(shutdown_on_exit=False)
        provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        if protected:
            protect(tracer_provider=TracerProvider(), logger_provider=provider, redactor=redactor)
        return provider.get_logger("bench"), exporter

    def span_sampler(tracer: Any, result: str) -> Callable[[], float]:
        def sample() -> float:
            start = time.perf_counter_ns()
            for _ in range(per_sample):
                with tracer.start_as_current_span("execute_tool weather") as span:
                    span.set_attribute("gen_ai.operation.name", "execute_tool")
                    span.set_attribute("gen_ai.tool.name", "weather")
                    span.set_attribute("gen_ai.tool.call.id", "call_0123")
                    span.set_attribute("gen_ai.tool.call.arguments", '{"city": "Oslo"}')
                    span.set_attribute("gen_ai.tool.call.result", result)
                    span.set_attribute("count", 3)
                    span.add_event("gen_ai.tool.message", {"content": result})
            return (time.perf_counter_ns() - start) / per_sample / 1e9
        return sample

    def log_sampler(logger: Any, result: str) -> Callable[[], float]:
        def sample() -> float:
            start = time.perf_counter_ns()
            for _ in range(per_sample):
                logger.emit(event_name="gen_ai.tool.message",
                            body={"role": "tool", "id": "call_0123", "content": result},
                            attributes={"gen_ai.tool.name": "weather", "gen_ai.system": "aws",
                                        "n": 3})
            return (time.perf_counter_ns() - start) / per_sample / 1e9
        return sample

    for label, result in (("clean", "x" * 1024),
                          ("echoing the key", "x" * 500 + f'"key": "{key}"' + "x" * 500)):
        (tracer, span_out), (plain_tracer, _) = tracers(True), tracers(False)
        (logger, log_out), (plain_logger, _) = loggers(True), loggers(False)
        span_sampler(tracer, result)()
        log_sampler(logger, result)()
        seen = repr([dict(s.attributes or {}) for s in span_out.last]) + repr(
            [r.log_record.body for r in log_out.last])
        if key in seen:
            raise AssertionError("a protected exporter got the key")
        spans = interleave({"protected": span_sampler(tracer, result),
                            "plain": span_sampler(plain_tracer, result)}, rounds)
        rows.append(time_row(SCENARIO, f"per span (GenAI tool span, {label})",
                             spans["protected"], spans["plain"],
                             baseline="unprotected provider"))
        logs = interleave({"protected": log_sampler(logger, result),
                           "plain": log_sampler(plain_logger, result)}, rounds)
        rows.append(time_row(SCENARIO, f"per log record (GenAI tool event, {label})",
                             logs["protected"], logs["plain"],
                             baseline="unprotected provider"))
    return rows
