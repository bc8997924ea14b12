"""The encodings a registered value is looked for in: :func:`secret_patterns`.

Each form is a plain string the matcher searches for. Base64 and base32 are
covered at every byte offset (the characters fixed by the value alone), so a
value inside a longer encoded blob (``Basic base64(user:key)``) is found.
``tests/test_redact_encodings.py`` checks every form listed in the README.
"""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

__all__ = ["MIN_SECRET_LENGTH", "secret_patterns"]

MIN_SECRET_LENGTH = 8
"""Shorter values (and encoding fragments) are refused: they would blank ordinary words."""

_HEX_ESCAPE = re.compile(r"%[0-9A-F]{2}")
_HTML_SAFE = "<>&'+="  # what HTML-safe JSON encoders write as \\u escapes


def _b64_cores(data: bytes, altchars: bytes | None) -> set[str]:
    """Base64 characters fixed by ``data`` alone, at each of the 3 byte alignments.

    Inside a longer blob such as ``base64(b"user:" + secret)`` the secret may start
    at any byte offset mod 3; the characters that straddle its edges depend on the
    neighbours, the ones in between do not.
    """
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data, altchars).decode("ascii")
        first = -(-8 * shift // 6)  # first char whose 6 bits all come from data
        last = (8 * (shift + len(data))) // 6  # one past the last such char
        cores.add(encoded[first:last])
    return cores


def _repr_bodies(text: str) -> set[str]:
    """How ``text`` looks inside ``repr(text)`` and ``repr(text.encode())``.

    botocore logs response bodies as bytes reprs. Which quote the repr escapes
    depends on the whole object, so both styles are produced: a trailing ``"``
    forces single quotes (``'`` escaped), a trailing ``'`` double quotes if possible.
    """
    data = text.encode("utf-8")
    return {
        repr(text + '"')[1:-2],
        repr(text + "'")[1:-2],
        repr(data + b'"')[2:-2],
        repr(data + b"'")[2:-2],
    }


def _b32_cores(data: bytes) -> set[str]:
    """Base32 characters fixed by ``data`` alone, at each of the 5 byte alignments."""
    cores = set()
    for shift in range(5):
        encoded = base64.b32encode(b"\0" * shift + data).decode("ascii")
        first = -(-8 * shift // 5)
        last = (8 * (shift + len(data))) // 5
        cores.add(encoded[first:last])
    return cores


def _json_unicode_escapes(text: str) -> set[str]:
    """``text`` with JSON ``\\uXXXX`` escapes, hex in either case: every character
    escaped, or JSON as HTML-safe encoders write it (Go, .NET: ``<>&'+=`` escaped)."""
    units = text.encode("utf-16-be", "surrogatepass").hex()
    every = "".join(["\\u" + units[i:i + 4] for i in range(0, len(units), 4)])
    forms = {every, every.upper().replace("\\U", "\\u")}
    for ascii_only in (True, False):
        escaped = json.dumps(text, ensure_ascii=ascii_only)[1:-1]
        if any(char in escaped for char in _HTML_SAFE):
            for upper in (False, True):
                html_safe = escaped
                for char in _HTML_SAFE:
                    html_safe = html_safe.replace(char, f"\\u{ord(char):04{'X' if upper else 'x'}}")
                forms.add(html_safe)
    return forms


def _text_forms(text: str) -> set[str]:
    """Textual encodings of one form: raw, JSON, HTML/XML, URL, reprs, Bearer."""
    forms = {text, "Bearer " + text}
    for escaped in (json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]):
        forms.add(escaped)
        forms.add(escaped.replace("/", "\\/"))
        forms.update(_repr_bodies(escaped))
    forms.update(_repr_bodies(text))
    escaped_html = html.escape(text)
    forms.update((escaped_html, html.escape(text, quote=False)))
    forms.add(escaped_html.replace("&#x27;", "&#39;").replace("&quot;", "&#34;"))
    forms.update(_json_unicode_escapes(text))
    for url in (quote(text, safe=""), quote(text), quote_plus(text), quote_plus(text, safe="/")):
        for once in (url, _HEX_ESCAPE.sub(lambda m: m.group(0).lower(), url)):
            forms.add(once)
            twice = quote(once, safe="")  # double URL-encoding: "%" becomes "%25"
            forms.update((twice, _HEX_ESCAPE.sub(lambda m: m.group(0).lower(), twice)))
    return forms


def secret_patterns(value: str, min_length: int = MIN_SECRET_LENGTH) -> frozenset[str]:
    """Every string :class:`Redactor` looks for when ``value`` is registered.

    Args:
        value: the secret.
        min_length: patterns shorter than this are left out.

    Returns:
        The raw value and its encodings, and those of each line of a multi-line value.
    """
    bases = {value}
    if "\n" in value or "\r" in value:
        bases.update(line.strip() for line in value.splitlines())
    patterns: set[str] = set()
    for base in bases:
        if len(base.strip()) < min_length:
            continue
        patterns.update(_text_forms(base))
        data = base.encode("utf-8")
        for altchars in (None, b"-_"):
            encoded = base64.b64encode(data, altchars).decode("ascii")
            patterns.update((encoded, encoded.rstrip("=")))
            patterns.update(_b64_cores(data, altchars))
        patterns.add("Basic " + base64.b64encode(data).decode("ascii"))
        patterns.update((data.hex(), data.hex().upper()))
        encoded = base64.b32encode(data).decode("ascii")
        patterns.update((encoded, encoded.rstrip("=")))
        patterns.update(_b32_cores(data))
    return frozenset(p for p in patterns if len(p) >= min_length)
