"""agentcore_auth.otel: redacted span export, and the library's own spans and metrics."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from agentcore_auth import (
    Credential,
    CredentialNotFoundError,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Redactor,
    Secret,
    SourceUnavailableError,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.otel import RedactingSpanProcessor, instrument, uninstrument
from agentcore_auth.testing import ManualClock

KEY = "sk-otel-span-0123456789abcdef"


def leaks(texts: list[str], value: str = KEY) -> list[str]:
    return [p for p in secret_patterns(value) for text in texts if p in text]


def span_texts(spans: Any) -> list[str]:
    """Everything an exporter could send: name, attributes, events, links, status, of each span."""
    texts = []
    for span in spans:
        texts += [span.name, repr(dict(span.attributes or {})), str(span.status.description)]
        texts += [e.name + repr(dict(e.attributes or {})) for e in span.events]
        texts += [repr(dict(link.attributes or {})) for link in span.links]
    return texts


class Kept(SpanProcessor):
    """Keeps the very span objects it is handed."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def emit(tracer: trace.Tracer, value: str) -> None:
    """A span holding ``value`` everywhere a framework might put it."""
    with tracer.start_as_current_span("parent") as parent:
        link = Link(parent.get_span_context(), {"link.note": f"via {value}"})
        with tracer.start_as_current_span(f"call {value}", links=[link]) as span:
            span.set_attribute("gen_ai.tool.call.result", f'{{"echo": "{value}"}}')
            span.set_attribute("http.request.header.authorization", [f"Bearer {value}"])
            span.set_attribute("raw", value.encode())
            span.set_attribute("count", 3)
            span.add_event("gen_ai.choice", {"message": f"key={value}",
                                            "b64": base64.b64encode(value.encode()).decode()})
            span.add_event(f"seen {value}")
            span.set_status(Status(StatusCode.ERROR, f"refused {value}"))


def test_redacting_processor_cleans_every_part_of_a_span() -> None:
    """Name, attributes, events, links and status: no encoding of the value reaches the exporter."""
    redactor = Redactor()
    redactor.register(KEY, name="weather")
    protected, control = InMemorySpanExporter(), InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        RedactingSpanProcessor(SimpleSpanProcessor(protected), redactor=redactor))
    provider.add_span_processor(SimpleSpanProcessor(control))  # the unprotected twin
    emit(provider.get_tracer("test"), KEY)
    assert leaks(span_texts(control.get_finished_spans()))  # the control leaks
    spans = protected.get_finished_spans()
    assert not leaks(span_texts(spans))
    call = next(s for s in spans if s.name.startswith("call"))
    assert call.name == "call [REDACTED:weather]"
    assert call.attributes["count"] == 3 and call.attributes["raw"] == b"[REDACTED:weather]"
    assert call.attributes["http.request.header.authorization"] == ("[REDACTED:weather]",)
    assert call.status.status_code is StatusCode.ERROR
    assert call.links[0].context == spans[-1].context  # still linked to its parent
    assert call.parent == spans[-1].context and call.context.trace_id == spans[-1].context.trace_id


def test_clean_spans_pass_as_they_are_and_dropped_counts_survive() -> None:
    """A span without a value is not copied; a copied one keeps its dropped counts."""
    redactor = Redactor()
    redactor.register(KEY, name="weather")
    kept = Kept()
    provider = TracerProvider(span_limits=SpanLimits(max_attributes=2))
    provider.add_span_processor(kept)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("clean") as span:
        span.set_attribute("a", "nothing here")
    with tracer.start_as_current_span("dirty") as span:
        for i in range(4):
            span.set_attribute(f"k{i}", KEY)
    processor = RedactingSpanProcessor(kept, redactor=redactor)
    clean, dirty = kept.spans
    assert processor.redact_span(clean) is clean
    redacted = processor.redact_span(dirty)
    assert redacted is not dirty and redacted.dropped_attributes == dirty.dropped_attributes == 2
    assert set(redacted.attributes.values()) == {"[REDACTED:weather]"}


class SlowSource:
    """A test source: one value per provider, an optional gate, and failures on demand."""

    name = "slow"

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self.values = {"weather": KEY}
        self.gate: threading.Event | None = None
        self.failure: Exception | None = None

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        with self.tracer.start_as_current_span("upstream call"):  # nests under ours
            if self.gate is not None:
                self.gate.wait(5)
            if self.failure is not None:
                raise self.failure
            return Credential(Secret(self.values[request.provider_name]))


@pytest.fixture
def telemetry() -> Iterator[tuple[TracerProvider, InMemorySpanExporter, InMemoryMetricReader]]:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(tracer_provider=tracer_provider, meter_provider=MeterProvider([reader]))
    try:
        yield tracer_provider, exporter, reader
    finally:
        uninstrument()


def metric_sums(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    sums: dict[str, int] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name.endswith(".duration"):
                    sums[metric.name] = sum(p.count for p in metric.data.data_points)
                else:
                    sums[metric.name] = sum(p.value for p in metric.data.data_points)
    return sums


def test_spans_and_metrics_per_resolution(telemetry: Any) -> None:
    """Miss, hit, coalesced, stale, error, invalidation: spans say which; counters mirror stats."""
    tracer_provider, exporter, reader = telemetry
    clock = ManualClock()
    source = SlowSource(tracer_provider.get_tracer("source"))
    resolver = CredentialResolver(source, ttl=10, stale_if_error=100, timer=clock)
    resolver.get_api_key("weather")  # miss
    resolver.get_api_key("weather")  # hit
    clock.advance(11)
    source.gate = threading.Event()
    threads = [threading.Thread(target=resolver.get_api_key, args=("weather",))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    while resolver.stats.coalesced_waits < 1:
        threading.Event().wait(0.01)
    source.failure = SourceUnavailableError("throttled", provider_name="weather")
    source.gate.set()
    for thread in threads:
        thread.join()
    source.gate, source.failure = None, CredentialNotFoundError("gone", provider_name="nope")
    source.values["nope"] = "unused"
    with pytest.raises(CredentialNotFoundError):
        resolver.get_api_key("nope")
    resolver.invalidate("weather")

    spans = exporter.get_finished_spans()
    ours = [s for s in spans if s.name.startswith("resolve_credential")]
    outcomes = [s.attributes["agentcore_auth.cache.outcome"] for s in ours]
    assert sorted(outcomes) == ["coalesced", "hit", "miss", "miss", "stale"]
    failed = next(s for s in ours if s.attributes["agentcore_auth.provider.name"] == "nope")
    assert failed.attributes["error.type"] == "agentcore_auth.CredentialNotFoundError"
    assert failed.status.status_code is StatusCode.ERROR
    fetched = [s for s in ours if "agentcore_auth.upstream.duration" in s.attributes]
    assert len(fetched) == 3  # the two misses and the stale serve fetched; others did not
    for upstream in (s for s in spans if s.name == "upstream call"):
        assert upstream.parent is not None
        assert upstream.parent.span_id in {s.context.span_id for s in fetched}
    stats = resolver.stats
    sums = metric_sums(reader)
    assert sums["agentcore_auth.cache.hits"] == stats.hits == 1
    assert sums["agentcore_auth.cache.misses"] == stats.misses == 3
    assert sums["agentcore_auth.cache.coalesced_waits"] == stats.coalesced_waits == 1
    assert sums["agentcore_auth.cache.stale_serves"] == stats.stale_serves == 1
    assert sums["agentcore_auth.upstream.calls"] == stats.upstream_calls == 3
    assert sums["agentcore_auth.upstream.errors"] == stats.errors == 2
    assert sums["agentcore_auth.cache.invalidations"] == stats.invalidations == 1
    assert sums["agentcore_auth.resolution.duration"] == 5
    assert sums["agentcore_auth.upstream.duration"] == 3
    assert not leaks(span_texts(spans) + [reader.get_metrics_data().to_json()])
    resolver.close()


async def test_async_resolution_nests_the_fetch_and_names_the_flow(telemetry: Any) -> None:
    """aget_oauth2_token: one span with flow and scopes; the pooled fetch is its child."""
    tracer_provider, exporter, _ = telemetry
    source = SlowSource(tracer_provider.get_tracer("source"))
    source.values["github"] = "gho-otel-token-0123456789"
    source.gate = threading.Event()
    with CredentialResolver(source) as resolver:
        calls = [asyncio.ensure_future(resolver.aget_oauth2_token("github", scopes=["repo"]))
                 for _ in range(3)]
        await asyncio.sleep(0)  # each task runs to its wait: one leads, two join
        assert resolver.stats.coalesced_waits == 2
        source.gate.set()
        await asyncio.gather(*calls)
        await resolver.aget_api_key("weather")
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if s.name == "resolve_credential github"]
    assert sorted(s.attributes["agentcore_auth.cache.outcome"] for s in ours) == [
        "coalesced", "coalesced", "miss"]
    assert ours[0].attributes["agentcore_auth.oauth2.flow"] == "M2M"
    assert ours[0].attributes["agentcore_auth.oauth2.scopes"] == ("repo",)
    leader = next(s for s in ours if s.attributes["agentcore_auth.cache.outcome"] == "miss")
    upstream = [s for s in spans if s.name == "upstream call"]
    assert leader.context.span_id in {s.parent.span_id for s in upstream if s.parent}
    texts = span_texts(spans)
    assert not leaks(texts) and not leaks(texts, "gho-otel-token-0123456789")


def test_off_by_default_and_after_uninstrument() -> None:
    """Without instrument(), resolutions make no span at all."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    source = SlowSource(provider.get_tracer("source"))
    with CredentialResolver(source) as resolver:
        resolver.get_api_key("weather")
        instrument(tracer_provider=provider, meter_provider=MeterProvider())
        uninstrument()
        resolver.get_api_key("weather")
    assert [s.name for s in exporter.get_finished_spans()] == ["upstream call"]


def test_no_user_id_or_token_in_telemetry(telemetry: Any) -> None:
    """A per-user resolution's span and metrics name the provider and flow, never the user."""
    tracer_provider, exporter, reader = telemetry
    source = SlowSource(tracer_provider.get_tracer("source"))
    source.values["files"] = "ya29-user-token-0123456789"
    with CredentialResolver(source) as resolver:
        resolver.get_oauth2_token("files", scopes=["drive"], auth_flow="USER_FEDERATION",
                                  user_id="alice-raw-user-id-42")
    texts = span_texts(exporter.get_finished_spans()) + [reader.get_metrics_data().to_json()]
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "resolve_credential files"]
    assert span.attributes["agentcore_auth.oauth2.flow"] == "USER_FEDERATION"
    assert not any("alice-raw-user-id-42" in text for text in texts)
    assert not leaks(texts, "ya29-user-token-0123456789")
