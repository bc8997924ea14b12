"""Scrub registered secrets from every log record before any handler sees it.

Design: :func:`install_log_redaction` wraps the process's log record factory
(:func:`logging.setLogRecordFactory`, the documented hook). Every record a
logger creates passes through it, so one step covers every logger (botocore,
``botocore.parsers``, urllib3, httpx, httpcore, loggers created later), records
propagating from children, every handler (including handlers added later,
pytest's caplog and :data:`logging.lastResort`), at creation, before any
handler formats anything. Logger filters miss propagated records, and a walk
over handlers misses handlers added afterwards; this does neither.

The step formats the message and, only if a value was found, stores the
redacted text as ``msg`` with ``args=()``. A ``%``-format error keeps the
error (logging reports it) but with ``msg`` and every arg redacted. Exceptions
are formatted into a redacted ``exc_text`` (``exc_info`` is kept; formatters use
``exc_text`` when it is set); ``stack_info`` is redacted.

Two gaps remain, covered by the returned :class:`RedactingFilter`, which is also
attached to every handler that exists at install time: ``extra=`` attributes
(set after the factory returns) and records not made by the factory (built by
:func:`logging.makeLogRecord`, e.g. from a socket). Attach it to your own
handlers (``handler.addFilter(...)``) for those. The exception object in
``exc_info`` is not changed; handlers reading it directly (rather than
``exc_text``) should use :func:`agentcore_auth._scrub.scrub_exception`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ._redact import Redactor, default_redactor

__all__ = [
    "RedactingFilter",
    "ensure_log_redaction",
    "install_log_redaction",
    "uninstall_log_redaction",
]

_DONE = "_agentcore_redacted"  # set on records already scrubbed
# Attributes every LogRecord has; anything else came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", _DONE}


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record in place; it never drops one.

    Args:
        redactor: the registry to use; default :func:`default_redactor`.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or default_redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, _DONE, False):
            scrub_record(record, self.redactor)
        redact = self.redactor.redact
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                record.__dict__[key] = redact(value)
        return True


def _safe_str(obj: object) -> str:
    try:
        return str(obj)
    except Exception:  # a broken __str__ must not break logging
        return f"<unprintable {type(obj).__name__}>"


def scrub_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Redact ``record``'s message, args, exception text and stack in place."""
    redact = redactor.redact
    record.__dict__[_DONE] = True
    if not len(redactor):
        return
    try:
        message = record.getMessage()
    except Exception:
        # Leave the format error for logging to report, but with nothing secret in it.
        record.msg = redact(_safe_str(record.msg))
        if isinstance(record.args, dict):
            record.args = {k: redact(_safe_str(v)) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(redact(_safe_str(a)) for a in record.args)
    else:
        redacted = redact(message)
        if redacted is not message:  # untouched records keep msg and args for tools
            record.msg, record.args = redacted, ()
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class _Factory:
    """The wrapping record factory; ``active`` lets uninstall disarm it in place."""

    def __init__(self, previous: Any, flt: RedactingFilter) -> None:
        self.previous = previous
        self.filter = flt
        self.active = True

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.previous(*args, **kwargs)
        if self.active and not getattr(record, _DONE, False):
            try:
                scrub_record(record, self.filter.redactor)
            except Exception:  # never let redaction break the caller's log call
                record.msg, record.args = "[REDACTED: log record could not be scrubbed]", ()
                record.exc_info = record.exc_text = record.stack_info = None
        return record


_lock = threading.Lock()
_factory: _Factory | None = None
_handlers: list[logging.Handler] = []


def _existing_handlers() -> list[logging.Handler]:
    loggers: list[Any] = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    found = [h for lg in loggers for h in getattr(lg, "handlers", ())]
    if logging.lastResort is not None:
        found.append(logging.lastResort)
    return list(dict.fromkeys(found))


def install_log_redaction(redactor: Redactor | None = None) -> RedactingFilter:
    """Redact registered secrets from all log records, from now on.

    Idempotent: a second call returns the same filter (switching it to
    ``redactor`` if one is given).

    Args:
        redactor: the registry to use; default :func:`default_redactor`.

    Returns:
        The filter, already on every current handler; add it to handlers that
        use ``extra=`` fields or receive records from elsewhere.
    """
    global _factory
    with _lock:
        if _factory is not None and _factory.active:
            if redactor is not None:
                _factory.filter.redactor = redactor
            if logging.getLogRecordFactory() is not _factory:
                # Someone replaced the factory without wrapping ours: wrap theirs.
                _factory = _Factory(logging.getLogRecordFactory(), _factory.filter)
                logging.setLogRecordFactory(_factory)
            return _factory.filter
        flt = RedactingFilter(redactor)
        _factory = _Factory(logging.getLogRecordFactory(), flt)
        logging.setLogRecordFactory(_factory)
        for handler in _existing_handlers():
            if flt not in handler.filters:
                handler.addFilter(flt)
                _handlers.append(handler)
        return flt


def ensure_log_redaction() -> None:
    """Install log redaction with the default redactor unless already installed.

    The resolver calls this on its first resolution (``redact_logs=True``).
    """
    if _factory is None or not _factory.active or logging.getLogRecordFactory() is not _factory:
        install_log_redaction()


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (for tests)."""
    global _factory
    with _lock:
        if _factory is None:
            return
        _factory.active = False
        if logging.getLogRecordFactory() is _factory:
            logging.setLogRecordFactory(_factory.previous)
        for handler in _handlers:
            handler.removeFilter(_factory.filter)
        _handlers.clear()
        _factory = None
