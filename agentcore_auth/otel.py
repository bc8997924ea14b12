"""OpenTelemetry for agentcore_auth: clean exported spans, and the library's own telemetry.

Install with the ``otel`` extra (``pip install "agentcore-auth[otel]"``).

- :class:`RedactingSpanProcessor` wraps any span processor and hands it spans
  whose name, attributes, events, links and status hold no registered value,
  whichever library wrote them (agent frameworks record tool input and output
  in their spans)::

      provider.add_span_processor(RedactingSpanProcessor(BatchSpanProcessor(OTLPSpanExporter())))

- :func:`protect` protects a provider rather than a processor: every span
  processor and log record processor it has, or is given later, gets redacted
  data (``protect()`` with no argument: the global providers)::

      protect(tracer_provider=provider, logger_provider=logger_provider)

- :class:`RedactingLogRecordProcessor` is the twin of ``RedactingSpanProcessor``
  for the Logs API (GenAI events): body, attributes and event name.

Attributes the SDK truncated at set time (``SpanLimits``/``LogLimits``) lose a
tail that begins a registered value too, so a cut value leaves no prefix behind.

- :func:`instrument` turns on the library's own telemetry (off by default): a
  span per resolution and counters mirroring ``resolver.stats``, named after
  OpenTelemetry's semantic conventions under the ``agentcore_auth`` namespace
  (see the README's table). They carry provider names, flows, scopes, cache
  outcomes, latencies and error types; never a value, a token or a user id.
"""

from __future__ import annotations

import time
import warnings
import weakref
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from . import __version__, _telemetry
from ._credential import CredentialRequest
from ._exceptions import ConfigurationError
from ._otel_logs import RedactingLogRecordProcessor
from ._otel_protect import Protection, protect, protect_spans, unprotected_span_processors
from ._otel_spans import RedactingSpanProcessor

__all__ = ["Protection", "RedactingLogRecordProcessor", "RedactingSpanProcessor", "instrument",
           "protect", "uninstrument"]

_SCOPE = "agentcore_auth"


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

    A ``tracer_provider`` given is protected (:func:`protect`): every processor it
    has or is given later exports redacted spans. With the global one, a warning
    (once per provider) names processors that are not protected; call
    :func:`protect` to protect it.

    Args:
        tracer_provider: default the global one.
        meter_provider: default the global one.
    """
    if tracer_provider is not None and isinstance(tracer_provider, TracerProvider):
        try:
            protect_spans(tracer_provider)
        except ConfigurationError:  # a custom active processor: say so, but still instrument
            _warn_unprotected(tracer_provider)
    else:
        _warn_unprotected(tracer_provider or trace.get_tracer_provider())
    _telemetry.observer = _OtelObserver(tracer_provider, meter_provider)


_warned: weakref.WeakSet[Any] = weakref.WeakSet()


def _warn_unprotected(provider: Any) -> None:
    """Warn once per SDK provider that has a processor exporting unredacted spans."""
    if not isinstance(provider, TracerProvider) or provider in _warned:
        return
    found = unprotected_span_processors(provider)
    if found:
        _warned.add(provider)
        names = ", ".join(type(p).__name__ for p in found)
        warnings.warn(
            f"agentcore_auth.otel.instrument(): the tracer provider has span processors that "
            f"export unredacted spans ({names}); call agentcore_auth.otel.protect() (or wrap "
            "each in RedactingSpanProcessor)", UserWarning, stacklevel=3)


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
