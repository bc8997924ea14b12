"""A sync tool called directly in a coroutine: its cache miss blocks the loop, so one
warning names the async alternative; hits and sync code outside a loop stay quiet."""

from __future__ import annotations

import logging

import pytest

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver, requires_api_key
from agentcore_auth.testing import LocalAgentCore


def _resolver(env: LocalAgentCore) -> CredentialResolver:
    return CredentialResolver(AgentCoreIdentitySource(
        endpoint_url=env.endpoint_url, region=env.region, workload_name=env.create_workload()))


def _warnings(caplog: pytest.LogCaptureFixture, provider: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and provider in r.getMessage()]


async def test_sync_miss_in_a_coroutine_warns_once(local_agentcore: LocalAgentCore,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """One WARNING per provider, naming `async def` and aget_api_key; the value never."""
    env = local_agentcore
    value = "sk-sync-in-loop-0123456789"
    name, _ = env.create_api_key_provider(value)
    resolver = _resolver(env)

    @requires_api_key(provider_name=name, resolver=resolver)
    def forecast(city: str, *, api_key: str) -> str:
        return city

    caplog.set_level(logging.WARNING, logger="agentcore_auth")
    assert forecast("Oslo") == "Oslo"  # a miss, on the loop's thread
    assert forecast("Rome") == "Rome"  # a hit: nothing to say
    resolver.clear()
    assert forecast("Oslo") == "Oslo"  # another miss: already warned
    (message,) = _warnings(caplog, name)
    assert "`async def`" in message and "aget_api_key" in message
    assert value not in caplog.text


def test_sync_miss_outside_a_loop_is_quiet(local_agentcore: LocalAgentCore,
                                           caplog: pytest.LogCaptureFixture) -> None:
    """Plain sync code (no running loop) gets no warning."""
    env = local_agentcore
    name, _ = env.create_api_key_provider("sk-sync-no-loop-0123456789")
    caplog.set_level(logging.WARNING, logger="agentcore_auth")
    assert _resolver(env).get_api_key(name).reveal() == "sk-sync-no-loop-0123456789"
    assert _warnings(caplog, name) == []


async def test_async_twins_are_quiet(local_agentcore: LocalAgentCore,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """aget_api_key in a coroutine does not block the loop: no warning."""
    env = local_agentcore
    name, _ = env.create_api_key_provider("sk-async-quiet-0123456789")
    caplog.set_level(logging.WARNING, logger="agentcore_auth")
    assert (await _resolver(env).aget_api_key(name)).reveal() == "sk-async-quiet-0123456789"
    assert _warnings(caplog, name) == []
