"""Issue #20: every field of every record, whatever handler or formatter renders it."""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from agentcore_auth import RedactedError
from agentcore_auth._logging import install_log_redaction, uninstall_log_redaction
from agentcore_auth._redact import Redactor, secret_patterns

SECRET = "sk-live/\"q'+é-0123456789abcdef"


def assert_clean(text: str, marker: bool = True) -> None:
    leaked = [p for p in secret_patterns(SECRET) if p in text]
    assert not leaked, text
    if marker:
        assert "[REDACTED:weather]" in text or "[REDACTED]" in text, text


@pytest.fixture
def installed() -> Iterator[Redactor]:
    r = Redactor()
    r.register(SECRET, name="weather")
    install_log_redaction(r)
    yield r
    uninstall_log_redaction()


class JsonFormatter(logging.Formatter):
    """Renders exc_info itself, as python-json-logger and structlog's renderers do."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {"message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key in ("ctx", "headers", "items", "user"):
                payload[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            payload["exc_type"] = type(exc).__name__
            payload["exc_repr"] = repr(exc)
            payload["exc_args"] = [str(a) for a in exc.args]
            payload["traceback"] = "".join(traceback.format_exception(*record.exc_info))
            payload["cause"] = repr(exc.__cause__)
        return json.dumps(payload, default=str, ensure_ascii=False)


def _later_handler(logger: logging.Logger, formatter: logging.Formatter) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return out


def test_extras_of_every_shape_reach_a_handler_added_after_install(installed: Redactor) -> None:
    """String, dict and list extras, through a handler nobody attached a filter to."""
    logger = logging.getLogger("i20.extras")
    out = _later_handler(logger, logging.Formatter("%(message)s|%(ctx)s|%(headers)s|%(items)s"))
    try:
        logger.info("call", extra={
            "ctx": f"key={SECRET}",
            "headers": {"Accept": "json", "X-Api-Key": SECRET, "Authorization": "Bearer abc12345"},
            "items": [("nested", {"deep": [SECRET.encode()]})],
        })
    finally:
        logger.handlers.clear()
    text = out.getvalue()
    assert_clean(text)
    assert "'Accept': 'json'" in text and "[REDACTED]" in text  # key-based layer too


def test_json_formatter_rendering_exc_info_itself(installed: Redactor) -> None:
    """The exception object (and its cause) is scrubbed, not only exc_text."""
    logger = logging.getLogger("i20.json")
    out = _later_handler(logger, JsonFormatter())
    try:
        try:
            try:
                raise KeyError(f"lookup of {SECRET}")
            except KeyError as inner:
                raise ValueError("request failed", {"key": SECRET}) from inner
        except ValueError:
            logger.exception("tool failed")
    finally:
        logger.handlers.clear()
    record = json.loads(out.getvalue())
    assert record["exc_type"] == "ValueError" and "Traceback" in record["traceback"]
    assert_clean(out.getvalue())
    assert "[REDACTED:weather]" in record["cause"]


class OpaqueError(Exception):
    """An exception whose message is computed from a hidden attribute scrubbing cannot reach."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self._hidden = lambda: key  # a closure: no container for scrubbing to walk

    def __str__(self) -> str:
        return f"upstream refused {self._hidden()}"


def test_exception_scrubbing_cannot_reach_is_replaced_by_a_stand_in(installed: Redactor) -> None:
    logger = logging.getLogger("i20.opaque")
    out = _later_handler(logger, JsonFormatter())
    try:
        try:
            raise OpaqueError(SECRET)
        except OpaqueError:
            logger.error("failed", exc_info=True)
    finally:
        logger.handlers.clear()
    record = json.loads(out.getvalue())
    assert record["exc_type"] == "RedactedError"
    assert "OpaqueError" in record["exc_repr"] or "OpaqueError" in record["traceback"]
    assert_clean(out.getvalue())


def test_logger_filters_see_the_redacted_record(installed: Redactor) -> None:
    """Scrubbing happens before the logger's own filters (which may ship records elsewhere)."""
    seen: list[str] = []

    class Shipper(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            seen.append(record.getMessage() + str(record.__dict__.get("ctx")))
            return True

    logger = logging.getLogger("i20.filters")
    shipper = Shipper()
    logger.addFilter(shipper)
    try:
        logger.warning("key %s", SECRET, extra={"ctx": SECRET})
    finally:
        logger.removeFilter(shipper)
    assert seen
    assert_clean(seen[0])


def test_records_handed_to_a_logger_from_elsewhere(installed: Redactor) -> None:
    """makeLogRecord + logger.handle (what a socket or queue receiver does)."""
    logger = logging.getLogger("i20.socket")
    out = _later_handler(logger, logging.Formatter("%(message)s %(ctx)s %(exc_text)s"))
    try:
        record = logging.makeLogRecord({"msg": "got %s", "args": (SECRET,), "ctx": [SECRET],
                                        "levelno": logging.INFO, "levelname": "INFO",
                                        "exc_text": f"Traceback: {SECRET}"})
        logger.handle(record)
    finally:
        logger.handlers.clear()
    assert_clean(out.getvalue())


def test_objects_whose_str_shows_a_value(installed: Redactor) -> None:
    class Holder:
        def __str__(self) -> str:
            return f"Holder({SECRET})"

    logger = logging.getLogger("i20.objects")
    out = _later_handler(logger, logging.Formatter("%(message)s %(user)s"))
    try:
        logger.info(Holder(), extra={"user": Holder()})
    finally:
        logger.handlers.clear()
    assert_clean(out.getvalue())


def test_clean_records_are_left_untouched(installed: Redactor) -> None:
    """No value: template and args stay as they were (tools group by them), extras equal."""
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger = logging.getLogger("i20.clean")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    headers = {"Accept": "json"}
    try:
        logger.info("GET %s", "/v1/forecast", extra={"headers": headers})
    finally:
        logger.handlers.clear()
    record = captured[0]
    assert record.msg == "GET %s" and record.args == ("/v1/forecast",)
    assert record.__dict__["headers"] == headers


def test_stand_in_type_is_exported() -> None:
    assert issubclass(RedactedError, Exception)


def test_exc_text_without_exc_info(installed: Redactor) -> None:
    """A record received from elsewhere carries exc_text (and no exc_info): redacted too."""
    logger = logging.getLogger("i20.exc_text")
    out = _later_handler(logger, logging.Formatter("%(message)s"))
    try:
        logger.handle(logging.makeLogRecord({
            "msg": "remote failure", "levelno": logging.ERROR, "levelname": "ERROR",
            "exc_text": f"Traceback (most recent call last):\nValueError: {SECRET}"}))
    finally:
        logger.handlers.clear()
    assert "remote failure" in out.getvalue() and "Traceback" in out.getvalue()
    assert_clean(out.getvalue())


def test_formatters_reuse_the_hooks_formatting_only_for_that_record() -> None:
    """The clean text the hook formatted is reused by formatters of that record alone."""
    from agentcore_auth._logging import _installed

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    logger = logging.getLogger("agentcore_auth.tests.reuse")
    handler = Keep()
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    was = _installed()
    install_log_redaction()
    try:
        for i in range(3):
            logger.info("request %d for %s", i, "alice")
        other = logging.LogRecord("n", logging.INFO, "p", 1, "x=%s", ("y",), None)
        assert other.getMessage() == "x=y"
        assert lines == [f"request {i} for alice" for i in range(3)]
    finally:
        logger.removeHandler(handler)
        if not was:
            uninstall_log_redaction()
    if not was:
        assert not hasattr(logging.LogRecord.getMessage, "_agentcore_get_message")


def test_value_split_between_template_and_arguments() -> None:
    """A value cut across the template and an argument (or two arguments) is caught
    in the formatted text, also after clean records of the same template were
    remembered; the control (redaction not installed) shows the split reassembles."""
    r = Redactor()
    r.register(SECRET, name="weather")
    head, tail = SECRET[:10], SECRET[10:]
    logger = logging.getLogger("i30.split")
    out = _later_handler(logger, logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit() -> None:
        for i in range(3):  # clean records of the same templates first: the memo
            logger.info(f"key={head}%s for request %d", "x" * len(tail), i)
            logger.info("key=%s%s for request %d", head, "y" * len(tail), i)
        logger.info(f"key={head}%s for request %d", tail, 3)
        logger.info("key=%s%s for request %d", head, tail, 4)
        logger.info("key=%s for request %d", SECRET, 5, extra={"route": f"/v1/{tail}"})

    try:
        emit()  # control: without redaction the value shows up whole
        assert out.getvalue().count(SECRET) == 3
        out.seek(0)
        out.truncate()
        install_log_redaction(r)
        try:
            emit()
        finally:
            uninstall_log_redaction()
    finally:
        logger.handlers.clear()
    lines = out.getvalue().splitlines()
    assert len(lines) == 9
    assert_clean(out.getvalue())
    assert all("[REDACTED:weather]" in line for line in lines[6:]), lines


def test_long_extra_fields_are_scanned_short_ones_skipped_safely() -> None:
    """extra= strings at least as long as a value are scanned; the clean fast path
    keeps the record as it was (control: the value reaches the handler uninstalled)."""
    r = Redactor()
    r.register(SECRET, name="weather")
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger = logging.getLogger("i30.extras")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info("done", extra={"route": "/v1", "token": f"t={SECRET}", "n": 2})
        assert captured[-1].__dict__["token"] == f"t={SECRET}"  # control
        install_log_redaction(r)
        try:
            logger.info("done", extra={"route": "/v1", "token": f"t={SECRET}", "n": 2})
            logger.info("done", extra={"route": "/v1", "note": "x" * 64, "n": 2})
        finally:
            uninstall_log_redaction()
    finally:
        logger.handlers.clear()
    dirty, clean = captured[-2], captured[-1]
    assert_clean(dirty.__dict__["token"])
    assert dirty.__dict__["route"] == "/v1" and dirty.__dict__["n"] == 2
    assert clean.__dict__["note"] == "x" * 64 and clean.msg == "done"
