"""Decorators and AgentCoreAuth end to end: the emulator, a protected API, a real rotation.

Each test makes a Secrets Manager secret, an EXTERNAL API key provider referencing
it, and a protected API that accepts only the secret's current value. The secret
is rotated with ``put_secret_value`` mid-run; callers must see no failure, and the
emulator must count exactly one extra ``GetResourceApiKey`` per resolver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    requires_api_key,
)
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore

#: The protected API reads the secret from moto on every request: 200 callers share a few
#: connections (they are still 200 concurrent callers of the resolver), and may queue for
#: longer than httpx's default 5 s on a busy two-core machine.
TIMEOUT = httpx.Timeout(60.0)
LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)


class GatedTransport(httpx.HTTPTransport):
    """An HTTP transport that lets at most ``LIMITS.max_connections`` requests into the pool.

    httpcore's sync pool can close a connection it has already handed to a queued thread
    (encode/httpcore#1110: the waiting request fails with ``ReadError: Bad file
    descriptor``), so no request may ever queue inside it. The gate is in the transport,
    after httpx's auth flow: every caller still reaches ``AgentCoreAuth`` and the resolver
    at once; only the wire is gated. The body is read under the gate, so the connection is
    back in the pool before the next caller goes in.
    """

    def __init__(self) -> None:
        super().__init__(limits=LIMITS)
        self._gate = threading.BoundedSemaphore(LIMITS.max_connections or 8)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._gate:
            response = super().handle_request(request)
            response.read()
            return response


@dataclass
class Weather:
    """One provider wired end to end."""

    env: LocalAgentCore
    provider: str
    arn: str
    url: str
    workload: str
    values: list[str]
    logs: ClientSideLogs | None = None

    def resolver(self) -> CredentialResolver:
        source = AgentCoreIdentitySource(client=self.env.client("bedrock-agentcore"),
                                         workload_name=self.workload)
        return CredentialResolver(source, timer=lambda: 0.0)  # no TTL expiry mid-test

    def rotate(self) -> str:
        value = "sk-" + secrets.token_hex(16)
        self.values.append(value)
        if self.logs is not None:
            self.logs.paused = True  # the harness's own write logs the new value
        try:
            self.env.client("secretsmanager").put_secret_value(
                SecretId=self.arn, SecretString=json.dumps({"key": value}))
        finally:
            if self.logs is not None:
                self.logs.paused = False
        return value

    def lookups(self) -> int:
        return self.env.call_count("GetResourceApiKey")


@pytest.fixture
def weather(local_agentcore: LocalAgentCore) -> Weather:
    env = local_agentcore
    provider = env.unique_name("weather")
    first = "sk-" + secrets.token_hex(16)
    arn = env.create_secret(provider, {"key": first})
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=provider, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    return Weather(env, provider, arn, env.protected_api(arn, "key"), env.create_workload(),
                   [first])


class ClientSideLogs(logging.Handler):
    """DEBUG records of the agent's side of the wire, formatted (after log redaction).

    Left out: the emulator's own server threads and the harness's own secret writes;
    in production neither runs in the agent's process.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.paused = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.paused or "process_request_thread" in (record.threadName or ""):
            return
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def debug_logs(weather: Weather, request: pytest.FixtureRequest) -> Iterator[ClientSideLogs]:
    """The canary's log capture: at DEBUG for single callers (formatting every botocore
    record of 200 callers costs seconds and adds nothing), at INFO for stampedes."""
    handler = ClientSideLogs()
    if getattr(request, "param", None) == 200 or request.node.callspec.params.get("n") == 200:
        handler.setLevel(logging.INFO)
    root = logging.getLogger()
    level = root.level
    root.setLevel(handler.level)
    root.addHandler(handler)
    weather.logs = handler
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def assert_no_values(weather: Weather, *texts: str) -> None:
    leaked = [i for i, text in enumerate(texts) for value in weather.values if value in text]
    assert not leaked, f"a secret value leaked into text #{leaked}"


def run_threads(n: int, call: Callable[[], Any]) -> list[Any]:
    """``n`` threads released together by a Barrier; returns results or exceptions."""
    barrier = threading.Barrier(n)

    def one(_: int) -> Any:
        barrier.wait(30)
        try:
            return call()
        except Exception as exc:  # collected: the test asserts there are none
            return exc

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


async def run_tasks(n: int, call: Callable[[], Awaitable[Any]]) -> list[Any]:
    return list(await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True))


def rotation_run(weather: Weather, n: int, batch: Callable[[int], list[Any]]) -> None:
    """Warm up, rotate, call n times at once: no failures, one extra lookup."""
    assert batch(1) == ["ok"]
    before = weather.lookups()
    assert batch(1) == ["ok"]
    assert weather.lookups() == before  # served from the cache
    weather.rotate()
    assert batch(n) == ["ok"] * n
    assert weather.lookups() == before + 1


async def arotation_run(weather: Weather, n: int,
                        batch: Callable[[int], Awaitable[list[Any]]]) -> None:
    assert await batch(1) == ["ok"]
    before = weather.lookups()
    assert await batch(1) == ["ok"]
    assert weather.lookups() == before
    weather.rotate()
    assert await batch(n) == ["ok"] * n
    assert weather.lookups() == before + 1


# --- the decorator ----------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 200])
def test_decorator_sync_rotation(n: int, weather: Weather,
                                 debug_logs: ClientSideLogs) -> None:
    """Sync tool, n threads: zero failures across a rotation, one extra GetResourceApiKey."""
    # At most as many requests as pooled connections: httpcore's sync pool can close a
    # connection it has just handed to a queued thread (encode/httpcore#1110, EBADF).
    # All n callers are still inside the decorator at once; only the HTTP call is gated.
    gate = threading.BoundedSemaphore(LIMITS.max_connections or 8)
    with weather.resolver() as resolver, httpx.Client(timeout=TIMEOUT, limits=LIMITS) as http:
        @requires_api_key(provider_name=weather.provider, resolver=resolver)
        def forecast(city: str, *, api_key: str) -> str:
            with gate:
                response = http.get(weather.url, params={"q": city},
                                    headers={"x-api-key": api_key})
            response.raise_for_status()
            return "ok"

        rotation_run(weather, n, lambda k: run_threads(k, lambda: forecast("Oslo")))
    assert_no_values(weather, debug_logs.text)


@pytest.mark.parametrize("n", [1, 200])
async def test_decorator_async_rotation(n: int, weather: Weather,
                                        debug_logs: ClientSideLogs) -> None:
    """Async tool, n tasks: zero failures across a rotation, one extra GetResourceApiKey."""
    with weather.resolver() as resolver:
        async with httpx.AsyncClient(limits=LIMITS, timeout=TIMEOUT) as http:
            @requires_api_key(provider_name=weather.provider, resolver=resolver)
            async def forecast(city: str, *, api_key: str) -> str:
                response = await http.get(weather.url, headers={"x-api-key": api_key})
                response.raise_for_status()
                return "ok"

            await arotation_run(weather, n, lambda k: run_tasks(k, lambda: forecast("Oslo")))
    assert_no_values(weather, debug_logs.text)


def test_decorator_streaming_tool_rotation(weather: Weather) -> None:
    """A generator tool refused before its first item is retried with the rotated key."""
    with weather.resolver() as resolver, httpx.Client() as http:
        @requires_api_key(provider_name=weather.provider, resolver=resolver)
        def pages(*, api_key: str) -> Iterator[int]:
            for page in range(3):
                http.get(weather.url, headers={"x-api-key": api_key}).raise_for_status()
                yield page

        assert list(pages()) == [0, 1, 2]
        weather.rotate()
        assert list(pages()) == [0, 1, 2]


# --- AgentCoreAuth ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 200])
def test_httpx_sync_rotation(n: int, weather: Weather,
                             debug_logs: ClientSideLogs) -> None:
    """httpx.Client, n threads: zero failures across a rotation, one extra lookup."""
    with weather.resolver() as resolver:
        auth = AgentCoreAuth.api_key(weather.provider, header="x-api-key", resolver=resolver)
        with httpx.Client(auth=auth, transport=GatedTransport(), timeout=TIMEOUT) as client:
            def call() -> str:
                client.post(weather.url, json={"q": "Oslo"}).raise_for_status()
                return "ok"

            rotation_run(weather, n, lambda k: run_threads(k, call))
    assert_no_values(weather, debug_logs.text)


@pytest.mark.parametrize("n", [1, 200])
async def test_httpx_async_rotation(n: int, weather: Weather,
                                    debug_logs: ClientSideLogs) -> None:
    """httpx.AsyncClient, n tasks: zero failures across a rotation, one extra lookup."""
    with weather.resolver() as resolver:
        auth = AgentCoreAuth.api_key(weather.provider, resolver=resolver)
        async with httpx.AsyncClient(auth=auth, limits=LIMITS, timeout=TIMEOUT) as client:
            async def call() -> str:
                (await client.get(weather.url)).raise_for_status()
                return "ok"

            await arotation_run(weather, n, lambda k: run_tasks(k, call))
    assert_no_values(weather, debug_logs.text)


def test_two_resolvers_one_lookup_each(weather: Weather) -> None:
    """Each resolver pays exactly one extra lookup for a rotation, however many callers."""
    with weather.resolver() as first, weather.resolver() as second:
        clients = [httpx.Client(auth=AgentCoreAuth.api_key(weather.provider, resolver=r),
                                transport=GatedTransport(), timeout=TIMEOUT)
                   for r in (first, second)]
        try:
            for client in clients:
                client.get(weather.url).raise_for_status()
            before = weather.lookups()
            weather.rotate()
            results = run_threads(40, lambda: [c.get(weather.url).status_code for c in clients])
            assert results == [[200, 200]] * 40
            assert weather.lookups() == before + 2
        finally:
            for client in clients:
                client.close()


def test_stale_secret_returns_401_without_loop(weather: Weather) -> None:
    """When the API wants a value the secret does not hold, one refetch, then the 401."""
    with weather.resolver() as resolver:
        auth = AgentCoreAuth.api_key(weather.provider, header="x-other", resolver=resolver)
        api_calls = weather.env.call_count("ProtectedApi")
        response = httpx.get(weather.url, auth=auth)
        assert response.status_code == 401
        assert weather.env.call_count("ProtectedApi") == api_calls + 1  # same value: no resend


def test_first_fetch_body_dump_is_redacted(weather: Weather,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """botocore's DEBUG dump of the very fetch that returns a value is redacted too."""
    caplog.set_level(logging.DEBUG, logger="botocore.parsers")
    with weather.resolver() as resolver:
        resolver.get_api_key(weather.provider)
    bodies = [r.getMessage() for r in caplog.records
              if r.name == "botocore.parsers" and "apiKey" in r.getMessage()]
    assert bodies
    assert_no_values(weather, *bodies)
