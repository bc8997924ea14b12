"""``RedactingSpanProcessor``: spans handed on with no registered value (see ``otel.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status

from ._redact import Redactor, default_redactor
from ._stream import truncated_tail

__all__ = ["RedactingSpanProcessor", "redact_value"]


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
        # ReadableSpan.attributes is a read-only view: the limit is on what it shows.
        bounded = getattr(span, "_attributes", None)
        attributes = _attributes(r, span.attributes, getattr(bounded, "max_value_len", None))
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


def _attributes(r: Redactor, attributes: Mapping[str, Any] | None,
                limit: int | None = None) -> dict[str, Any] | None:
    """The attributes redacted, or None when nothing in them changed.

    When the SDK bounded them (``max_value_len``), a string at that length may be
    a cut value: a tail that begins a registered form is redacted too.
    """
    if not attributes:
        return None
    if limit is None:
        limit = getattr(attributes, "max_value_len", None)
    out: dict[str, Any] = {}
    changed = False
    for key, value in attributes.items():
        new_key, new = r.redact(key), redact_value(r, value, limit)
        changed = changed or new is not value or new_key is not key
        out[new_key] = new
    return out if changed else None


def redact_value(r: Redactor, value: Any, limit: int | None = None) -> Any:
    """An attribute (or log body) value redacted: the same object when unchanged.

    ``limit``: the length the SDK truncates strings to; a string of that length
    also loses a tail that begins a registered form (what is left of a cut value).
    """
    if isinstance(value, str):
        new = r.redact(value)
        if limit is not None and len(value) == limit:
            new = truncated_tail(new, r, min(r.min_length, limit))
        return new
    if isinstance(value, bytes):
        return r.redact_bytes(value)
    if isinstance(value, Sequence):
        items = [redact_value(r, v, limit) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else tuple(items)
    if isinstance(value, Mapping):
        changed = _attributes(r, value)
        if changed is None and limit is not None:
            changed = _limited(r, value, limit)
        return value if changed is None else changed
    return value


def _limited(r: Redactor, value: Mapping[str, Any], limit: int) -> dict[str, Any] | None:
    """A nested map (log bodies and attributes) redacted under its parent's limit."""
    out = {k: redact_value(r, v, limit) for k, v in value.items()}
    return out if any(out[k] is not v for k, v in value.items()) else None


def _bounded(attributes: Mapping[str, Any], dropped: int) -> BoundedAttributes:
    bounded = BoundedAttributes(attributes=attributes, immutable=True)
    bounded.dropped = dropped  # keep the exported dropped count
    return bounded


def _bounded_list(items: list[Any], dropped: int) -> BoundedList[Any]:
    bounded = BoundedList.from_seq(None, items)
    bounded.dropped = dropped
    return bounded
