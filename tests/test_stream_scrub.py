"""Streams are scrubbed across chunk boundaries: no value survives a split, nothing is lost."""

from __future__ import annotations

import base64
import json
import string
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcore_auth import Redactor, StreamScrubber, default_redactor, requires_api_key
from agentcore_auth._match import MATCHERS
from agentcore_auth._redact import secret_patterns
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing.scenarios import ApiKeyScenario, api_key_scenario

ALPHABET = string.ascii_letters + string.digits + "-_."
FILLER = string.ascii_letters + string.digits + " :,{}\"'=&?/-"
ENCODINGS = {
    "raw": lambda v: v,
    "json": lambda v: json.dumps({"key": v}),
    "url": lambda v: "?key=" + quote(v, safe=""),
    "base64": lambda v: base64.b64encode(v.encode()).decode(),
    "basic": lambda v: "Basic " + base64.b64encode(f"user:{v}".encode()).decode(),
    "hex": lambda v: v.encode().hex(),
    "bearer": lambda v: "Authorization: Bearer " + v,
    "unicode-escaped": lambda v: "".join(f"\\u{ord(c):04x}" for c in v),
}


def stream(scrubber: StreamScrubber, chunks: list[str]) -> list[str]:
    return [scrubber.feed(c) for c in chunks] + [scrubber.flush()]


def chunked(text: str, cuts: list[int]) -> list[str]:
    points = [0, *sorted(set(cuts)), len(text)]
    return [text[a:b] for a, b in zip(points, points[1:], strict=False)]


def leaked(value: str, text: str) -> list[str]:
    return [p for p in secret_patterns(value) if p in text]


@pytest.mark.parametrize("matcher", sorted(MATCHERS))
@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_split_point_of_every_encoding(matcher: str, encoding: str) -> None:
    """Two chunks, cut at every index: the joined output is the whole text redacted."""
    value = "sk-live-0123456789abcdefXYZ"
    redactor = Redactor(matcher=matcher)
    redactor.register(value, name="weather")
    text = f"before {ENCODINGS[encoding](value)} after"
    whole = redactor.redact(text)
    assert not leaked(value, whole) and "[REDACTED:weather]" in whole
    for cut in range(len(text) + 1):
        out = stream(StreamScrubber(redactor), [text[:cut], text[cut:]])
        assert "".join(out) == whole, (cut, out)
        # The control: each chunk scrubbed on its own leaks a split value.
    cut = text.index(ENCODINGS[encoding](value)) + len(ENCODINGS[encoding](value)) // 2
    control = redactor.redact(text[:cut]) + redactor.redact(text[cut:])
    assert control != whole


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.text(ALPHABET, min_size=8, max_size=48).filter(lambda v: len(v.strip()) >= 8),
    parts=st.lists(st.tuples(st.text(FILLER, max_size=12), st.sampled_from(sorted(ENCODINGS))),
                   min_size=1, max_size=4),
    data=st.data(),
)
def test_any_chunking_gives_the_whole_text_redacted(value: str, parts: list[tuple[str, str]],
                                                    data: st.DataObject) -> None:
    """Random texts mixing encodings, cut anywhere into any number of chunks."""
    redactor = Redactor()
    redactor.register(value, name="weather")
    text = "".join(filler + ENCODINGS[enc](value) for filler, enc in parts) + "!"
    whole = redactor.redact(text)
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=12))
    out = stream(StreamScrubber(redactor), chunked(text, cuts))
    assert "".join(out) == whole
    for cut in range(len(text) + 1):  # and every single split point
        assert "".join(stream(StreamScrubber(redactor), [text[:cut], text[cut:]])) == whole
    one_by_one = stream(StreamScrubber(redactor), list(text))
    assert "".join(one_by_one) == whole


def test_text_without_values_is_released_at_once() -> None:
    """Only a tail that could begin a form waits; ordinary text is never held."""
    redactor = Redactor()
    redactor.register("sk-live-0123456789", name="weather")
    scrubber = StreamScrubber(redactor)
    assert scrubber.feed("hello world") == "hello world" and not scrubber.pending
    assert scrubber.feed("the key is sk-li") == "the key is " and scrubber.pending
    assert scrubber.feed("ve-0123456789.") == "[REDACTED:weather]."
    assert scrubber.flush() == ""
    assert scrubber.feed("sk-live-01") == "" and scrubber.feed("x") == "sk-live-01x"
    assert scrubber.feed("sk-live") == "" and scrubber.flush() == "sk-live"


def test_push_keeps_order_across_kinds() -> None:
    """Non-text items release the held text first; bytes chunks are joined as bytes."""
    value = "sk-live-0123456789"
    redactor = Redactor()
    redactor.register(value, name="w")
    scrubber = StreamScrubber(redactor)
    out: list[Any] = []
    for item in ["a sk-live-", {"k": value}, b"b sk-live-01", b"23456789", "c", 7, "sk-li"]:
        out += scrubber.push(item)
    out += scrubber.finish()
    assert out == ["a ", "sk-live-", {"k": "[REDACTED:w]"}, b"b ", b"[REDACTED:w]", "c", 7,
                   "sk-li"]


@pytest.fixture
def weather(local_agentcore: LocalAgentCore) -> Iterator[ApiKeyScenario]:
    with api_key_scenario(local_agentcore) as scenario:
        yield scenario


def _relay_tools(weather: ApiKeyScenario, scrub: bool) -> tuple[Any, Any]:
    url = weather.url + "?echo=1"

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=scrub)
    def relay(*, api_key: str) -> Iterator[str]:
        with httpx.Client() as client, client.stream(
                "GET", url, headers={"x-api-key": api_key}) as response:
            yield from response.iter_text(chunk_size=16)

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=scrub)
    async def arelay(*, api_key: str) -> AsyncIterator[str]:
        async with httpx.AsyncClient() as client, client.stream(
                "GET", url, headers={"x-api-key": api_key}) as response:
            async for chunk in response.aiter_text(chunk_size=16):
                yield chunk

    return relay, arelay


async def test_a_tool_relaying_an_echoing_api_in_16_char_chunks(weather: ApiKeyScenario) -> None:
    """The issue's case: the key split across items; joined, sync and async, it is redacted."""
    relay, arelay = _relay_tools(weather, scrub=True)
    sync_items = list(relay())
    async_items = [item async for item in arelay()]
    for items in (sync_items, async_items):
        joined = "".join(items)
        assert json.loads(joined)["credential"].startswith("[REDACTED:")
        assert not leaked(weather.key, joined)
        assert not any(leaked(weather.key, item) for item in items)
    # The control: the same chunks, each redacted on its own (what per-item scrubbing did).
    raw, _ = _relay_tools(weather, scrub=False)
    chunks = list(raw())
    per_item = "".join(default_redactor().redact(c) for c in chunks)
    assert any(weather.key[i:i + 8] in c for c in chunks for i in range(0, 25, 4))
    assert weather.key in "".join(chunks) and leaked(weather.key, per_item)


def test_send_throw_and_a_failure_mid_stream() -> None:
    """send() still reaches the generator; a held tail comes out before the error."""
    value = "sk-live-0123456789"
    redactor = Redactor()
    redactor.register(value, name="w")

    from agentcore_auth import CredentialResolver, EnvSource

    resolver = CredentialResolver(EnvSource({"w": "W"}, environ={"W": value}), redactor=redactor)

    @requires_api_key(provider_name="w", resolver=resolver)
    def tool(*, api_key: str) -> Iterator[str]:
        got = yield "x " + api_key[:6]
        yield f"{api_key[6:]} {got} "
        try:
            yield "waiting"
        except KeyError:
            yield "caught"
        yield "tail " + api_key[:5]
        raise ValueError("boom " + api_key)

    # Other tests' values in the default redactor may hold back a tail of any item:
    # compare what was released so far, not each item exactly.
    gen = tool()
    outs = [next(gen)]
    outs.append(gen.send("hi"))
    assert "[REDACTED:w] hi" in "".join(outs)
    outs.append(next(gen))
    assert "".join(outs).rstrip("ing").endswith("wait")
    outs.append(gen.throw(KeyError("k")))
    with pytest.raises(ValueError, match=r"boom \[REDACTED:w\]"):
        while True:
            outs.append(next(gen))
    assert "".join(outs) == "x [REDACTED:w] hi waitingcaughttail sk-li"  # the tail came out
