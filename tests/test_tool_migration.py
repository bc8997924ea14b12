"""Migration: the official SDK's requires_api_key and ours, on one tool, against the emulator.

Both are configured the way an agent is: boto3 finds the emulator through
``AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`` and the Region through ``AWS_REGION``, and
the workload access token is the one the AgentCore Runtime puts in
``BedrockAgentCoreContext``. Changing the import line is the whole migration.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest

import agentcore_auth
from agentcore_auth.testing import LocalAgentCore

# bedrock_agentcore 1.25's runtime context still uses pydantic's class-based config.
pytestmark = pytest.mark.filterwarnings("ignore:Support for class-based `config`")


@pytest.fixture
def wired(local_agentcore: LocalAgentCore, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[str, str, str]]:
    """(provider, api url, value) with env vars, runtime context and a fresh default resolver."""
    from bedrock_agentcore.runtime import BedrockAgentCoreContext

    env = local_agentcore
    for name, value in env.env_vars().items():
        monkeypatch.setenv(name, value)
    # The official SDK uses boto3's default session; one an earlier test created has
    # cached the config files of its time, which hold no emulator profile.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    provider = env.unique_name("migrate")
    value = "sk-" + secrets.token_hex(16)
    arn = env.create_secret(provider, {"key": value})
    env.client("bedrock-agentcore-control").create_api_key_credential_provider(
        name=provider, apiKeySecretSource="EXTERNAL",
        apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
    BedrockAgentCoreContext.set_workload_access_token(env.workload_token())
    agentcore_auth.set_default_resolver(None)  # the next one reads the env vars above
    try:
        yield provider, env.protected_api(arn, "key"), value
    finally:
        agentcore_auth.set_default_resolver(None)
        BedrockAgentCoreContext.set_workload_access_token(None)  # type: ignore[arg-type]


def make_tool(decorator: Callable[..., Any], provider: str, url: str) -> Any:
    """The same tool body, decorated by either library with the same arguments."""
    @decorator(provider_name=provider, into="api_key")
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Forecast for a city."""
        # A str for both (ours a str subclass whose repr is masked: see docs/scrubbing.md).
        assert isinstance(api_key, str) and str(api_key) == api_key
        response = httpx.get(url, params={"q": city}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return {"city": city, "ok": response.json()["ok"]}

    return forecast


def make_async_tool(decorator: Callable[..., Any], provider: str, url: str) -> Any:
    @decorator(provider_name=provider, into="api_key")
    async def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """Forecast for a city."""
        async with httpx.AsyncClient() as http:
            response = await http.get(url, headers={"x-api-key": api_key})
        response.raise_for_status()
        return {"city": city, "ok": response.json()["ok"]}

    return forecast


def test_same_call_contract_sync(wired: tuple[str, str, str],
                                 local_agentcore: LocalAgentCore) -> None:
    """Same decorator arguments, same call, same result; ours hides api_key and caches."""
    from bedrock_agentcore.identity import auth as official

    provider, url, _ = wired
    theirs = make_tool(official.requires_api_key, provider, url)
    ours = make_tool(agentcore_auth.requires_api_key, provider, url)
    before = local_agentcore.call_count("GetResourceApiKey")
    assert theirs("Oslo") == theirs("Oslo") == ours("Oslo") == ours("Oslo") == {
        "city": "Oslo", "ok": True}
    # The official SDK asks the service on every call; ours once per TTL.
    assert local_agentcore.call_count("GetResourceApiKey") == before + 3
    assert theirs.__name__ == ours.__name__ == "forecast" and theirs.__doc__ == ours.__doc__
    assert "api_key" in inspect.signature(theirs).parameters
    assert "api_key" not in inspect.signature(ours).parameters


async def test_same_call_contract_async(wired: tuple[str, str, str]) -> None:
    """The async tool behaves the same under both decorators."""
    from bedrock_agentcore.identity import auth as official

    provider, url, _ = wired
    theirs = make_async_tool(official.requires_api_key, provider, url)
    ours = make_async_tool(agentcore_auth.requires_api_key, provider, url)
    assert await theirs("Oslo") == await ours("Oslo") == {"city": "Oslo", "ok": True}


def test_only_ours_survives_a_rotation(wired: tuple[str, str, str],
                                       local_agentcore: LocalAgentCore) -> None:
    """Both see the new value after a rotation; only ours recovers a cached stale one."""
    from bedrock_agentcore.identity import auth as official

    provider, url, _ = wired
    ours = make_tool(agentcore_auth.requires_api_key, provider, url)
    theirs = make_tool(official.requires_api_key, provider, url)
    assert ours("Oslo")["ok"]  # now cached
    arn = local_agentcore.client("bedrock-agentcore-control").get_api_key_credential_provider(
        name=provider)["apiKeySecretArn"]["secretArn"]
    local_agentcore.rotate_secret(arn, {"key": "sk-" + secrets.token_hex(16)})
    assert theirs("Oslo")["ok"]  # no cache: it fetches the new value anyway
    assert ours("Oslo")["ok"]  # stale cached value -> 401 -> one refetch -> ok
