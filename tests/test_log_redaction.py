"""Tests for log redaction: real loggers at DEBUG, real handlers, real HTTP."""

from __future__ import annotations

import gc
import io
import json
import logging
import sys
import threading
import weakref
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import boto3
import httpx
import pytest

from agentcore_auth._logging import (
    RedactingFilter,
    ensure_log_redaction,
    install_log_redaction,
    uninstall_log_redaction,
)
from agentcore_auth._redact import Redactor, default_redactor, secret_patterns

# Quotes, slashes, a plus and non-ASCII: every log encoding differs from the raw value.
SECRET = "sk-live/\"q'+é-0123456789abcdef"
LOGGERS = ["", "botocore", "botocore.parsers", "urllib3", "httpx", "httpcore"]


def assert_clean(text: str) -> None:
    leaked = [p for p in secret_patterns(SECRET) if p in text]
    assert not leaked, text
    assert "[REDACTED:weather]" in text, text


@pytest.fixture
def redactor() -> Iterator[Redactor]:
    """Redaction installed, every interesting logger at DEBUG, restored afterwards."""
    r = Redactor()
    r.register(SECRET, name="weather")
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    install_log_redaction(r)
    yield r
    uninstall_log_redaction()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A real StreamHandler on the root logger, added after installation."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    yield out
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("name", LOGGERS)
def test_every_logger(redactor: Redactor, stream: io.StringIO, name: str) -> None:
    """Records from each logger reach a later-added handler redacted."""
    logging.getLogger(name).debug("value %s and %r", SECRET, {"k": SECRET})
    assert_clean(stream.getvalue())


def test_child_logger_created_after_install(
    redactor: Redactor, stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    """A child logger created later propagates redacted records to caplog and handlers."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("late.child.logger").info("got %(key)s", {"key": SECRET})
    assert_clean(stream.getvalue())
    assert_clean(caplog.text)
    assert SECRET not in caplog.records[-1].getMessage()


def test_handler_that_existed_before_install(stream: io.StringIO) -> None:
    """A handler attached before installation gets redacted records, extras included."""
    r = Redactor()
    r.register(SECRET, name="weather")
    flt = install_log_redaction(r)
    try:
        assert install_log_redaction() is flt  # idempotent
        ensure_log_redaction()
        assert hasattr(logging.Logger.handle, "_agentcore_hook")
        logging.getLogger("before").warning("plain %s", SECRET, extra={"ctx": f"x {SECRET}"})
        assert_clean(stream.getvalue())
    finally:
        uninstall_log_redaction()
    assert not hasattr(logging.Logger.handle, "_agentcore_hook")


def test_reinstalls_over_a_replaced_logger_handle(stream: io.StringIO) -> None:
    """Someone replacing Logger.handle after us: the next install wraps theirs."""
    r = Redactor()
    r.register(SECRET, name="weather")
    install_log_redaction(r)
    ours = logging.Logger.handle
    try:
        logging.Logger.handle = ours.__wrapped__  # type: ignore[attr-defined,method-assign]
        ensure_log_redaction()
        assert logging.Logger.handle is not ours
        logging.getLogger("replaced").warning("plain %s", SECRET)
        assert_clean(stream.getvalue())
    finally:
        uninstall_log_redaction()
        logging.Logger.handle = ours.__wrapped__  # type: ignore[attr-defined,method-assign]


def test_last_resort(redactor: Redactor, capsys: pytest.CaptureFixture[str]) -> None:
    """A record with no handler anywhere goes to logging.lastResort, redacted."""
    lonely = logging.getLogger("lonely.no.handlers")
    lonely.propagate = False
    try:
        lonely.warning("last resort %s", SECRET)
    finally:
        lonely.propagate = True
    assert_clean(capsys.readouterr().err)


def test_exc_info_and_stack_info(redactor: Redactor, stream: io.StringIO) -> None:
    """Exception text and stack info are redacted before formatting."""
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        logging.getLogger("exc").exception("failed")
    logging.getLogger("stack").debug("here", stack_info=True)
    logging.getLogger("stack").debug(f"inline {SECRET}")
    text = stream.getvalue()
    assert_clean(text)
    assert "Traceback" in text and "Stack (most recent call last)" in text


def test_format_errors_are_reported_redacted(
    redactor: Redactor, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken %-format still reports the logging error, with nothing secret in it."""
    # Off the root logger: pytest's own handlers raise on logging errors.
    logger = logging.getLogger("fmt.isolated")
    logger.propagate = False
    logger.addHandler(logging.StreamHandler(sys.stderr))
    try:
        logger.error("%d is not a number: %s", SECRET, SECRET)
        logger.error("%(missing)s", {"key": SECRET})
    finally:
        logger.handlers.clear()
        logger.propagate = True
    err = capsys.readouterr().err
    assert err.count("Logging error") == 2
    assert_clean(err)


def test_extras_are_redacted_without_any_filter(redactor: Redactor) -> None:
    """extra= attributes reach a handler without the filter redacted."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s %(ctx)s"))
    logging.getLogger("extra").addHandler(handler)
    try:
        logging.getLogger("extra").info("ok", extra={"ctx": SECRET})
    finally:
        logging.getLogger("extra").removeHandler(handler)
    assert_clean(out.getvalue())


def test_foreign_records_through_the_filter() -> None:
    """Records made by makeLogRecord (not the factory) are scrubbed by the filter."""
    r = Redactor()
    r.register(SECRET, name="weather")
    record = logging.makeLogRecord({"msg": "got %s", "args": (SECRET,), "exc_text": SECRET})
    assert RedactingFilter(r).filter(record)
    assert_clean(record.getMessage() + str(record.exc_text))


def test_no_values_registered_leaves_records_alone() -> None:
    """With nothing registered, msg and args are untouched."""
    install_log_redaction(Redactor())
    try:
        record = logging.getLogger("x").makeRecord("x", 10, "f", 1, "a %s", ("b",), None)
        assert record.msg == "a %s" and record.args == ("b",)
    finally:
        uninstall_log_redaction()
    assert default_redactor() is not None


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:weather-AbCdEf",
                "Name": "weather",
                "SecretString": json.dumps({"apiKey": SECRET}),
                "VersionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
                "VersionStages": ["AWSCURRENT"],
                "CreatedDate": 1.7e9,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("X-Echo-Key", json.dumps(SECRET)[1:-1].encode().decode("latin-1"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815  # http.server's naming

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """A loopback HTTP server answering like Secrets Manager's GetSecretValue."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_real_boto3_and_httpx_calls_at_debug(
    redactor: Redactor, stream: io.StringIO, caplog: pytest.LogCaptureFixture, server: str
) -> None:
    """botocore's body dump and httpx/httpcore header logs come out redacted."""
    caplog.set_level(logging.DEBUG)
    client = boto3.client(
        "secretsmanager",
        endpoint_url=server,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    value = client.get_secret_value(SecretId="weather")["SecretString"]
    assert json.loads(value)["apiKey"] == SECRET
    with httpx.Client() as http:
        auth = {"Authorization": f"Bearer {quote(SECRET)}"}
        http.get(server, params={"key": SECRET}, headers=auth)
    text = stream.getvalue()
    assert "botocore.parsers" in text and "httpcore" in text and "HTTP Request" in text
    assert_clean(text)
    assert_clean(caplog.text)
    assert sys.modules["httpx"] is httpx


def _replacement(record: logging.LogRecord) -> logging.LogRecord:
    return logging.makeLogRecord({"name": "replacement", "msg": "new %s", "args": ("record",),
                                  "levelno": logging.WARNING})


class _ReplacingLogger(logging.Logger):
    """A logger whose own filter returns another record (truthy: 3.11 passes on its own)."""

    def filter(self, record: logging.LogRecord) -> Any:
        return _replacement(record)


def _deliver(scenario: str) -> str:
    """What a logger's handler prints for records with and without args, logged and handed in."""
    cls = _ReplacingLogger if scenario == "replaced by the logger" else logging.Logger
    logger = cls(f"agentcore.tests.deliver.{scenario}", logging.DEBUG)
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    if scenario == "dropped":
        logger.addFilter(lambda record: False)
    elif scenario == "kept":
        logger.addFilter(lambda record: True)
    elif scenario == "replaced by a filter":  # since 3.12 logging passes that record on
        logger.addFilter(_replacement)
    logger.warning("request %d for %s", 7, "alice")
    logger.warning("no args")
    logger.disabled = scenario == "disabled"  # logging's own calls never reach handle() then
    for msg, args in (("received %d for %s", (8, "bob")), ("received, no args", ())):
        logger.handle(logging.makeLogRecord(
            {"name": "socket", "msg": msg, "args": args, "levelno": logging.WARNING}))
    return out.getvalue()


@pytest.mark.parametrize(
    "scenario", ["kept", "disabled", "dropped", "replaced by a filter", "replaced by the logger"])
def test_records_are_passed_on_as_logging_itself_passes_them(scenario: str) -> None:
    """The hook writes out logging's own Logger.handle: the same records reach handlers."""
    uninstall_log_redaction()
    expected = _deliver(scenario)
    r = Redactor()
    r.register(SECRET, name="weather")
    install_log_redaction(r)
    try:
        assert _deliver(scenario) == expected
    finally:
        uninstall_log_redaction()
    assert expected.count("\n") == {"disabled": 2, "dropped": 0}.get(scenario, 4)


def test_a_failing_logger_filter_leaves_no_reference_to_the_record(redactor: Redactor) -> None:
    """The clean text handed to the formatter is let go even when a filter raises."""
    logger = logging.getLogger("agentcore.tests.failing_filter")
    seen: list[weakref.ref[logging.LogRecord]] = []

    def failing(record: logging.LogRecord) -> bool:
        seen.append(weakref.ref(record))
        raise RuntimeError("the filter failed")

    logger.addFilter(failing)
    try:
        logger.warning("request %d for %s", 7, "alice")
    except RuntimeError:
        pass
    finally:
        logger.removeFilter(failing)
    gc.collect()
    assert len(seen) == 1 and seen[0]() is None
