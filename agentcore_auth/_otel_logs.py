"""``RedactingLogRecordProcessor``: OpenTelemetry log records with no registered value."""

from __future__ import annotations

import copy
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

from ._otel_spans import _attributes, redact_value
from ._redact import Redactor, default_redactor

__all__ = ["RedactingLogRecordProcessor"]


class RedactingLogRecordProcessor(LogRecordProcessor):
    """Hands ``processor`` a redacted copy of every log record emitted (the Logs API).

    The twin of :class:`RedactingSpanProcessor` for the OpenTelemetry Logs SDK:
    the record's body (a string, bytes, or strings inside lists and maps), its
    attributes (a string the SDK cut at the attribute length limit loses a tail
    that begins a registered value too), event name and severity text are scrubbed
    of every registered value in every encoding the redactor knows. GenAI tool
    events (``gen_ai.tool.message`` and the like) carry tool input and output in
    their body. A clean record is passed on as it is; the record other processors
    see is never changed.

    Args:
        processor: the processor to protect, e.g. ``BatchLogRecordProcessor(exporter)``.
        redactor: the registry to use; default :func:`agentcore_auth.default_redactor`.
    """

    def __init__(self, processor: LogRecordProcessor, *,
                 redactor: Redactor | None = None) -> None:
        self._processor = processor
        self._redactor = redactor

    def __repr__(self) -> str:
        return f"RedactingLogRecordProcessor({self._processor!r})"

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        """Hand the wrapped processor the record, redacted."""
        self._processor.on_emit(self.redact_record(log_record))

    def enabled(self, **kwargs: Any) -> bool:
        """Whether the wrapped processor would take such a record."""
        return self._processor.enabled(**kwargs)

    def shutdown(self) -> None:
        """Shut the wrapped processor down."""
        self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped processor."""
        return self._processor.force_flush(timeout_millis)

    def redact_record(self, log_record: ReadWriteLogRecord) -> ReadWriteLogRecord:
        """``log_record`` if it holds no registered value, else a redacted copy."""
        r = self._redactor or default_redactor()
        record = log_record.log_record
        attributes = record.attributes
        limit = getattr(attributes, "max_value_len", None)
        body = redact_value(r, record.body)  # bodies are not truncated
        new_attributes = _attributes(r, attributes)
        fields = {name: r.redact(text) for name in ("event_name", "severity_text")
                  if isinstance(text := getattr(record, name, None), str)}
        changed = {k: v for k, v in fields.items() if v is not getattr(record, k)}
        if body is record.body and new_attributes is None and not changed:
            return log_record
        inner = copy.copy(record)
        inner.body = body
        for name, text in changed.items():
            setattr(inner, name, text)
        if new_attributes is not None:
            bounded = BoundedAttributes(attributes=new_attributes, immutable=False,
                                        extended_attributes=True)
            bounded.dropped = getattr(attributes, "dropped", 0)
            bounded.max_value_len = limit
            inner.attributes = bounded
        outer = copy.copy(log_record)
        outer.log_record = inner
        return outer
