"""agentcore_auth.otel: protect() a provider, the Logs API, truncated attributes, instrument().

Real OpenTelemetry SDK providers and in-memory exporters. Every case has a
control: the same telemetry through an unprotected provider shows the value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider, LogRecordLimits
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentcore_auth import ConfigurationError, Redactor
from agentcore_auth._redact import secret_patterns
from agentcore_auth.otel import (
    Protection,
    RedactingLogRecordProcessor,
    RedactingSpanProcessor,
    instrument,
    protect,
    uninstrument,
)

# 40 characters, with characters that URL and JSON encode differently.
KEY = "sk-otel/protect+0123456789abcdef=ghijklm"
assert len(KEY) == 40


def encodings(value: str) -> dict[str, str]:
    """The value as a tool's output might carry it."""
    return {
        "raw": value,
        "json": json.dumps({"api_key": value}),
        "url": "https://api.example/v1?key=" + quote(value, safe=""),
        "base64": base64.b64encode(value.encode()).decode(),
        "hex": value.encode().hex(),
    }


def leaks(text: str) -> list[str]:
    return [p for p in secret_patterns(KEY) if p in text]


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.register(KEY, name="weather")
    return r


def span_text(exporter: InMemorySpanExporter) -> str:
    out = []
    for span in exporter.get_finished_spans():
        out += [span.name, repr(dict(span.attributes or {})), str(span.status.description)]
        out += [e.name + repr(dict(e.attributes or {})) for e in span.events]
    return "\n".join(out)


def log_text(exporter: InMemoryLogRecordExporter) -> str:
    return "\n".join(r.to_json() + repr(r.log_record.body) + repr(r.log_record.event_name)
                     for r in exporter.get_finished_logs())


def emit_spans(provider: TracerProvider, value: str) -> None:
    tracer = provider.get_tracer("tool")
    for form, text in encodings(value).items():
        with tracer.start_as_current_span(f"execute_tool {form}") as span:
            span.set_attribute("gen_ai.tool.call.result", text)
            span.add_event("gen_ai.tool.message", {"content": text})


def emit_logs(provider: LoggerProvider, value: str) -> None:
    logger = provider.get_logger("tool")
    for form, text in encodings(value).items():
        logger.emit(event_name="gen_ai.tool.message", body={"role": "tool", "content": text},
                    attributes={"gen_ai.tool.name": "weather", "form": form, "echo": text})
        logger.emit(body=f"tool said {text}")


# --- spans ---------------------------------------------------------------------------------


def test_processors_present_and_added_later_are_protected(redactor: Redactor) -> None:
    """A processor added after protect() (no wrapper) exports clean spans; a tracer made
    before protect() too."""
    before, after, control = (InMemorySpanExporter() for _ in range(3))
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(before))
    early_tracer = provider.get_tracer("early")
    protection = protect(tracer_provider=provider, logger_provider=LoggerProvider(),
                         redactor=redactor)
    provider.add_span_processor(SimpleSpanProcessor(after))
    unprotected = TracerProvider()
    unprotected.add_span_processor(SimpleSpanProcessor(control))
    emit_spans(provider, KEY)
    emit_spans(unprotected, KEY)
    with early_tracer.start_as_current_span(f"early {KEY}"):
        pass
    assert leaks(span_text(control))  # the control leaks
    for exporter in (before, after):
        text = span_text(exporter)
        assert "[REDACTED:weather]" in text and not leaks(text), text
        assert len(exporter.get_finished_spans()) == 6
    assert protection.tracer_provider is provider
    assert [type(p) for p in protection.span_processors] == [RedactingSpanProcessor]


def test_protect_is_idempotent(redactor: Redactor) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    logs = LoggerProvider()
    first = protect(tracer_provider=provider, logger_provider=logs, redactor=redactor)
    provider.add_span_processor(
        RedactingSpanProcessor(SimpleSpanProcessor(exporter), redactor=redactor))
    again = protect(tracer_provider=provider, logger_provider=logs, redactor=redactor)
    assert first.span_processors[0] is again.span_processors[0]
    assert len(again.span_processors) == 2
    assert all(isinstance(p, RedactingSpanProcessor) for p in again.span_processors)
    assert all("RedactingSpanProcessor(Redacting" not in repr(p) for p in again.span_processors)
    emit_spans(provider, KEY)
    assert len(exporter.get_finished_spans()) == 10  # each processor once: no double export
    assert not leaks(span_text(exporter))


@pytest.mark.parametrize("how", ["processor", "protect"])
def test_truncated_attributes_leave_no_prefix(how: str, redactor: Redactor) -> None:
    """A 40-character key cut at 36 by SpanLimits exports none of its prefix."""
    limits = SpanLimits(max_attribute_length=36)
    protected, control = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    if how == "processor":
        provider.add_span_processor(
            RedactingSpanProcessor(SimpleSpanProcessor(protected), redactor=redactor))
    else:
        provider.add_span_processor(SimpleSpanProcessor(protected))
        protect(tracer_provider=provider, logger_provider=LoggerProvider(), redactor=redactor)
    unprotected = TracerProvider(span_limits=limits)
    unprotected.add_span_processor(SimpleSpanProcessor(control))
    for p in (provider, unprotected):
        with p.get_tracer("t").start_as_current_span("call") as span:
            span.set_attribute("whole", KEY)  # cut to its first 36 characters
            span.set_attribute("tail", "key=" + KEY)  # cut inside the value
            span.set_attribute("list", ["Bearer " + KEY])
            span.add_event("gen_ai.choice", {"message": "answer: " + KEY})
            span.set_attribute("clean", "x" * 50)
    assert KEY[:28] in span_text(control)  # the control exports the prefix
    text = span_text(protected)
    assert KEY[:8] not in text, text
    (span,) = protected.get_finished_spans()
    assert span.attributes["tail"] == "key=[REDACTED]"
    assert span.attributes["clean"] == "x" * 36  # untouched


# --- log records -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["processor", "protect"])
def test_log_records_are_redacted_in_every_encoding(how: str, redactor: Redactor) -> None:
    """GenAI tool events through the Logs API: body, attributes, event name."""
    protected, control = InMemoryLogRecordExporter(), InMemoryLogRecordExporter()
    provider, unprotected = LoggerProvider(), LoggerProvider()
    unprotected.add_log_record_processor(SimpleLogRecordProcessor(control))
    if how == "processor":
        provider.add_log_record_processor(
            RedactingLogRecordProcessor(SimpleLogRecordProcessor(protected), redactor=redactor))
    else:
        protection = protect(tracer_provider=TracerProvider(), logger_provider=provider,
                             redactor=redactor)
        assert protection.logger_provider is provider
        provider.add_log_record_processor(SimpleLogRecordProcessor(protected))  # after protect
    emit_logs(provider, KEY)
    emit_logs(unprotected, KEY)
    logger = provider.get_logger("tool")
    logger.emit(event_name=f"seen {KEY}", body=KEY.encode())
    control_text = log_text(control)
    for form, text in encodings(KEY).items():
        assert text in control_text, form  # the control carries every encoding
    text = log_text(protected)
    assert not leaks(text), text
    assert len(protected.get_finished_logs()) == 11
    first = protected.get_finished_logs()[0].log_record
    assert first.event_name == "gen_ai.tool.message"
    assert first.body == {"role": "tool", "content": "[REDACTED:weather]"}
    assert first.attributes["gen_ai.tool.name"] == "weather"


def test_a_log_record_other_processors_see_is_not_changed(redactor: Redactor) -> None:
    """The wrapper hands on a copy; a clean record is passed as it is."""
    protected, plain = InMemoryLogRecordExporter(), InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(
        RedactingLogRecordProcessor(SimpleLogRecordProcessor(protected), redactor=redactor))
    provider.add_log_record_processor(SimpleLogRecordProcessor(plain))
    provider.get_logger("t").emit(body=f"key {KEY}")
    provider.get_logger("t").emit(body="nothing here")
    assert protected.get_finished_logs()[0].log_record.body == "key [REDACTED:weather]"
    assert plain.get_finished_logs()[0].log_record.body == f"key {KEY}"
    assert (protected.get_finished_logs()[1].log_record
            is plain.get_finished_logs()[1].log_record)


def test_truncated_log_attributes_leave_no_prefix(redactor: Redactor) -> None:
    limits = LogRecordLimits(max_attribute_length=36)
    protected, control = InMemoryLogRecordExporter(), InMemoryLogRecordExporter()
    provider = LoggerProvider(log_record_limits=limits)
    provider.add_log_record_processor(SimpleLogRecordProcessor(protected))
    protect(tracer_provider=TracerProvider(), logger_provider=provider, redactor=redactor)
    unprotected = LoggerProvider(log_record_limits=limits)
    unprotected.add_log_record_processor(SimpleLogRecordProcessor(control))
    for p in (provider, unprotected):
        p.get_logger("t").emit(body="call", attributes={"echo": KEY, "note": "key=" + KEY})
    assert KEY[:28] in log_text(control)
    text = log_text(protected)
    assert KEY[:8] not in text, text


# --- providers and instrument() ------------------------------------------------------------


def test_protect_refuses_what_is_not_an_sdk_provider() -> None:
    with pytest.raises(ConfigurationError, match="TracerProvider"):
        protect(tracer_provider=trace.NoOpTracerProvider())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="LoggerProvider"):
        protect(tracer_provider=TracerProvider(), logger_provider=object())  # type: ignore[arg-type]


def test_protect_defaults_to_the_global_providers(monkeypatch: pytest.MonkeyPatch,
                                                  redactor: Redactor) -> None:
    tracers, loggers = TracerProvider(), LoggerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: tracers)
    monkeypatch.setattr(_logs, "get_logger_provider", lambda: loggers)
    assert protect(redactor=redactor) == Protection(tracers, loggers)
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    monkeypatch.setattr(_logs, "get_logger_provider", _logs.NoOpLoggerProvider)
    assert protect() == Protection(None, None)  # not an SDK provider yet: nothing to do


@pytest.fixture
def observed() -> Iterator[None]:
    yield
    uninstrument()


def test_instrument_protects_the_provider_it_is_given(observed: None) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    multi: Any = provider._active_span_processor
    assert all(isinstance(p, RedactingSpanProcessor) for p in multi._span_processors)


def test_instrument_warns_once_about_an_unprotected_global_provider(
        monkeypatch: pytest.MonkeyPatch, observed: None) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    with pytest.warns(UserWarning, match="SimpleSpanProcessor.*protect"):
        instrument()
    instrument()  # once: no second warning (warnings are errors here)
    protected = TracerProvider()
    protected.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    protect(tracer_provider=protected, logger_provider=LoggerProvider())
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: protected)
    instrument()  # protected: no warning


def test_a_concurrent_multi_processor_is_protected_too(redactor: Redactor) -> None:
    from opentelemetry.sdk.trace import ConcurrentMultiSpanProcessor

    exporter = InMemorySpanExporter()
    multi = ConcurrentMultiSpanProcessor(2)
    provider = TracerProvider(active_span_processor=multi)
    protect(tracer_provider=provider, logger_provider=LoggerProvider(), redactor=redactor)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    emit_spans(provider, KEY)
    assert len(exporter.get_finished_spans()) == 5
    assert not leaks(span_text(exporter))
    provider.shutdown()


def test_a_provider_whose_processor_holds_no_others_is_refused(redactor: Redactor) -> None:
    provider = TracerProvider(
        active_span_processor=SimpleSpanProcessor(InMemorySpanExporter()))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="RedactingSpanProcessor"):
        protect(tracer_provider=provider, logger_provider=LoggerProvider(), redactor=redactor)
