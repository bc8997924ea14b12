"""Decorators scrub at the source: return values, streamed items and exceptions hold no value."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import sys
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import pydantic
import pytest

from agentcore_auth import (
    CredentialRejectedError,
    CredentialResolver,
    EnvSource,
    RedactedError,
    Redactor,
    requires_api_key,
    set_default_resolver,
)
from agentcore_auth._redact import secret_patterns

KEY = "sk-scrub-at-source-0123456789"
MARK = "[REDACTED:weather]"


@pytest.fixture
def resolver() -> Iterator[CredentialResolver]:
    source = EnvSource({"weather": "WEATHER_KEY"}, environ={"WEATHER_KEY": KEY})
    with CredentialResolver(source) as resolver:
        yield resolver


@pytest.fixture
def texts(caplog: pytest.LogCaptureFixture,
          capsys: pytest.CaptureFixture[str]) -> Iterator[list[str]]:
    """What a test saw; at teardown, no encoding of the key may be in it, nor in logs/output."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    yield seen
    out, err = capsys.readouterr()
    everything = [*seen, caplog.text, out, err]
    leaks = [p for p in secret_patterns(KEY) for text in everything if p in text]
    assert not leaks, leaks[:3]


class Forecast(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="allow")
    city: str
    raw: bytes
    headers: dict[str, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Reading:
    city: str
    notes: list[str]
    checked: bool = dataclasses.field(default=False, init=False)

    def __post_init__(self) -> None:
        if not self.city:
            raise ValueError("city is required")


class Pair(NamedTuple):
    left: str
    right: int


def structured(key: str) -> dict[str, Any]:
    """A result holding the key in every shape a tool might return it."""
    return {
        "text": f"the API echoed {key}",
        "bytes": f"x-api-key: {key}".encode(),
        "tuple": (key, 1),
        "pair": Pair(key, 2),
        "set": frozenset({key}),
        "ordered": OrderedDict(a=key),
        "model": Forecast(city="Lyon", raw=key.encode(), headers={"x-echo": key}, note=key),
        "dataclass": Reading("Lyon", [f"Bearer {key}"]),
        "count": 3,
    }


def check_structured(result: dict[str, Any]) -> None:
    assert KEY not in repr(result) and MARK in result["text"]
    assert type(result["pair"]) is Pair and result["pair"].right == 2
    assert type(result["set"]) is frozenset and type(result["ordered"]) is OrderedDict
    model = result["model"]
    assert type(model) is Forecast and model.headers == {"x-echo": MARK}
    assert model.model_extra == {"note": MARK} and model.raw == MARK.encode()
    Forecast.model_validate(model.model_dump())  # still valid
    reading = result["dataclass"]
    assert type(reading) is Reading and reading.notes == [MARK] and reading.checked is False
    assert result["count"] == 3


async def test_return_values_are_scrubbed_with_their_types(
        resolver: CredentialResolver, texts: list[str]) -> None:
    """Sync and async return values: every shape scrubbed, every type kept."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    def sync_tool(*, api_key: str) -> dict[str, Any]:
        return structured(api_key)

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def async_tool(*, api_key: str) -> dict[str, Any]:
        return structured(api_key)

    for result in (sync_tool(), await async_tool()):
        check_structured(result)
        texts.append(repr(result))


async def test_streamed_items_and_generator_return_are_scrubbed(
        resolver: CredentialResolver, texts: list[str]) -> None:
    """Each item a generator or async generator yields, and a generator's return value."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    def stream(*, api_key: str) -> Iterator[Any]:
        reply = yield f"first {api_key}"
        yield {"echo": reply, "key": api_key}
        return f"done {api_key}"

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def astream(*, api_key: str) -> AsyncIterator[Any]:
        yield [api_key]
        yield Reading("Paris", [api_key])

    gen = stream()
    assert next(gen) == f"first {MARK}"
    assert gen.send("hello") == {"echo": "hello", "key": MARK}
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value == f"done {MARK}"
    items = [item async for item in astream()]
    assert items == [[MARK], Reading("Paris", [MARK])]
    texts += [repr(items), repr(stop.value)]


def test_mcp_call_tool_result_comes_back_valid(resolver: CredentialResolver,
                                               texts: list[str]) -> None:
    """A tool returning an MCP CallToolResult gets a scrubbed, valid CallToolResult back."""
    types = pytest.importorskip("mcp.types")

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> Any:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"echo {api_key}")],
            structuredContent={"key": api_key}, _meta={"trace": api_key})

    result = tool()
    assert type(result) is types.CallToolResult
    assert result.content[0].text == f"echo {MARK}" and result.structured_content == {"key": MARK}
    assert types.CallToolResult.model_validate(result.model_dump(by_alias=True)) == result
    texts += [repr(result), result.model_dump_json()]


def test_opt_out_returns_the_value(resolver: CredentialResolver) -> None:
    """scrub_result=False hands the result back untouched; exceptions are still scrubbed."""

    @requires_api_key(provider_name="weather", resolver=resolver, scrub_result=False)
    def tool(*, api_key: str) -> dict[str, str]:
        return {"key": api_key}

    @requires_api_key(provider_name="weather", resolver=resolver, scrub_result=False)
    def failing(*, api_key: str) -> None:
        raise RuntimeError(f"refused {api_key}")

    assert tool() == {"key": KEY}
    with pytest.raises(RuntimeError) as info:
        failing()
    assert KEY not in str(info.value) and MARK in str(info.value)
    with pytest.raises(ValueError, match="scrub_result"):
        requires_api_key(provider_name="weather", scrub_result="no")  # type: ignore[arg-type]


def renderings(exc: BaseException) -> list[str]:
    """str, repr, the formatted traceback and what sys.excepthook prints."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        sys.excepthook(type(exc), exc, exc.__traceback__)
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc)), stderr.getvalue()]


class Config(pydantic.BaseModel):
    port: int


@pytest.mark.parametrize("kind", ["sync", "async", "generator", "async generator",
                                  "late generator"])
async def test_computed_message_exception_fails_closed(
        kind: str, resolver: CredentialResolver, texts: list[str]) -> None:
    """A ValidationError quoting the key leaves as a RedactedError with nothing chained."""

    def validate(api_key: str) -> None:
        # A plain copy (the injected value's own repr is masked): input_value='sk-...'
        Config.model_validate({"port": str(api_key)})

    deco = requires_api_key(provider_name="weather", resolver=resolver)

    @deco
    def sync_tool(*, api_key: str) -> None:
        validate(api_key)

    @deco
    async def async_tool(*, api_key: str) -> None:
        validate(api_key)

    @deco
    def gen_tool(*, api_key: str) -> Iterator[int]:
        validate(api_key)
        yield 1

    @deco
    def late_tool(*, api_key: str) -> Iterator[int]:
        yield 1
        validate(api_key)

    @deco
    async def agen_tool(*, api_key: str) -> AsyncIterator[int]:
        validate(api_key)
        yield 1

    async def run() -> None:
        if kind == "sync":
            sync_tool()
        elif kind == "async":
            await async_tool()
        elif kind == "generator":
            list(gen_tool())
        elif kind == "late generator":
            list(late_tool())
        else:
            [item async for item in agen_tool()]

    with pytest.raises(RedactedError) as info:
        await run()
    error = info.value
    assert error.original_type == "pydantic_core._pydantic_core.ValidationError"
    assert error.__cause__ is None and error.__context__ is None and error.__suppress_context__
    assert MARK in str(error) and "port" in str(error)
    texts += renderings(error)


def test_scrubbable_exception_keeps_its_type(resolver: CredentialResolver,
                                             texts: list[str]) -> None:
    """An exception that in-place scrubbing cleans leaves as itself (callers catch by type)."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> None:
        raise KeyError(f"no such key {api_key}")

    with pytest.raises(KeyError) as info:
        tool()
    assert MARK in str(info.value)
    texts += renderings(info.value)


def test_library_error_keeps_its_type_and_loses_a_leaking_cause(
        resolver: CredentialResolver, texts: list[str]) -> None:
    """A CredentialRejectedError chained to a computed-message error stays catchable by type."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> None:
        try:
            Config.model_validate({"port": str(api_key)})  # a plain copy, repr not masked
        except pydantic.ValidationError as exc:
            raise CredentialRejectedError("the API refused the key",
                                          provider_name="other") from exc

    with pytest.raises(CredentialRejectedError) as info:
        tool()
    cause = info.value.__cause__
    assert isinstance(cause, RedactedError) and "ValidationError" in cause.original_type
    texts += renderings(info.value)


def test_custom_redactor_of_the_resolver_is_used_too(texts: list[str]) -> None:
    """Values only the resolver's own redactor knows are scrubbed as well."""
    custom = Redactor()
    custom.register("internal-0123456789-token", name="internal")
    source = EnvSource({"weather": "WEATHER_KEY"}, environ={"WEATHER_KEY": KEY})
    with CredentialResolver(source, redactor=custom) as resolver:

        @requires_api_key(provider_name="weather", resolver=resolver)
        def tool(*, api_key: str) -> str:
            return f"{api_key} internal-0123456789-token"

        assert tool() == f"{MARK} [REDACTED:internal]"


def test_results_without_a_value_come_back_as_they_are(resolver: CredentialResolver) -> None:
    """Nothing to scrub: the very same object (no copy); cycles and big results are fine."""
    payload = {"city": "Paris", "forecast": ["sunny with light winds", 21]}
    cyclic: list[Any] = ["a longer text without values"]
    cyclic.append(cyclic)
    big = [f"row {i} of a long result" for i in range(20_000)] + [KEY]

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(which: str, *, api_key: str) -> Any:
        return {"payload": payload, "cyclic": cyclic, "big": big}[which]

    assert tool("payload") is payload
    scrubbed = tool("cyclic")
    assert scrubbed[1] is scrubbed
    assert tool("big")[-1] == MARK  # past the pre-check's bound, the walk still scrubs


def test_default_resolver_redactor_is_followed_when_replaced() -> None:
    """Without resolver=, the current default resolver's own redactor is used, also after
    set_default_resolver() replaced it."""
    source = EnvSource({"weather": "WEATHER_KEY"}, environ={"WEATHER_KEY": KEY})
    first, second = Redactor(), Redactor()
    first.register("first-only-0123456789", name="first")
    second.register("second-only-0123456789", name="second")

    @requires_api_key(provider_name="weather")
    def tool(*, api_key: str) -> list[str]:
        return ["first-only-0123456789", "second-only-0123456789"]

    try:
        for redactor, expected in ((first, ["[REDACTED:first]", "second-only-0123456789"]),
                                   (second, ["first-only-0123456789", "[REDACTED:second]"])):
            with CredentialResolver(source, redactor=redactor) as resolver:
                set_default_resolver(resolver)
                assert tool() == expected
    finally:
        set_default_resolver(None)
