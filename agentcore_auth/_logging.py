"""Scrub registered secrets from every log record before any handler or filter sees it.

Design: :func:`install_log_redaction` wraps :meth:`logging.Logger.handle`, the
one method every record a logger emits passes through once, after
``extra=`` fields are set and before the logger's filters and every handler
(including handlers added later, pytest's caplog, :data:`logging.lastResort`,
records propagating from children, records a socket receiver hands to
``logger.handle``). Whatever formatter renders the record afterwards (text,
JSON, rich) sees only markers:

- ``msg`` and ``args``: the message is formatted; only if it held a value is
  the redacted text stored as ``msg`` with ``args=()`` (clean records keep
  their template and args for tools that group by them). A ``%``-format error
  keeps the error (logging reports it) with ``msg`` and every arg redacted.
- every non-standard attribute (``extra=``), recursively: strings and bytes are
  redacted, containers replaced by a scrubbed copy (see
  :meth:`~agentcore_auth.Redactor.redact_obj`), and any other object whose
  ``str()`` shows a value by that redacted text.
- ``exc_info``: the exception object itself, and its chain, are scrubbed in
  place (:func:`agentcore_auth._scrub.sanitize_exception`), so handlers that
  render ``record.exc_info`` themselves are clean; when in-place scrubbing
  cannot reach the value (a custom ``__str__``), ``exc_info`` is replaced by a
  :class:`~agentcore_auth.RedactedError` stand-in. ``exc_text`` and
  ``stack_info`` are redacted.

Cost (``benchmarks/logging_overhead.py``): a record without an exception is
formatted once (formatters reuse that text) and checked with one native scan of
the formatted text; a text shorter than every registered pattern is not
scanned, and the first clean text formatted from each template is remembered
(repeated messages cost a dict lookup and a string comparison). Records that
never reach a logger (a handler's ``handle()`` called directly) are not
covered: attach the :class:`RedactingFilter` that :func:`install_log_redaction`
returns to such handlers.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from ._redact import Redactor, default_redactor

__all__ = [
    "RedactingFilter",
    "ensure_log_redaction",
    "install_log_redaction",
    "scrub_record",
    "uninstall_log_redaction",
]

_PLAIN = logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None)
# Attributes every LogRecord has; anything else came from ``extra=`` (or a custom factory).
_STANDARD = frozenset(_PLAIN.__dict__) | {"message", "asctime"}
_N_BARE = len(_PLAIN.__dict__)  # a record without extras has exactly this many attributes
_SCALARS = (int, float, bool, type(None))
_FAILED = "[REDACTED: log record could not be scrubbed]"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record in place; it never drops one.

    Only needed on handlers that receive records without a logger (a direct
    ``handler.handle(record)``); records from loggers are already scrubbed.

    Args:
        redactor: the registry to use; default :func:`default_redactor`.
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or default_redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_safely(record, self.redactor)
        return True


def _safe_str(obj: object) -> str:
    try:
        return str(obj)
    except Exception:  # a broken __str__ must not break logging
        return f"<unprintable {type(obj).__name__}>"


def scrub_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Redact ``record`` in place: message, args, extras, exception and stack."""
    d = record.__dict__
    if not len(redactor):
        return
    redact = redactor.redact
    msg = record.msg
    args = record.args
    if args:
        try:
            message = record.getMessage()
        except Exception:
            # Leave the format error for logging to report, with nothing secret in it.
            record.msg = redact(_safe_str(msg))
            if isinstance(args, dict):
                record.args = {k: redact(_safe_str(v)) for k, v in args.items()}
            else:
                record.args = tuple(redact(_safe_str(a)) for a in args)
        else:
            redacted = redact(message)
            if redacted is not message:
                record.msg, record.args = redacted, ()
    elif isinstance(msg, str):
        redacted = redact(msg)
        if redacted is not msg:
            record.msg = redacted
    elif msg is not None:
        text = _safe_str(msg)
        redacted = redact(text)
        if redacted is not text:
            record.msg = redacted
    if len(d) != _N_BARE:
        _scrub_extras(d, redactor)
    if record.exc_info:
        _scrub_exc_info(record, redactor)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def _extra_keys(d: dict[str, Any]) -> list[str]:
    """The non-standard attributes: ``extra=`` puts them last, so look from the end."""
    found = []
    for key in reversed(d):
        if key in _STANDARD:
            break
        found.append(key)
    if len(found) != len(d) - _N_BARE:  # not only at the end: look at every one
        found = [key for key in d if key not in _STANDARD]
    return found


def _scrub_extras(d: dict[str, Any], redactor: Redactor) -> None:
    for key in _extra_keys(d):
        value = d[key]
        if isinstance(value, _SCALARS):
            continue
        if isinstance(value, str):
            new: Any = redactor.redact(value)
        else:
            new = redactor.redact_obj(value)
            # What redact_obj does not walk (objects, values inside them): judge the
            # text a formatter would print, and print that text redacted if needed.
            text = _safe_str(new)
            redacted = redactor.redact(text)
            if redacted is not text:
                new = redacted
        if new is not value:
            d[key] = new


def _scrub_exc_info(record: logging.LogRecord, redactor: Redactor) -> None:
    from ._scrub import sanitize_exception

    exc_info = record.exc_info
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[1] is None:
        return
    exc = exc_info[1]
    clean = sanitize_exception(exc, redactor)
    if clean is not exc:
        record.exc_info = (type(clean), clean, exc.__traceback__)
        record.exc_text = None


def _scrub_safely(record: logging.LogRecord, redactor: Redactor) -> None:
    try:
        scrub_record(record, redactor)
    except Exception:  # never let redaction break the caller's log call, never leak
        record.msg, record.args = _FAILED, ()
        record.exc_info = record.exc_text = record.stack_info = None
        d = record.__dict__
        for key in [k for k in d if k not in _STANDARD]:
            d[key] = _FAILED


class _Hook:
    """The state of the wrapped ``Logger.handle``; ``active`` lets uninstall disarm it."""

    def __init__(self, original: Any, flt: RedactingFilter) -> None:
        self.original = original
        self.filter = flt
        self.active = True


_lock = threading.Lock()
_hook: _Hook | None = None


def _make_handle(hook: _Hook) -> Any:
    original = hook.original
    inline = _is_stdlib_function(original, "Logger.handle") and sys.version_info < (3, 14)

    def handle(self: logging.Logger, record: logging.LogRecord) -> Any:
        global _last
        # Nothing marks a record as done: scrubbing twice is harmless, and a new
        # attribute on every record would cost more than the check it saves.
        if not hook.active:
            return original(self, record)
        redactor = hook.filter.redactor
        msg, args = record.msg, record.args
        if (type(msg) is not str or (args and type(args) is not tuple)
                or record.exc_info is not None or record.exc_text or record.stack_info):
            _scrub_safely(record, redactor)  # anything unusual: the careful path
            return original(self, record)
        # The common record: a message (and args, extras), nothing else. This is the
        # hot path of every log call, so it is written out in one function.
        try:
            # The formatted text is what is scanned: a value split between the
            # template and an argument is seen whole.
            text = msg % args if args else msg
            d = record.__dict__
            state = redactor._state
            if state.version == redactor._version and state.probe is not None:
                # One current matcher. A text shorter than every pattern needs no
                # scan; the first clean text formatted from this template is
                # remembered (an equality test: no hashing of a text that varies).
                shortest = state.shortest
                redacted = text  # not looked at yet
                n = len(text)
                memo = state.formatted
                seen = memo.get(msg)
                if n < shortest or seen == text:
                    clean = True
                else:
                    # One native "any match?" scan; wrapped base64 needs the full path, and
                    # lone surrogates (UnicodeEncodeError) the careful one.
                    clean = not state.probe(text) and (n <= 76 or "\n" not in text)
                    # Only a template's first clean text is kept: one whose arguments
                    # vary would replace it on every record and never be hit.
                    if clean and seen is None and n <= _MEMO_MAX_CHARS \
                            and len(msg) <= _MEMO_MAX_CHARS:
                        if len(memo) >= _MEMO_MAX_ENTRIES:
                            memo.clear()
                        memo[msg] = text
            else:  # a rebuild due, or a delta beside the base: the full path
                shortest = 0
                redacted = redactor.redact(text)
                clean = redacted is text
            if len(d) != _N_BARE and not (clean and _extras_clean(d, redactor, shortest)):
                _scrub_extras(d, redactor)
            if not clean:
                if redacted is text:  # the probe found something: replace it
                    redacted = redactor._substitute(text)
                clean = redacted is text
                if not clean:
                    record.msg, record.args = redacted, ()
            reuse = clean and bool(args)
            if reuse:
                # Clean: formatters reuse this text instead of formatting it again.
                _last = (record, msg, args, text)
        except Exception:  # a format error, or worse: the careful path decides
            _scrub_safely(record, redactor)
            reuse = False
        if not inline:
            if not reuse:
                return original(self, record)
            try:
                return original(self, record)
            finally:
                _last = None
        # logging's own Logger.handle, written out: one frame less per record.
        try:
            if not self.disabled:
                kept = self.filter(record)
                if kept:
                    if _FILTER_MAY_REPLACE and isinstance(kept, logging.LogRecord):
                        record = kept
                    self.callHandlers(record)
        finally:
            if reuse:
                _last = None
        return None

    handle.__wrapped__ = original  # type: ignore[attr-defined]
    handle._agentcore_hook = hook  # type: ignore[attr-defined]
    return handle


# Since 3.12 a filter may return a record to pass on instead of the one it was given.
_FILTER_MAY_REPLACE = sys.version_info >= (3, 12)
_MEMO_MAX_CHARS = 512  # clean texts remembered per template (per matcher state) ...
_MEMO_MAX_ENTRIES = 1024  # ... for this many templates: at most about 1 MB


def _extras_clean(d: dict[str, Any], redactor: Redactor, shortest: int) -> bool:
    """True when every ``extra=`` field is a scalar or a clean string.

    ``extra=`` puts the fields last, so they are looked for from the end; a
    record shaped otherwise, a container or an object is left to the per-field
    path. Strings shorter than ``shortest`` (every pattern) are not scanned.
    """
    seen = 0
    for key in reversed(d):
        if key in _STANDARD:
            break
        seen += 1
        value = d[key]
        if isinstance(value, str):
            if len(value) >= shortest and redactor.redact(value) is not value:
                return False
        elif not isinstance(value, _SCALARS):
            return False  # containers and objects: the per-field path walks them
    return seen == len(d) - _N_BARE


# The record a hook just formatted and found clean: (record, msg, args, text). One slot
# for all threads: getMessage trusts it only for the very record with the very msg and
# args objects (the text those give), so another thread's entry is merely a miss.
_last: tuple[logging.LogRecord, object, object, str] | None = None


def _make_get_message(original: Any) -> Any:
    if _is_stdlib_function(original, "LogRecord.getMessage"):
        # logging's own getMessage, written out (one frame less per record).
        def getMessage(self: logging.LogRecord) -> str:  # noqa: N802 - logging's name
            entry = _last
            if entry is not None and entry[0] is self and entry[1] is self.msg \
                    and entry[2] is self.args:
                return entry[3]
            msg = str(self.msg)
            if self.args:
                msg = msg % self.args
            return msg
    else:  # someone else's getMessage: wrap it
        def getMessage(self: logging.LogRecord) -> str:  # noqa: N802 - logging's name
            entry = _last
            if entry is not None and entry[0] is self and entry[1] is self.msg \
                    and entry[2] is self.args:
                return entry[3]
            return original(self)  # type: ignore[no-any-return]

    getMessage.__wrapped__ = original  # type: ignore[attr-defined]
    getMessage._agentcore_get_message = True  # type: ignore[attr-defined]
    return getMessage


def _is_stdlib_function(func: Any, qualname: str) -> bool:
    """Whether ``func`` is logging's own ``qualname`` (not a wrapper of it)."""
    code = getattr(func, "__code__", None)
    return (code is not None and code.co_filename == logging.__file__
            and getattr(func, "__qualname__", None) == qualname)


def _installed() -> bool:
    return _hook is not None and getattr(logging.Logger.handle, "_agentcore_hook", None) is _hook


def install_log_redaction(redactor: Redactor | None = None) -> RedactingFilter:
    """Redact registered secrets from all log records, from now on.

    Also protects every boto3 client in the process (see
    :func:`agentcore_auth.sources.protect_botocore`). Idempotent: a second call
    returns the same filter (switching it to ``redactor`` if one is given).

    Args:
        redactor: the registry to use; default :func:`default_redactor`.

    Returns:
        A filter for handlers that receive records without a logger.
    """
    global _hook
    with _lock:
        if _hook is not None and _hook.active:
            if redactor is not None:
                _hook.filter.redactor = redactor
            if not _installed():
                # Someone replaced Logger.handle without wrapping ours: wrap theirs.
                _hook.active = False
                _hook = _Hook(logging.Logger.handle, _hook.filter)
                logging.Logger.handle = _make_handle(_hook)  # type: ignore[method-assign]
            flt = _hook.filter
        else:
            flt = RedactingFilter(redactor)
            _hook = _Hook(logging.Logger.handle, flt)
            logging.Logger.handle = _make_handle(_hook)  # type: ignore[method-assign]
        if not getattr(logging.LogRecord.getMessage, "_agentcore_get_message", False):
            logging.LogRecord.getMessage = _make_get_message(  # type: ignore[method-assign]
                logging.LogRecord.getMessage)
    from .sources._protect import protect_botocore

    protect_botocore()
    return flt


def ensure_log_redaction() -> None:
    """Install log redaction with the default redactor unless already installed.

    The resolver calls this on its first resolution (``redact_logs=True``).
    """
    if not _installed():
        install_log_redaction()


def uninstall_log_redaction() -> None:
    """Undo :func:`install_log_redaction` (for tests); botocore stays protected."""
    global _hook, _last
    with _lock:
        hook = _hook
        if hook is None:
            return
        hook.active = False
        original = hook.original
        if getattr(logging.Logger.handle, "_agentcore_hook", None) is hook:
            logging.Logger.handle = original  # type: ignore[method-assign]
        get_message = logging.LogRecord.getMessage
        if getattr(get_message, "_agentcore_get_message", False):
            logging.LogRecord.getMessage = get_message.__wrapped__  # type: ignore[attr-defined,method-assign]
        _last = None
        _hook = None
