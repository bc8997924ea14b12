"""Tool decorators: signatures, injection, refetch on rejection, scrubbing (in-memory source)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from agentcore_auth import (
    ConfigurationError,
    Credential,
    CredentialRejectedError,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Secret,
    requires_api_key,
)


class VaultSource:
    """Returns the current value per provider (tests rotate it) and counts fetches."""

    name = "vault"

    def __init__(self, **values: str) -> None:
        self.values = dict(values)
        self.calls: Counter[str] = Counter()
        self.requests: list[CredentialRequest] = []
        self._lock = threading.Lock()

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        with self._lock:
            self.calls[request.provider_name] += 1
            self.requests.append(request)
            return Credential(Secret(self.values[request.provider_name]))


OLD = "sk-old-0123456789abcdef"
NEW = "sk-new-fedcba9876543210"


@pytest.fixture
def source() -> VaultSource:
    return VaultSource(weather=OLD)


@pytest.fixture
def resolver(source: VaultSource) -> Iterator[CredentialResolver]:
    with CredentialResolver(source, timer=lambda: 0.0) as resolver:  # type: ignore[arg-type]
        yield resolver


def status_error(status: int, url: str = "https://api.example/x") -> httpx.HTTPStatusError:
    request = httpx.Request("GET", url)
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


class FakeApi:
    """Accepts only ``current``; raises a 401 HTTPStatusError otherwise."""

    def __init__(self, current: str, status: int = 401) -> None:
        self.current = current
        self.status = status
        self.seen: list[str] = []

    def check(self, key: str) -> str:
        self.seen.append(key)
        if key != self.current:
            raise status_error(self.status)
        return "ok"


# --- the visible signature -----------------------------------------------------------------


def _sync(city: str, *, api_key: str) -> str:
    """Forecast for a city."""
    return city


async def _async(city: str, *, api_key: str) -> str:
    """Forecast for a city."""
    return city


def _gen(city: str, *, api_key: str) -> Iterator[str]:
    """Forecast for a city."""
    yield city


async def _agen(city: str, *, api_key: str) -> AsyncIterator[str]:
    """Forecast for a city."""
    yield city


@pytest.mark.parametrize("func", [_sync, _async, _gen, _agen], ids=lambda f: f.__name__)
def test_injected_parameter_hidden_and_metadata_kept(
    func: Any, resolver: CredentialResolver
) -> None:
    """The wrapper keeps name, doc, kind and __wrapped__, but its signature lacks api_key."""
    wrapped = requires_api_key(provider_name="weather", resolver=resolver)(func)
    assert list(inspect.signature(wrapped).parameters) == ["city"]
    assert "api_key" not in wrapped.__annotations__
    assert "city" in wrapped.__annotations__
    assert "api_key" in func.__annotations__  # the original is untouched
    assert wrapped.__name__ == func.__name__ and wrapped.__doc__ == func.__doc__
    assert wrapped.__wrapped__ is func
    for check in (
        inspect.iscoroutinefunction,
        inspect.isasyncgenfunction,
        inspect.isgeneratorfunction,
    ):
        assert check(wrapped) == check(func)


def test_missing_parameter_is_a_configuration_error(resolver: CredentialResolver) -> None:
    """A function without the `into` parameter or **kwargs is refused at decoration."""

    def forecast(city: str) -> str:
        return city

    with pytest.raises(ConfigurationError, match=r"forecast\(\) has no parameter 'api_key'"):
        requires_api_key(provider_name="weather", resolver=resolver)(forecast)


def test_positional_only_parameter_is_refused(resolver: CredentialResolver) -> None:
    """An injected parameter that cannot be passed by keyword is refused."""

    def forecast(api_key: str, /, city: str) -> str:
        return city

    with pytest.raises(ConfigurationError, match="keyword-only"):
        requires_api_key(provider_name="weather", resolver=resolver)(forecast)


def test_var_kwargs_receive_the_credential(resolver: CredentialResolver) -> None:
    """With **kwargs and no named parameter, the value arrives in kwargs."""

    @requires_api_key(scrub_result=False, provider_name="weather", resolver=resolver)
    def forecast(city: str, **kwargs: Any) -> str:
        return str(kwargs["api_key"])

    assert forecast("Oslo") == OLD


def test_positional_or_keyword_parameter(resolver: CredentialResolver) -> None:
    """Parameters after a positional-or-keyword `into` become keyword-only."""

    @requires_api_key(scrub_result=False, provider_name="weather", resolver=resolver)
    def forecast(city: str, api_key: str, units: str = "C") -> tuple[str, str, str]:
        return city, api_key, units

    assert str(inspect.signature(forecast)).startswith("(city: 'str', *, units: 'str' = 'C')")
    assert forecast("Oslo", units="F") == ("Oslo", OLD, "F")
    with pytest.raises(TypeError, match="positional"):
        forecast("Oslo", "F")


def test_caller_supplied_credential_is_refused(resolver: CredentialResolver) -> None:
    """A credential passed by the caller (or a model) is never used; the value is not echoed."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    def forecast(city: str, *, api_key: str) -> str:
        return api_key

    with pytest.raises(ConfigurationError, match="callers must not pass it") as info:
        forecast("Oslo", api_key="model-supplied-value")
    assert "model-supplied-value" not in str(info.value)


def test_methods_are_decorated(resolver: CredentialResolver) -> None:
    """Methods work: self stays visible, api_key does not."""

    class Client:
        @requires_api_key(scrub_result=False, provider_name="weather", resolver=resolver)
        def forecast(self, city: str, *, api_key: str) -> str:
            return api_key

    assert list(inspect.signature(Client().forecast).parameters) == ["city"]
    assert Client().forecast("Oslo") == OLD


def test_inject_as_secret(resolver: CredentialResolver) -> None:
    """inject_as=Secret injects the wrapper, which masks itself."""

    @requires_api_key(provider_name="weather", resolver=resolver, inject_as=Secret)
    def forecast(*, api_key: Secret) -> str:
        assert api_key.reveal() == OLD
        return str(api_key)

    assert forecast() == "**********"


def test_bad_arguments_fail_at_decoration() -> None:
    """Bad decorator arguments are ConfigurationErrors, raised before any call."""
    with pytest.raises(ConfigurationError):
        requires_api_key(provider_name="bad name!")
    with pytest.raises(ConfigurationError, match="inject_as"):
        requires_api_key(provider_name="weather", inject_as=bytes)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="reject_statuses"):
        requires_api_key(provider_name="weather", reject_statuses=(200,))
    with pytest.raises(ConfigurationError, match="reject_exceptions"):
        requires_api_key(provider_name="weather", reject_exceptions=("x",))  # type: ignore[arg-type]


# --- calls: sync, async, generators ----------------------------------------------------------


async def test_all_four_kinds_get_the_value(resolver: CredentialResolver) -> None:
    """Sync, async, generator and async generator tools all receive the key."""
    deco = requires_api_key(scrub_result=False, provider_name="weather", resolver=resolver)

    @deco
    def sync(*, api_key: str) -> str:
        return api_key

    @deco
    async def coro(*, api_key: str) -> str:
        return api_key

    @deco
    def gen(*, api_key: str) -> Iterator[str]:
        yield api_key

    @deco
    async def agen(*, api_key: str) -> AsyncIterator[str]:
        yield api_key

    assert sync() == await coro() == next(gen()) == [x async for x in agen()][0] == OLD


async def test_sync_tool_inside_running_loop_uses_no_thread_pool(
    resolver: CredentialResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync tool called while a loop runs resolves inline, with no thread pool per call."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a thread pool was used")

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", refuse)
    asyncio.get_running_loop()

    @requires_api_key(scrub_result=False, provider_name="weather", resolver=resolver)
    def forecast(*, api_key: str) -> str:
        return api_key

    assert [forecast() for _ in range(3)] == [OLD] * 3


# --- refetch on rejection --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_rotation_refetches_once(
    kind: str, source: VaultSource, resolver: CredentialResolver
) -> None:
    """A 401 after rotation drops the cached key, refetches once and calls again."""
    api = FakeApi(current=OLD)
    deco = requires_api_key(provider_name="weather", resolver=resolver)

    @deco
    def sync_tool(*, api_key: str) -> str:
        return api.check(api_key)

    @deco
    async def async_tool(*, api_key: str) -> str:
        return api.check(api_key)

    async def call() -> str:
        return sync_tool() if kind == "sync" else await async_tool()

    assert await call() == "ok"
    source.values["weather"] = api.current = NEW
    assert await call() == "ok"
    assert api.seen == [OLD, OLD, NEW]
    assert source.calls["weather"] == 2


@pytest.mark.parametrize(
    ("status", "statuses", "retried"),
    [(403, (401,), False), (403, (401, 403), True), (500, (401,), False)],
)
def test_which_statuses_count(
    status: int,
    statuses: tuple[int, ...],
    retried: bool,
    source: VaultSource,
    resolver: CredentialResolver,
) -> None:
    """Only statuses in reject_statuses trigger a refetch; others propagate unchanged."""
    api = FakeApi(current=NEW, status=status)

    @requires_api_key(provider_name="weather", resolver=resolver, reject_statuses=statuses)
    def tool(*, api_key: str) -> str:
        return api.check(api_key)

    resolver.resolve(CredentialRequest("weather"))  # OLD is cached
    source.values["weather"] = NEW
    if retried:
        assert tool() == "ok"
        assert api.seen == [OLD, NEW]
    else:
        with pytest.raises(httpx.HTTPStatusError):
            tool()
        assert api.seen == [OLD]


def test_named_exception_and_tool_raised_rejection(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """reject_exceptions types and CredentialRejectedError raised by the tool both refetch."""

    class DeniedError(Exception):
        pass

    seen: list[str] = []

    @requires_api_key(provider_name="weather", resolver=resolver, reject_exceptions=(DeniedError,))
    def custom(*, api_key: str) -> str:
        seen.append(api_key)
        if api_key == OLD:
            raise DeniedError("no")
        return "ok"

    @requires_api_key(provider_name="weather", resolver=resolver)
    def own(*, api_key: str) -> str:
        seen.append(api_key)
        if api_key != source.values["weather"]:
            raise CredentialRejectedError("refused by the API", status_code=401)
        return "ok"

    resolver.resolve(CredentialRequest("weather"))
    source.values["weather"] = NEW
    assert custom() == "ok"
    source.values["weather"] = "sk-third-00000000000"
    assert own() == "ok"
    assert seen == [OLD, NEW, NEW, "sk-third-00000000000"]


def test_second_rejection_raises_credential_rejected(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """A refetched value refused again raises CredentialRejectedError, chained, no loop."""
    calls: list[str] = []

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> str:
        calls.append(api_key)
        if api_key == OLD:
            source.values["weather"] = NEW  # rotated meanwhile, but the API wants yet another
        raise status_error(401)

    with pytest.raises(CredentialRejectedError) as info:
        tool()
    error = info.value
    assert calls == [OLD, NEW]
    assert error.status_code == 401 and error.provider_name == "weather"
    assert error.source == "vault"
    assert "'weather'" in str(error) and "HTTP 401" in str(error) and "again" in str(error)
    assert isinstance(error.__cause__, httpx.HTTPStatusError)
    assert OLD not in str(error) and NEW not in str(error)


def test_same_value_after_refetch_is_not_retried(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """When the source still returns the refused value, the tool is not called again."""
    calls: list[str] = []

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> str:
        calls.append(api_key)
        raise status_error(401)

    with pytest.raises(CredentialRejectedError, match="still returns the refused value"):
        tool()
    assert calls == [OLD]
    assert source.calls["weather"] == 2


def test_generator_retried_only_before_first_item(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """A streaming tool is retried if refused before yielding; after that, errors propagate."""
    api = FakeApi(current=NEW)

    @requires_api_key(provider_name="weather", resolver=resolver)
    def stream(*, api_key: str) -> Iterator[str]:
        api.check(api_key)
        yield "a"
        yield "b"

    @requires_api_key(provider_name="weather", resolver=resolver)
    def late(*, api_key: str) -> Iterator[str]:
        yield "a"
        api.check(api_key)

    resolver.resolve(CredentialRequest("weather"))
    source.values["weather"] = NEW
    assert list(stream()) == ["a", "b"]
    api.current = "sk-other-000000000000"
    with pytest.raises(httpx.HTTPStatusError):
        list(late())
    assert source.calls["weather"] == 2


async def test_async_generator_retried_before_first_item(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """The async generator twin refetches before its first item."""
    api = FakeApi(current=NEW)

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def stream(*, api_key: str) -> AsyncIterator[str]:
        api.check(api_key)
        yield "a"
        yield "b"

    await resolver.aresolve(CredentialRequest("weather"))
    source.values["weather"] = NEW
    assert [x async for x in stream()] == ["a", "b"]
    assert api.seen == [OLD, NEW]


def test_generator_send_throw_close_and_return(resolver: CredentialResolver) -> None:
    """send(), throw(), close() and the return value pass through the generator wrapper."""
    log: list[Any] = []

    @requires_api_key(provider_name="weather", resolver=resolver)
    def echo(*, api_key: str) -> Iterator[Any]:
        try:
            got = yield ("ready",)  # items are not text: text may be held back
            while got != "stop":
                try:
                    got = yield ("echo", got)
                except KeyError:
                    got = yield ("caught",)
            return "done"
        finally:
            log.append("closed")

    def drive() -> Iterator[Any]:
        result = yield from echo()
        log.append(result)

    gen = drive()
    assert next(gen) == ("ready",)
    assert gen.send("x") == ("echo", "x")
    assert gen.throw(KeyError("k")) == ("caught",)
    with pytest.raises(StopIteration):
        gen.send("stop")
    assert log == ["closed", "done"]
    other = echo()
    next(other)
    other.close()
    assert log[-1] == "closed"


async def test_async_generator_asend_athrow(resolver: CredentialResolver) -> None:
    """asend() and athrow() pass through the async generator wrapper."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def echo(*, api_key: str) -> Any:
        got = yield ("ready",)  # items are not text: text may be held back
        while True:
            try:
                got = yield ("echo", got)
            except KeyError:
                got = yield ("caught",)

    agen = echo()
    assert await agen.__anext__() == ("ready",)
    assert await agen.asend("x") == ("echo", "x")
    assert await agen.athrow(KeyError("k")) == ("caught",)
    await agen.aclose()


# --- scrubbing and stacking -------------------------------------------------------------------


@pytest.mark.parametrize("late", [False, True])
def test_exceptions_are_scrubbed(late: bool, resolver: CredentialResolver) -> None:
    """An exception leaving the tool (before or after a first item) has no secret in it."""

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> str:
        raise ValueError(f"bad key {api_key}", {"key": api_key})

    @requires_api_key(provider_name="weather", resolver=resolver)
    def stream(*, api_key: str) -> Iterator[str]:
        yield "x"
        raise ValueError(f"bad key {api_key}")

    with pytest.raises(ValueError) as info:
        list(stream()) if late else tool()
    assert OLD not in str(info.value) and OLD not in repr(info.value.args)
    assert "[REDACTED:weather]" in str(info.value)


def test_stacked_decorators_do_not_refetch_each_others_rejections(
    resolver: CredentialResolver, source: VaultSource
) -> None:
    """An inner decorator's CredentialRejectedError is not the outer provider's rejection."""
    source.values["maps"] = "sk-maps-0123456789ab"

    @requires_api_key(provider_name="weather", resolver=resolver)
    @requires_api_key(provider_name="maps", into="maps_key", resolver=resolver)
    def tool(*, api_key: str, maps_key: str) -> str:
        raise CredentialRejectedError("maps refused", provider_name="maps")

    assert list(inspect.signature(tool).parameters) == []
    with pytest.raises(CredentialRejectedError, match="'maps'"):
        tool()
    assert source.calls == Counter({"weather": 1, "maps": 2})


# --- stampedes -----------------------------------------------------------------------------------


def test_thread_stampede_after_rotation_refetches_once(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """50 threads refused with one stale key cause one refetch; all of them succeed."""
    api = FakeApi(current=OLD)
    barrier = threading.Barrier(50)

    @requires_api_key(provider_name="weather", resolver=resolver)
    def tool(*, api_key: str) -> str:
        if api_key == OLD:
            barrier.wait(10)  # everyone holds the stale key before anyone is refused
        return api.check(api_key)

    resolver.resolve(CredentialRequest("weather"))
    source.values["weather"] = api.current = NEW
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: tool(), range(50)))
    assert results == ["ok"] * 50
    assert source.calls["weather"] == 2


async def test_async_stampede_after_rotation_refetches_once(
    source: VaultSource, resolver: CredentialResolver
) -> None:
    """200 tasks refused with one stale key cause one refetch; all of them succeed."""
    api = FakeApi(current=OLD)
    started = asyncio.Event()
    waiting = 0

    @requires_api_key(provider_name="weather", resolver=resolver)
    async def tool(*, api_key: str) -> str:
        nonlocal waiting
        if api_key == OLD:
            waiting += 1
            if waiting == 200:
                started.set()
            await started.wait()
        return api.check(api_key)

    await resolver.aresolve(CredentialRequest("weather"))
    source.values["weather"] = api.current = NEW
    assert await asyncio.gather(*(tool() for _ in range(200))) == ["ok"] * 200
    assert source.calls["weather"] == 2
