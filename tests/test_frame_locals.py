"""The injected credential renders redacted in frame locals; it still works as a str."""

from __future__ import annotations

import io
import json
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest

from agentcore_auth import (
    CredentialResolver,
    EnvSource,
    MaskedStr,
    Secret,
    requires_api_key,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing.scenarios import ApiKeyScenario, api_key_scenario

# Longer than rich's locals_max_string (80): rich shortens it by slicing.
KEY = "sk-frame-locals-" + "0123456789abcdef" * 6


@pytest.fixture
def resolver() -> Iterator[CredentialResolver]:
    with CredentialResolver(EnvSource({"weather": "K"}, environ={"K": KEY})) as resolver:
        yield resolver


def leaks(text: str) -> list[str]:
    return [p for p in secret_patterns(KEY) if p in text]


def failing_tools(resolver: CredentialResolver) -> list[Any]:
    @requires_api_key(provider_name="weather", resolver=resolver)
    def sync_tool(city: str, *, api_key: str) -> None:
        headers = {"x-api-key": api_key}  # a container holding it is a local too
        raise RuntimeError(f"upstream failed for {city} ({len(headers)} headers)")

    @requires_api_key(provider_name="weather", resolver=resolver)
    def gen_tool(*, api_key: str) -> Iterator[str]:
        yield "one"
        raise RuntimeError(f"stream failed ({len(api_key)})")

    def run_sync() -> None:
        sync_tool("Paris")

    def run_gen() -> None:
        list(gen_tool())

    return [run_sync, run_gen]


def failing_async_tools(resolver: CredentialResolver) -> list[Any]:
    """The async twins: a coroutine tool and an async generator tool."""
    import asyncio
    from collections.abc import AsyncIterator

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def async_tool(city: str, *, api_key: str) -> None:
        headers = {"x-api-key": api_key}
        raise RuntimeError(f"upstream failed for {city} ({len(headers)} headers)")

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def agen_tool(*, api_key: str) -> AsyncIterator[str]:
        yield "one"
        raise RuntimeError(f"stream failed ({len(api_key)})")

    async def drain() -> None:
        async for _ in agen_tool():
            pass

    return [lambda: asyncio.run(async_tool("Paris")), lambda: asyncio.run(drain())]


def undecorated(api_key: str) -> None:
    """The control: the same failure with the key as a plain str local."""
    raise RuntimeError(f"upstream failed ({len(api_key)})")


def caught(run: Any) -> BaseException:
    with pytest.raises(RuntimeError) as info:
        run()
    return info.value


def render_traceback(exc: BaseException) -> str:
    return "".join(traceback.TracebackException.from_exception(
        exc, capture_locals=True).format())


def render_rich(exc: BaseException) -> str:
    rich_console = pytest.importorskip("rich.console")
    rich_traceback = pytest.importorskip("rich.traceback")
    out = io.StringIO()
    console = rich_console.Console(file=out, width=200, color_system=None)
    console.print(rich_traceback.Traceback.from_exception(
        type(exc), exc, exc.__traceback__, show_locals=True))
    return out.getvalue()


def render_loguru(exc: BaseException) -> str:
    loguru = pytest.importorskip("loguru")
    out = io.StringIO()
    sink = loguru.logger.add(out, diagnose=True, backtrace=True, colorize=False)
    try:
        loguru.logger.opt(exception=exc).error("tool failed")
    finally:
        loguru.logger.remove(sink)
    return out.getvalue()


@pytest.mark.parametrize("render", [render_traceback, render_rich, render_loguru])
def test_locals_renderers_show_no_value(resolver: CredentialResolver, render: Any) -> None:
    """capture_locals, rich show_locals, loguru diagnose: the tool's and wrapper's frames."""
    run_sync, run_gen = failing_tools(resolver)
    text = render(caught(run_sync))
    assert "[REDACTED:weather]" in text and "api_key" in text, text[-2000:]
    assert not leaks(text), leaks(text)[:2]
    # A generator's frame is cleared when it raises; the wrapper frames around it are not.
    text = render(caught(run_gen))
    assert "_forward" in text and not leaks(text), leaks(text)[:2]
    # The control: the renderer does print a plain str local.
    control = render(caught(lambda: undecorated(KEY)))
    assert KEY[:60] in control


@pytest.mark.parametrize("render", [render_traceback, render_rich, render_loguru])
def test_async_tools_frames_show_no_value(resolver: CredentialResolver, render: Any) -> None:
    """The async wrappers' frames (``kw`` and the like) and the tool's own show the mask."""
    for run in failing_async_tools(resolver):
        text = render(caught(run))
        assert "RuntimeError" in text and not leaks(text), leaks(text)[:2]
    if render is not render_loguru:  # loguru shows only the names on each frame's line
        text = render(caught(failing_async_tools(resolver)[0]))
        assert "[REDACTED:weather]" in text and "api_key" in text, text[-2000:]


def test_the_injected_value_is_a_working_str(resolver: CredentialResolver) -> None:
    """f-strings, %s, str(), encode, json, pydantic, concatenation all give the value."""

    class Model(pydantic.BaseModel):
        key: str

    @pydantic.validate_call
    def validated(key: str) -> str:
        return key

    seen: dict[str, Any] = {}

    @requires_api_key(provider_name="weather", resolver=resolver, scrub_result=False)
    def tool(*, api_key: str) -> None:
        seen.update(
            type=type(api_key), repr=repr(api_key), fstring=f"{api_key}", percent="%s" % api_key,  # noqa: UP031
            str=str(api_key), encoded=api_key.encode(), json=json.dumps({"k": api_key}),
            model=Model(key=api_key).key, model_json=Model(key=api_key).model_dump_json(),
            validated=validated(api_key), plus=api_key + "", isinstance=isinstance(api_key, str),
            equal=api_key == KEY, hashed=hash(api_key) == hash(KEY),
            dict_repr=repr({"k": api_key, "l": [api_key]}), sliced=repr(api_key[:40]),
        )

    tool()
    assert seen["type"] is MaskedStr and seen["isinstance"] and seen["equal"] and seen["hashed"]
    for name in ("fstring", "percent", "str", "model", "validated", "plus"):
        assert seen[name] == KEY and type(seen[name]) in (str, MaskedStr), name
    assert type(seen["str"]) is str and type(seen["plus"]) is str  # plain str when asked
    assert seen["encoded"] == KEY.encode()
    assert json.loads(seen["json"]) == {"k": KEY} and json.loads(seen["model_json"])["key"] == KEY
    for name in ("repr", "dict_repr", "sliced"):
        assert "[REDACTED:weather]" in seen[name] and not leaks(seen[name]), name


def test_inject_as_secret_is_unchanged(resolver: CredentialResolver) -> None:
    @requires_api_key(provider_name="weather", resolver=resolver, inject_as=Secret)
    def tool(*, api_key: Secret) -> bool:
        return type(api_key) is Secret and api_key.reveal() == KEY

    assert tool() is True


@pytest.fixture
def weather(local_agentcore: LocalAgentCore) -> Iterator[ApiKeyScenario]:
    with api_key_scenario(local_agentcore) as scenario:
        yield scenario


async def test_headers_carry_the_value_to_the_api(weather: ApiKeyScenario) -> None:
    """A real request with the injected key in a header is accepted, sync and async."""

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    def call(*, api_key: str) -> int:
        return httpx.get(weather.url, headers={"x-api-key": api_key}).status_code

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    async def acall(*, api_key: str) -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(weather.url, headers={"x-api-key": api_key})).status_code

    assert call() == 200 and await acall() == 200


def test_pickle_and_copy_keep_the_mask() -> None:
    import copy
    import pickle

    value = MaskedStr("sk-live-0123456789", name="w")
    for clone in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):  # noqa: S301
        assert clone == value and repr(clone).startswith("'[REDACTED:")
    assert sys.getsizeof(value) > 0
