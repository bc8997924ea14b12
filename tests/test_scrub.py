"""Tests for scrub_exception: args, chains, botocore and httpx errors."""

from __future__ import annotations

import traceback

import httpx
import pytest
from botocore.exceptions import ClientError

from agentcore_auth._exceptions import CredentialError
from agentcore_auth._redact import Redactor, default_redactor
from agentcore_auth._scrub import scrub_exception

SECRET = "sk-live-0123456789abcdef"
MARKER = "[REDACTED:weather]"


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.register(SECRET, name="weather")
    return r


def formatted(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def test_args_chain_and_notes(redactor: Redactor) -> None:
    """args (nested), __notes__, __cause__ and __context__ are all scrubbed."""
    try:
        try:
            raise KeyError(("nested", [SECRET], {"k": SECRET.encode()}))
        except KeyError as inner:
            try:
                raise RuntimeError(f"context {SECRET}")
            except RuntimeError:
                raise ValueError(f"outer {SECRET}", 42) from inner
    except ValueError as exc:
        exc.add_note(f"note {SECRET}")
        assert scrub_exception(exc, redactor) is exc
        text = formatted(exc)
        cause = exc.__cause__
        assert cause is not None
        assert SECRET not in text and SECRET not in repr(cause.args)
        assert exc.args == (f"outer {MARKER}", 42)
        assert cause.args[0][1] == [MARKER]
        assert SECRET not in str(exc.__context__) and MARKER in text


def test_exception_groups_and_cycles(redactor: Redactor) -> None:
    """Members of exception groups are scrubbed; context cycles terminate."""
    a, b = ValueError(SECRET), TypeError(SECRET)
    a.__context__, b.__context__ = b, a
    group = ExceptionGroup("many", [a, OSError(2, f"no {SECRET}", f"/data/{SECRET}")])
    scrub_exception(group, redactor)
    assert str(a) == str(b) == MARKER
    os_error = group.exceptions[1]
    assert isinstance(os_error, OSError)
    assert SECRET not in str(os_error) and SECRET not in os_error.filename


def test_botocore_client_error(redactor: Redactor) -> None:
    """ClientError's message and its .response dict are scrubbed."""
    exc = ClientError(
        {"Error": {"Code": "ValidationException", "Message": f"bad key {SECRET}"}},
        "GetResourceApiKey",
    )
    scrub_exception(exc, redactor)
    assert SECRET not in str(exc) and SECRET not in repr(exc.response)
    assert exc.response["Error"]["Code"] == "ValidationException"


def test_httpx_status_error(redactor: Redactor) -> None:
    """HTTPStatusError: message, request URL and headers, response headers and body."""
    request = httpx.Request(
        "GET",
        f"https://api.example.com/x?key={SECRET}",
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    response = httpx.Response(
        401, request=request, headers={"X-Echo": SECRET}, content=f"bad {SECRET}".encode()
    )
    with pytest.raises(httpx.HTTPStatusError) as info:
        response.raise_for_status()
    exc = info.value
    scrub_exception(exc, redactor)
    assert SECRET not in str(exc)
    assert SECRET not in str(exc.request.url) and SECRET not in str(exc.request.headers)
    assert SECRET not in str(exc.response.headers) and SECRET not in exc.response.text
    assert exc.request.headers["authorization"] == "[REDACTED]"


def test_custom_attributes_and_default_redactor() -> None:
    """String attributes (CredentialError fields) are scrubbed; None means the default."""
    value = "default-redactor-value-1"
    default_redactor().register(value, name="d")
    try:
        exc = CredentialError(f"failed {value}", provider_name=value, source="env")
        scrub_exception(exc)
        assert value not in str(exc) and exc.provider_name == "[REDACTED:d]"
    finally:
        default_redactor().unregister(value)


def test_never_raises(redactor: Redactor) -> None:
    """An exception that resists rewriting is returned, not re-raised."""

    class StubbornError(Exception):
        def __setattr__(self, name: str, value: object) -> None:
            raise AttributeError("read-only")

        @property
        def __dict__(self) -> dict[str, object]:  # type: ignore[override]
            raise RuntimeError("no dict")

    exc = StubbornError(SECRET)
    assert scrub_exception(exc, redactor) is exc


class _ComputedMessageError(Exception):
    """Computes its text from state in-place scrubbing cannot reach (like pydantic's)."""

    def __init__(self, hidden: object) -> None:
        super().__init__()
        self._hidden = [hidden]

    def __str__(self) -> str:
        return f"input_value={''.join(self._hidden[0])!r}"  # type: ignore[arg-type]


def test_sanitize_replaces_an_exception_whose_text_is_computed() -> None:
    from agentcore_auth import RedactedError
    from agentcore_auth._scrub import sanitize_exception

    redactor = Redactor()
    secret = "sk-computed-0123456789"
    redactor.register(secret, name="crm")
    original = _ComputedMessageError(tuple(secret))
    out = sanitize_exception(original, redactor)
    assert isinstance(out, RedactedError)
    assert out.original_type.endswith("_ComputedMessageError")
    assert "[REDACTED:crm]" in str(out) and secret not in repr(out)
    clean = ValueError("nothing secret here")
    assert sanitize_exception(clean, redactor) is clean
    scrubbable = ValueError(f"key={secret}")
    assert sanitize_exception(scrubbable, redactor) is scrubbable
    assert secret not in str(scrubbable)
