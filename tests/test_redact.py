"""Tests for the Redactor: encodings, matching, containers, threads."""

from __future__ import annotations

import base64
import html
import json
import threading
from collections import namedtuple
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import agentcore_auth._redact as redact_module
from agentcore_auth._redact import (
    MATCHERS,
    MIN_SECRET_LENGTH,
    Redactor,
    default_redactor,
    redact,
    redact_obj,
    secret_patterns,
)
from agentcore_auth._secret import Secret

SECRET = "sk-live-0123456789abcdef"
MARKER = "[REDACTED:weather]"

secrets_st = st.text(
    alphabet=st.characters(codec="utf-8"), min_size=MIN_SECRET_LENGTH, max_size=40
).filter(lambda s: len(s.strip()) >= MIN_SECRET_LENGTH and s not in "[REDACTED:n]")
texts_st = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
matchers = pytest.mark.parametrize("matcher", list(MATCHERS))


def encodings(secret: str) -> list[str]:
    """Encodings computed here, independently of the module under test."""
    data = secret.encode()
    return [
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        base64.b64encode(data).decode(),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
        "Bearer " + secret,
        "Basic " + base64.b64encode(data).decode(),
        repr(data)[2:-1],
    ]


def determined_b64(prefix: bytes, secret: bytes, suffix: bytes) -> tuple[str, str]:
    """A base64 blob and the part of it that depends only on ``secret``."""
    blob = base64.b64encode(prefix + secret + suffix).decode()
    start = -(-len(prefix) * 8 // 6)
    end = (len(prefix) + len(secret)) * 8 // 6
    return blob, blob[start:end]


@matchers
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secret=secrets_st, before=texts_st, after=texts_st, which=st.integers(0, 10))
def test_no_encoding_survives(
    matcher: str, secret: str, before: str, after: str, which: int
) -> None:
    """A secret in any registered encoding, inside random text, is fully replaced."""
    r = Redactor(matcher=matcher)
    assert r.register(secret, name="n")
    out = r.redact(before + encodings(secret)[which] + after)
    for pattern in {*encodings(secret), *secret_patterns(secret)}:
        if len(pattern) >= MIN_SECRET_LENGTH:
            assert pattern not in out
    assert r.redact(out) == out


@settings(max_examples=100, deadline=None)
@given(
    secret=secrets_st,
    prefix=st.binary(max_size=12),
    suffix=st.binary(max_size=12),
    urlsafe=st.booleans(),
)
def test_base64_blob_at_any_offset(
    secret: str, prefix: bytes, suffix: bytes, urlsafe: bool
) -> None:
    """base64(user:secret), base64(secret:x) and longer blobs lose every secret-fixed char."""
    r = Redactor()
    r.register(secret, name="n")
    blob, core = determined_b64(prefix, secret.encode(), suffix)
    if urlsafe:
        table = str.maketrans("+/", "-_")
        blob, core = blob.translate(table), core.translate(table)
    out = r.redact(f"Authorization: Basic {blob}\n")
    assert core not in out
    assert "[REDACTED:n]" in out


@pytest.mark.parametrize("blob_of", [b"user:%s", b"%s:x", b"xx%sy", b"abcdefgh%sabcdefgh"])
def test_basic_auth_shapes(blob_of: bytes) -> None:
    """The usual Basic-auth shapes of a secret are redacted."""
    r = Redactor()
    r.register(SECRET, name="weather")
    blob = base64.b64encode(blob_of.replace(b"%s", SECRET.encode())).decode()
    assert MARKER in r.redact(f"Authorization: Basic {blob}")


@settings(max_examples=100, deadline=None)
@given(secret=secrets_st, text=texts_st)
def test_text_without_values_is_returned_as_is(secret: str, text: str) -> None:
    """Text holding no registered value comes back as the same object."""
    assume(not any(p in text for p in secret_patterns(secret)))
    r = Redactor()
    r.register(secret, name="n")
    assert r.redact(text) is text


@settings(max_examples=100, deadline=None)
@given(patterns=st.lists(secrets_st, min_size=1, max_size=5), text=texts_st, pick=st.data())
def test_matchers_agree(patterns: list[str], text: str, pick: st.DataObject) -> None:
    """Every matcher gives the same leftmost-longest result."""
    hay = text + "".join(pick.draw(st.permutations(patterns))) + text
    outputs = set()
    for matcher in MATCHERS:
        r = Redactor(matcher=matcher)
        for i, p in enumerate(patterns):
            r.register(p, name=f"v{i}")
        outputs.add(r.redact(hay))
    assert len(outputs) == 1


def test_longest_encoding_wins() -> None:
    """An encoding that contains another is replaced whole."""
    r = Redactor()
    r.register(SECRET, name="weather")
    assert r.redact(f"Authorization: Bearer {SECRET}!") == f"Authorization: {MARKER}!"
    padded = base64.b64encode(b"sk-live-0123456789abcdefg").decode()
    r.register("sk-live-0123456789abcdefg", name="other")
    assert r.redact(padded) == "[REDACTED:other]"


def test_multiline_value_lines_are_redacted_separately() -> None:
    """Each line of a multi-line value (a PEM key) is redacted on its own."""
    pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-"
    r = Redactor()
    r.register(pem, name="key")
    out = r.redact("line two alone: AQEFAASCBKcwggSjAgEAAoIB")
    assert out == "line two alone: [REDACTED:key]"


def test_short_values_are_refused_with_a_warning() -> None:
    """Values under the minimum are refused with a warning, not an exception."""
    r = Redactor()
    with pytest.warns(UserWarning, match="shorter than 8"):
        assert r.register("short", name="x") is False
    with pytest.warns(UserWarning):
        assert r.register("   abc      ", name="x") is False
    assert len(r) == 0
    assert all(len(p) >= 8 for p in secret_patterns("12345678"))


def test_secret_objects_and_repr() -> None:
    """A Secret registers under its name; the repr shows counts, never values."""
    r = Redactor()
    assert r.register(Secret(SECRET, name="weather"))
    assert r.redact(SECRET) == MARKER
    assert SECRET not in repr(r) and "values=1" in repr(r)


def test_lru_eviction_and_unregister() -> None:
    """Old values stay until max_values newer ones push them out."""
    r = Redactor(max_values=3)
    values = [f"value-number-{i:04d}" for i in range(4)]
    for i, v in enumerate(values):
        r.register(v, name=f"v{i}")
        r.redact("warm up the matcher so later builds may be deltas")
    r.clear()
    for i, v in enumerate(values):
        r.register(v, name=f"v{i}")
    assert len(r) == 3
    assert r.redact(values[0]) == values[0]
    assert r.redact(values[3]) == "[REDACTED:v3]"
    assert r.unregister(values[3]) and not r.unregister(values[3])
    assert r.redact(values[3]) == values[3]


def test_delta_matcher_and_merge() -> None:
    """A late registration is caught at once, then merged into the base."""
    r = Redactor()
    for i in range(100):
        r.register(f"value-number-{i:04d}", name="old")
    assert r.redact("value-number-0042") == "[REDACTED:old]"
    r.register("a-brand-new-value", name="new")
    r.register("value-number-0042", name="renamed")
    assert r.redact("a-brand-new-value value-number-0042") == "[REDACTED:new] [REDACTED:renamed]"
    assert len(r._state.subs) == 2
    big = "x" * 1_000_000
    while len(r._state.subs) == 2:
        assert r.redact(big) is big
    assert r.redact("value-number-0001 a-brand-new-value") == "[REDACTED:old] [REDACTED:new]"


def test_register_while_redacting_from_threads() -> None:
    """Values registered by one thread are redacted by others right after."""
    r = Redactor()
    barrier = threading.Barrier(4)
    failures: list[str] = []

    def worker(k: int) -> None:
        barrier.wait()
        for i in range(50):
            value = f"thread-{k}-value-{i:04d}"
            r.register(value, name="t")
            if r.redact(f"x {value} y") != "x [REDACTED:t] y":
                failures.append(value)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and len(r) == 200


def test_redact_obj_walks_containers() -> None:
    """redact_obj scrubs dict keys and values, sequences, sets and bytes."""
    r = Redactor()
    r.register(SECRET, name="weather")
    point = namedtuple("point", "x y")
    data = {
        SECRET: [SECRET, (1, SECRET.encode()), {SECRET}, frozenset({SECRET})],
        "nested": {"Authorization": "anything", "X-Api-Key": b"raw", "token": 5},
        "p": point(SECRET, 2),
        "other": object,
        "ba": bytearray(b"\xff" + SECRET.encode()),
    }
    out = r.redact_obj(data)
    assert out[MARKER] == [MARKER, (1, MARKER.encode()), {MARKER}, frozenset({MARKER})]
    assert out["nested"] == {"Authorization": "[REDACTED]", "X-Api-Key": b"[REDACTED]", "token": 5}
    assert out["p"] == point(MARKER, 2) and out["other"] is object
    assert out["ba"] == bytearray(b"\xff" + MARKER.encode())
    assert SECRET in data  # a copy: the input is untouched


def test_redact_obj_keeps_cycles_and_key_layer_can_be_off() -> None:
    """Cycles survive the walk; sensitive_keys=() turns the key layer off."""
    loop: list[object] = ["x"]
    loop.append(loop)
    out = Redactor().redact_obj(loop)
    assert out[1] is out
    plain = Redactor(sensitive_keys=())
    assert plain.redact_obj({"password": "hunter2"}) == {"password": "hunter2"}
    custom = Redactor(sensitive_keys=["My-Header"])
    out = custom.redact_obj({"my_header": "v", "token": "t"})
    assert out == {"my_header": "[REDACTED]", "token": "t"}


def test_redact_bytes_keeps_invalid_utf8() -> None:
    """redact_bytes round-trips bytes that are not UTF-8."""
    r = Redactor()
    r.register(SECRET, name="weather")
    assert r.redact_bytes(b"\xff\xfe" + SECRET.encode()) == b"\xff\xfe" + MARKER.encode()
    data = b"\xff nothing here at all"
    assert r.redact_bytes(data) is data


def test_module_level_default_redactor() -> None:
    """The module functions use the process-wide default redactor."""
    value = "module-level-value-42"
    assert default_redactor() is redact_module.default_redactor()
    default_redactor().register(value, name="mod")
    try:
        assert redact(f"a {value}") == "a [REDACTED:mod]"
        assert redact_obj({"k": value}) == {"k": "[REDACTED:mod]"}
    finally:
        default_redactor().unregister(value)


def test_bad_matcher_name_is_a_configuration_error() -> None:
    """An unknown matcher name fails at construction."""
    from agentcore_auth._exceptions import ConfigurationError

    with pytest.raises(ConfigurationError):
        Redactor(matcher="nope")


def test_fast_paths() -> None:
    """Empty registries and short text return the input object."""
    r = Redactor()
    text = "some log line that is long enough"
    assert r.redact(text) is text
    r.register(SECRET, name="weather")
    assert r.redact("short") == "short"


@matchers
def test_lone_surrogates_do_not_break_matching(matcher: str) -> None:
    """Text with lone surrogates (surrogateescape) is still scanned."""
    r = Redactor(matcher=matcher)
    r.register(SECRET, name="weather")
    assert r.redact("\udcff" + SECRET + "\ud800") == "\udcff" + MARKER + "\ud800"
