"""OpenTelemetry for agentcore_auth: clean exported spans, and the library's own telemetry.

Install with the ``otel`` extra (``pip install "agentcore-auth[otel]"``).

- :class:`RedactingSpanProcessor` wraps any span processor and hands it spans
  whose name, attributes, events, links and status hold no registered value,
  whichever library wrote them (agent frameworks record tool input and output
  in their spans)::

      provider.add_span_processor(RedactingSpanProcessor(BatchSpanProcessor(OTLPSpanExporter())))

- :func:`instrument` turns on the library's own telemetry (off by default): a
  span per resolution and counters mirroring ``resolver.stats``, named after
  OpenTelemetry's semantic conventions under the ``agentcore_auth`` namespace
  (see the README's table). They carry provider names, flows, scopes, cache
  outcomes, latencies and error types; never a value, a token or a user id.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status, StatusCode

from . import __version__, _telemetry
from ._credential import CredentialRequest
from ._redact import Redactor, default_redactor

__all__ = ["RedactingSpanProcessor", "instrument", "uninstrument"]

_SCOPE = "agentcore_auth"


class RedactingSpanProcessor(SpanProcessor):
    """Hands ``processor`` a redacted copy of every ended span.

    The span's name, attributes (strings, bytes, and strings inside sequences and
    maps), event names and attributes, link attributes and status description are
    scrubbed of every registered value in every encoding the redactor knows. A span
    that holds none is passed on as it is (no copy). ``on_start`` and ``_on_ending``
    pass the live span through, as processors that enrich spans need; what can be
    exported is what ``on_end`` hands on. Resource attributes are not touched.

    Args:
        processor: the processor to protect, e.g. ``BatchSpanProcessor(exporter)``.
        redactor: the registry to use; default :func:`agentcore_auth.default_redactor`,
            where every resolver registers its values.
    """

    def __init__(self, processor: SpanProcessor, *, redactor: Redactor | None = None) -> None:
        self._processor = processor
        self._redactor = redactor

    def __repr__(self) -> str:
        return f"RedactingSpanProcessor({self._processor!r})"

    def on_start(self, span: SdkSpan, parent_context: otel_context.Context | None = None) -> None:
        """Pass the live span on."""
        self._processor.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: SdkSpan) -> None:
        self._processor._on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        """Hand the wrapped processor the span, redacted."""
        self._processor.on_end(self.redact_span(span))

    def shutdown(self) -> None:
        """Shut the wrapped processor down."""
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped processor."""
        return self._processor.force_flush(timeout_millis)

    def redact_span(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` if it holds no registered value, else a redacted copy."""
        r = self._redactor or default_redactor()
        name = r.redact(span.name)
        attributes = _attributes(r, span.attributes)
        events = [(e, r.redact(e.name), _attributes(r, e.attributes)) for e in span.events]
        links = [(link, _attributes(r, link.attributes)) for link in span.links]
        status = span.status
        description = r.redact(status.description) if status.description else None
        if (name is span.name and attributes is None and description is status.description
                and all(n is e.name and a is None for e, n, a in events)
                and all(a is None for _, a in links)):
            return span
        new_events = [e if n is e.name and a is None else Event(n, a or e.attributes, e.timestamp)
                      for e, n, a in events]
        new_links = [link if a is None else Link(link.context, a) for link, a in links]
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=_bounded(attributes, span.dropped_attributes) if attributes is not None
            else span.attributes,
            events=_bounded_list(new_events, span.dropped_events),
            links=_bounded_list(new_links, span.dropped_links),
            kind=span.kind,
            status=Status(status.status_code, description) if description is not None else status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


def _attributes(r: Redactor, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The attributes redacted, or None when nothing in them changed."""
    if not attributes:
        return None
    out: dict[str, Any] = {}
    changed = False
    for key, value in attributes.items():
        new_key, new = r.redact(key), _value(r, value)
        changed = changed or new is not value or new_key is not key
        out[new_key] = new
    return out if changed else None


def _value(r: Redactor, value: Any) -> Any:
    """An attribute value redacted (the same object when unchanged)."""
    if isinstance(value, str):
        return r.redact(value)
    if isinstance(value, bytes):
        return r.redact_bytes(value)
    if isinstance(value, Sequence):
        items = [_value(r, v) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else tuple(items)
    if isinstance(value, Mapping):
        changed = _attributes(r, value)
        return value if changed is None else changed
    return value


def _bounded(attributes: Mapping[str, Any], dropped: int) -> BoundedAttributes:
    bounded = BoundedAttributes(attributes=attributes, immutable=True)
    bounded.dropped = dropped  # keep the exported dropped count
    return bounded


def _bounded_list(items: list[Any], dropped: int) -> BoundedList[Any]:
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = dropped
    return bounded


# --- the library's own telemetry ---------------------------------------------------------


def instrument(*, tracer_provider: trace.TracerProvider | None = None,
               meter_provider: metrics.MeterProvider | None = None) -> None:
    """Turn on the library's own spans and metrics (off until called).

    Each resolution gets a span ``resolve_credential <provider>`` (INTERNAL) with
    ``agentcore_auth.provider.name``, ``agentcore_auth.credential.kind`` (api_key,
    oauth2), ``agentcore_auth.oauth2.flow``, ``agentcore_auth.oauth2.scopes``,
    ``agentcore_auth.source.name``, ``agentcore_auth.cache.outcome`` (hit, miss,
    coalesced, stale), ``agentcore_auth.upstream.duration`` (seconds, for the
    caller that fetched) and, on failure, ``error.type`` with an ERROR status. The
    fetch runs inside it, so spans of an instrumented botocore nest under it.
    Counters mirror ``resolver.stats``; histograms time resolutions and fetches.
    A cache hit costs a few microseconds more while this is on (a span and metric
    updates): sample spans out with the tracer provider's sampler if that matters.

    Args:
        tracer_provider: default the global one.
        meter_provider: default the global one.
    """
    _telemetry.observer = _OtelObserver(tracer_provider, meter_provider)


def uninstrument() -> None:
    """Turn the library's own telemetry off again."""
    _telemetry.observer = None


class _OtelObserver:
    """Spans and metrics for resolutions; installed as ``_telemetry.observer``."""

    def __init__(self, tracer_provider: trace.TracerProvider | None,
                 meter_provider: metrics.MeterProvider | None) -> None:
        self.tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
        self.counters = {
            "hit": meter.create_counter(
                "agentcore_auth.cache.hits", "{hit}", "Resolutions answered from the cache"),
            "miss": meter.create_counter(
                "agentcore_auth.cache.misses", "{miss}",
                "Resolutions that started an upstream fetch"),
            "coalesced": meter.create_counter(
                "agentcore_auth.cache.coalesced_waits", "{wait}",
                "Resolutions that joined a fetch already under way"),
            "stale": meter.create_counter(
                "agentcore_auth.cache.stale_serves", "{serve}",
                "Expired values served because the source was unavailable"),
        }
        self.invalidations = meter.create_counter(
            "agentcore_auth.cache.invalidations", "{invalidation}",
            "Cache entries dropped by invalidate (e.g. after a 401)")
        self.upstream_calls = meter.create_counter(
            "agentcore_auth.upstream.calls", "{call}", "Fetches that reached the source")
        self.upstream_errors = meter.create_counter(
            "agentcore_auth.upstream.errors", "{error}",
            "Fetches that ended in an error (served stale or not)")
        self.upstream_duration = meter.create_histogram(
            "agentcore_auth.upstream.duration", "s", "Duration of fetches from the source")
        self.resolution_duration = meter.create_histogram(
            "agentcore_auth.resolution.duration", "s", "Duration of credential resolutions")

    def resolution(self, request: CredentialRequest, source: str | None) -> _Record:
        return _Record(self, request, source)

    def invalidated(self, provider_name: str | None, count: int) -> None:
        attributes = {"agentcore_auth.provider.name": provider_name} if provider_name else {}
        self.invalidations.add(count, attributes)


class _Record:
    """One observed resolution: a current span around it, metrics at the end."""

    __slots__ = ("_observer", "_attributes", "_span", "_token", "_started", "outcome",
                 "upstream_s")

    def __init__(self, observer: _OtelObserver, request: CredentialRequest,
                 source: str | None) -> None:
        self._observer = observer
        attributes: dict[str, Any] = {"agentcore_auth.provider.name": request.provider_name,
                                      "agentcore_auth.credential.kind": request.kind}
        if request.kind == "oauth2":
            attributes["agentcore_auth.oauth2.flow"] = request.auth_flow or "M2M"
            attributes["agentcore_auth.oauth2.scopes"] = tuple(request.scopes)
        if source:
            attributes["agentcore_auth.source.name"] = source
        self._attributes = attributes
        self.outcome: _telemetry.Outcome | None = None
        self.upstream_s: float | None = None

    def __enter__(self) -> _Record:
        self._span = self._observer.tracer.start_span(
            f"resolve_credential {self._attributes['agentcore_auth.provider.name']}",
            kind=trace.SpanKind.INTERNAL, attributes=self._attributes)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        observer, span = self._observer, self._span
        elapsed = time.perf_counter() - self._started
        otel_context.detach(self._token)
        metric_attributes = {k: v for k, v in self._attributes.items()
                             if k != "agentcore_auth.oauth2.scopes"}
        outcome = self.outcome
        if outcome is not None:
            span.set_attribute("agentcore_auth.cache.outcome", outcome)
            observer.counters[outcome].add(1, metric_attributes)
            if outcome == "stale":  # a stale serve is also a miss whose fetch failed
                observer.counters["miss"].add(1, metric_attributes)
        if self.upstream_s is not None:
            span.set_attribute("agentcore_auth.upstream.duration", self.upstream_s)
            observer.upstream_calls.add(1, metric_attributes)
            failed = outcome == "stale" or (error is not None and outcome == "miss")
            upstream_attributes = dict(metric_attributes)
            if failed:
                observer.upstream_errors.add(1, metric_attributes)
                upstream_attributes["error.type"] = _error_type(error) if error else "stale"
            observer.upstream_duration.record(self.upstream_s, upstream_attributes)
        resolution_attributes = dict(metric_attributes)
        if outcome is not None:
            resolution_attributes["agentcore_auth.cache.outcome"] = outcome
        if error is not None:
            error_type = _error_type(error)
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
            resolution_attributes["error.type"] = error_type
        observer.resolution_duration.record(elapsed, resolution_attributes)
        span.end()


def _error_type(error: BaseException) -> str:
    """``error.type`` per the conventions: the exception's fully qualified class name."""
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
