"""No 401 amplification: a credential the source keeps returning after a refusal backs off.

The emulator's protected API checks another secret than the provider's, so it answers
401 to every call: the worst case for refetch-on-401. Twenty calls must cost at most
two ``GetResourceApiKey`` calls (the first fetch and one refetch), through the
decorators (sync, async) and the httpx auth (sync, async).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

import httpx
import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialRejectedError,
    CredentialResolver,
    requires_api_key,
)
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore, ManualClock

CALLS = 20


@dataclass
class AlwaysRefused:
    """A provider whose value the protected API never accepts, and that API's URL."""

    env: LocalAgentCore
    provider: str
    arn: str
    url: str
    value: str
    resolver: CredentialResolver

    def upstream(self) -> int:
        return self.env.call_count("GetResourceApiKey")


def _setup(env: LocalAgentCore, **resolver_kw: object) -> AlwaysRefused:
    value = "sk-refused-" + secrets.token_hex(12)
    provider, arn = env.create_api_key_provider(value)
    other = env.create_secret(env.unique_name("other"), {"api_key": "sk-" + secrets.token_hex(12)})
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region,
                                     workload_name=env.create_workload(), max_attempts=1)
    resolver = CredentialResolver(source, **resolver_kw)  # type: ignore[arg-type]
    return AlwaysRefused(env, provider, arn, env.protected_api(other, "api_key"), value, resolver)


@pytest.fixture
def refused(local_agentcore: LocalAgentCore) -> AlwaysRefused:
    # A manual clock that never moves: the counts below cannot depend on how fast a busy
    # machine makes twenty calls (the window's length is tested on its own).
    local_agentcore.clear_faults()
    return _setup(local_agentcore, timer=ManualClock(1000.0))


def test_sync_tool_twenty_refusals_two_upstream_calls(refused: AlwaysRefused,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """The first call refetches once; the next 19 fail at once with CredentialRejectedError."""
    caplog.set_level(logging.DEBUG)

    @requires_api_key(provider_name=refused.provider, resolver=refused.resolver)
    def forecast(city: str, *, api_key: str) -> str:
        httpx.get(refused.url, params={"city": city},
                  headers={"x-api-key": api_key}).raise_for_status()
        return "sunny"  # pragma: no cover - the API always refuses

    before = refused.upstream()
    errors = []
    for _ in range(CALLS):
        with pytest.raises(CredentialRejectedError) as info:
            forecast("Oslo")
        errors.append(info.value)
    assert refused.upstream() - before <= 2
    assert refused.resolver.stats.upstream_calls == 2
    assert "still returns the refused value" in str(errors[0])
    assert all("not asking it again for" in str(e) for e in errors[1:])
    assert all(e.status_code == 401 and e.retry_after and e.retry_after > 0 for e in errors)
    assert all(e.provider_name == refused.provider for e in errors)
    shown = caplog.text + "".join(str(e) + repr(e) for e in errors)
    assert refused.value not in shown


async def test_async_tool_twenty_concurrent_refusals(refused: AlwaysRefused) -> None:
    """Twenty concurrent async calls: still at most two upstream calls."""

    @requires_api_key(provider_name=refused.provider, resolver=refused.resolver)
    async def forecast(city: str, *, api_key: str) -> str:
        async with httpx.AsyncClient() as client:
            (await client.get(refused.url, headers={"x-api-key": api_key})).raise_for_status()
        return "sunny"  # pragma: no cover

    before = refused.upstream()
    outcomes = await asyncio.gather(*(forecast("Oslo") for _ in range(CALLS)),
                                    return_exceptions=True)
    assert all(isinstance(o, CredentialRejectedError) for o in outcomes), outcomes
    assert refused.upstream() - before <= 2


def test_httpx_sync_twenty_refusals(refused: AlwaysRefused) -> None:
    """AgentCoreAuth returns the 401 each time; two upstream calls in all."""
    before = refused.upstream()
    auth = AgentCoreAuth.api_key(refused.provider, resolver=refused.resolver)
    with httpx.Client(auth=auth) as client:
        statuses = [client.get(refused.url).status_code for _ in range(CALLS)]
    assert statuses == [401] * CALLS
    assert refused.upstream() - before <= 2


async def test_httpx_async_twenty_refusals(refused: AlwaysRefused) -> None:
    """The async client likewise, with concurrent requests."""
    before = refused.upstream()
    auth = AgentCoreAuth.api_key(refused.provider, resolver=refused.resolver)
    async with httpx.AsyncClient(auth=auth) as client:
        responses = await asyncio.gather(*(client.get(refused.url) for _ in range(CALLS)))
    assert [r.status_code for r in responses] == [401] * CALLS
    assert refused.upstream() - before <= 2


def test_window_grows_to_the_ttl_and_a_new_value_ends_it(local_agentcore: LocalAgentCore) -> None:
    """Windows of 1, 2, 4, 8 s (the TTL caps them); after a rotation the next try succeeds."""
    clock = ManualClock(1000.0)
    refused = _setup(local_agentcore, ttl=8.0, stale_if_error=0.0, timer=clock)
    calls: list[str] = []

    @requires_api_key(provider_name=refused.provider, resolver=refused.resolver)
    def forecast(*, api_key: str) -> str:
        calls.append(api_key)
        httpx.get(refused.url, headers={"x-api-key": api_key}).raise_for_status()
        return "sunny"

    def refusal() -> CredentialRejectedError:
        with pytest.raises(CredentialRejectedError) as info:
            forecast()
        return info.value

    before = refused.upstream()
    windows = []
    for _ in range(5):
        first = refusal()  # refetches once, then backs off
        assert first.retry_after is not None
        windows.append(first.retry_after)
        clock.advance(first.retry_after / 2)
        upstream = refused.upstream()
        assert "not asking it again" in str(refusal())  # inside the window: no AWS call
        assert refused.upstream() == upstream
        clock.advance(first.retry_after / 2 + 0.01)
    assert windows == [1.0, 2.0, 4.0, 8.0, 8.0]
    # Each window cost the cache miss after the TTL, or the refetch: never more than 2.
    assert refused.upstream() - before <= 2 * len(windows)
    # The stored value is fixed (the API now accepts it): the next refusal-free call works.
    accepted = local_agentcore.protected_api(refused.arn, "api_key")
    refused.url = accepted
    assert forecast() == "sunny"
    # A changed value ends the back-off: rotate, and the refusal refetches at once.
    local_agentcore.rotate_secret(refused.arn, {"api_key": "sk-" + secrets.token_hex(12)})
    upstream = refused.upstream()
    assert forecast() == "sunny"
    assert refused.upstream() == upstream + 1


def test_refusal_of_a_value_that_came_back_starts_the_window() -> None:
    """The concurrent race, step by step: A is refused and refetches the same value; C,
    holding that refetched value, is refused before A decides: no third fetch."""
    from agentcore_auth import CredentialRequest, EnvSource
    from agentcore_auth._rejection import CredentialBinding

    resolver = CredentialResolver(EnvSource({"weather": "W"}, environ={"W": "sk-back-0123456"}),
                                  timer=ManualClock(0.0))
    binding = CredentialBinding(decorator="requires_api_key", request=CredentialRequest("weather"),
                                into="api_key", inject_as=str, resolver=resolver,
                                reject_statuses=(401,), reject_exceptions=())
    refused = CredentialRejectedError("HTTP 401", status_code=401)
    first = resolver.get_api_key("weather")
    binding.first_failure(refused, resolver, first)  # A: drops it, will refetch
    again = resolver.get_api_key("weather")  # A's refetch: the same value, a new object
    assert again == first and again is not first
    with pytest.raises(CredentialRejectedError) as info:  # C, refused with the refetched one
        binding.first_failure(refused, resolver, again)
    assert info.value.retry_after == 1.0
    with pytest.raises(CredentialRejectedError):  # B, still holding the first object
        binding.first_failure(refused, resolver, first)
    assert resolver.stats.upstream_calls == 2
