"""``protect``: a tracer / logger provider whose every processor gets redacted data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from ._exceptions import ConfigurationError
from ._otel_logs import RedactingLogRecordProcessor
from ._otel_spans import RedactingSpanProcessor
from ._redact import Redactor

__all__ = ["Protection", "protect", "protect_spans", "unprotected_span_processors"]

_MARK = "_agentcore_auth_protected"


@dataclass(frozen=True)
class Protection:
    """What :func:`protect` protected.

    Attributes:
        tracer_provider: the SDK tracer provider protected, or None (none was
            given and the global one is not an SDK provider yet).
        logger_provider: likewise for the Logs SDK.
        span_processors: the provider's processors now, each a
            :class:`RedactingSpanProcessor` (those added later are wrapped too).
        log_record_processors: likewise, each a :class:`RedactingLogRecordProcessor`.
    """

    tracer_provider: TracerProvider | None
    logger_provider: LoggerProvider | None
    span_processors: tuple[SpanProcessor, ...] = ()
    log_record_processors: tuple[LogRecordProcessor, ...] = ()


def protect(*, tracer_provider: TracerProvider | None = None,
            logger_provider: LoggerProvider | None = None,
            redactor: Redactor | None = None) -> Protection:
    """Protect a provider: every processor it has, or is given later, gets redacted data.

    Each span processor of ``tracer_provider`` is wrapped in
    :class:`RedactingSpanProcessor` and each log record processor of
    ``logger_provider`` in :class:`RedactingLogRecordProcessor`, where the SDK
    keeps them (its multi-processor, which tracers and loggers made earlier share),
    and ``add_*_processor`` on that instance wraps what it is given from then on.
    Calling it again is harmless (nothing is wrapped twice). Attributes the SDK
    truncated at set time lose a tail that begins a registered value too.

    Args:
        tracer_provider: an SDK ``TracerProvider``; default the global one (skipped
            when the global one is not an SDK provider yet).
        logger_provider: an SDK ``LoggerProvider``; default the global one (likewise).
        redactor: the registry to use; default :func:`agentcore_auth.default_redactor`.

    Returns:
        A :class:`Protection` naming the providers and their processors now.

    Raises:
        ConfigurationError: a provider given is not the SDK's, or keeps its
            processors somewhere this cannot reach.
    """
    tracers = _provider(tracer_provider, trace.get_tracer_provider, TracerProvider, "tracer")
    loggers = _provider(logger_provider, _logs.get_logger_provider, LoggerProvider, "logger")
    spans: tuple[SpanProcessor, ...] = ()
    logs: tuple[LogRecordProcessor, ...] = ()
    if tracers is not None:
        spans = protect_spans(tracers, redactor)
    if loggers is not None:
        logs = _protect(loggers._multi_log_record_processor, "_log_record_processors",
                        "add_log_record_processor", RedactingLogRecordProcessor, redactor)
    return Protection(tracers, loggers, spans, logs)


def protect_spans(provider: TracerProvider,
                  redactor: Redactor | None = None) -> tuple[SpanProcessor, ...]:
    """The span side of :func:`protect`: ``provider``'s processors, now all wrapped."""
    result: tuple[SpanProcessor, ...] = _protect(
        provider._active_span_processor, "_span_processors", "add_span_processor",
        RedactingSpanProcessor, redactor)
    return result


def unprotected_span_processors(provider: TracerProvider) -> tuple[SpanProcessor, ...]:
    """The processors of ``provider`` that would export spans unredacted."""
    multi = provider._active_span_processor
    found = getattr(multi, "_span_processors", (multi,))
    return tuple(p for p in found if not isinstance(p, RedactingSpanProcessor))


def _provider(given: Any, default: Callable[[], Any], kind: type, what: str) -> Any:
    if given is None:
        found = default()
        return found if isinstance(found, kind) else None
    if not isinstance(given, kind):
        raise ConfigurationError(
            f"protect({what}_provider=...) takes the OpenTelemetry SDK's {kind.__name__} "
            f"(opentelemetry.sdk), not {type(given).__name__}")
    return given


def _protect(multi: Any, slot: str, add: str, wrapper: type, redactor: Redactor | None) -> Any:
    """Wrap the processors ``multi`` holds in ``slot``, and what its ``add`` is given later."""
    if not hasattr(multi, slot) or not hasattr(multi, "_lock"):
        raise ConfigurationError(
            f"cannot protect {type(multi).__name__}: the provider was built with a processor "
            f"that does not hold others; wrap it in {wrapper.__name__} yourself")

    def wrap(processor: Any) -> Any:
        return processor if isinstance(processor, wrapper) else wrapper(
            processor, redactor=redactor)

    with multi._lock:
        setattr(multi, slot, tuple(wrap(p) for p in getattr(multi, slot)))
        if not getattr(multi, _MARK, False):
            original = getattr(multi, add)

            def add_protected(processor: Any) -> None:
                original(wrap(processor))

            setattr(multi, add, add_protected)
            setattr(multi, _MARK, True)
        return getattr(multi, slot)
