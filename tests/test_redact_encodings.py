"""The encodings a registered value is recognised in (issue #20): each one checked here."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from agentcore_auth._redact import Redactor, secret_patterns

# Non-ASCII, quotes, a slash, a plus and HTML-special characters: every encoding differs.
SECRET = "sk-live/<&>\"q'+é=0123456789abcdef"
LONG = "pem-line-" + "0123456789ABCDEFabcdef+/" * 6  # its base64 spans several 76-char lines


def _redactor(*values: str) -> Redactor:
    r = Redactor()
    for value in values:
        r.register(value, name="weather")
    return r


def _assert_redacted(r: Redactor, text: str, *secrets: str) -> str:
    out = r.redact(text)
    assert "[REDACTED:weather]" in out, out
    for secret in secrets or (SECRET,):
        for pattern in secret_patterns(secret):
            assert pattern not in out, (pattern, out)
    return out


def _go_html_safe(value: str) -> str:
    """What HTML-safe JSON encoders (Go's encoding/json, .NET) emit: <>&'+= escaped."""
    text = json.dumps(value)[1:-1]
    for char in "<>&'+=":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def _all_escaped(value: str, upper: bool) -> str:
    units = value.encode("utf-16-be")
    spec = "04X" if upper else "04x"
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):{spec}}"
                   for i in range(0, len(units), 2))


ENCODINGS: dict[str, Callable[[str], str]] = {
    "hex": lambda v: v.encode().hex(),
    "HEX": lambda v: v.encode().hex().upper(),
    "base32": lambda v: base64.b32encode(v.encode()).decode(),
    "base32 unpadded": lambda v: base64.b32encode(v.encode()).decode().rstrip("="),
    "json \\u every char": lambda v: _all_escaped(v, upper=False),
    "json \\U every char": lambda v: _all_escaped(v, upper=True),
    "json html-safe": _go_html_safe,
    "double url": lambda v: quote(quote(v, safe=""), safe=""),
    "double url plus": lambda v: quote(quote_plus(v), safe=""),
    "double url lower hex": lambda v: re.sub(
        "%[0-9A-F]{2}", lambda m: m.group().lower(), quote(quote(v, safe=""), safe="")),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_encoding_is_recognised(encoding: str) -> None:
    encoded = ENCODINGS[encoding](SECRET)
    assert SECRET not in encoded
    _assert_redacted(_redactor(SECRET), f"payload={encoded}; done")


@pytest.mark.parametrize("offset", range(5))
def test_base32_inside_a_longer_blob_at_every_alignment(offset: int) -> None:
    """base32(b"user:" + key) with the key at any byte offset mod 5."""
    blob = base64.b32encode(b"u" * offset + SECRET.encode() + b"tail").decode()
    _assert_redacted(_redactor(SECRET), f"auth {blob}")


@pytest.mark.parametrize("offset", range(3))
def test_hex_inside_a_hex_dump(offset: int) -> None:
    dump = (b"\x00" * offset + SECRET.encode() + b"\xff").hex()
    _assert_redacted(_redactor(SECRET), dump)


@pytest.mark.parametrize("offset", range(0, 80, 7))
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_base64_wrapped_at_76_characters(offset: int, newline: str) -> None:
    """base64.encodebytes (MIME) of a body holding the value at any offset: line breaks inside."""
    body = b"x" * offset + LONG.encode() + b" and " + SECRET.encode() + b" end"
    wrapped = base64.encodebytes(body).decode().replace("\n", newline)
    assert newline in wrapped.strip()
    r = _redactor(LONG, SECRET)
    out = _assert_redacted(r, f"MIME body:\n{wrapped}trailer", LONG, SECRET)
    assert out.startswith("MIME body:\n") and out.endswith("trailer")


def test_wrapped_base64_without_a_value_is_returned_as_is() -> None:
    text = "blob:\n" + base64.encodebytes(b"nothing secret here " * 20).decode()
    r = _redactor(SECRET)
    assert r.redact(text) is text
