"""CredentialBrokerSource against the emulated CredentialBroker: counts, names, refusals, logs."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentcore_auth import (
    AccessDeniedError,
    ConfigurationError,
    CredentialBrokerSource,
    CredentialNotFoundError,
    CredentialRequest,
    CredentialResolver,
    requires_access_token,
    requires_api_key,
    sources,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore, ManualClock

LOGGERS = ["", "botocore", "urllib3", "httpx", "httpcore", "agentcore_auth"]


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    local_agentcore.clear_faults()
    return local_agentcore


@pytest.fixture
def pool(env: LocalAgentCore) -> str:
    return env.create_broker_pool()


def broker(env: LocalAgentCore, **kw: Any) -> CredentialBrokerSource:
    return CredentialBrokerSource(session=env.session(), endpoint_url=env.aws_endpoint_url,
                                  control_endpoint_url=env.aws_endpoint_url, **kw)


def name_of(env: LocalAgentCore, pool: str, arn: str) -> str:
    control = env.client("credentialbroker-control")
    return str(control.get_credential_provider(credentialProviderPoolIdentifier=pool,
                                               credentialProviderIdentifier=arn)["name"])


def test_exported_from_both_modules() -> None:
    """CredentialBrokerSource is public in agentcore_auth and agentcore_auth.sources."""
    assert sources.CredentialBrokerSource is CredentialBrokerSource
    assert CredentialBrokerSource.__module__ == "agentcore_auth"


def test_twenty_calls_one_get_api_key(env: LocalAgentCore, pool: str) -> None:
    """Twenty resolutions of one provider ARN make one GetApiKey call."""
    arn, _ = env.create_broker_api_key_provider(pool, "broker-key-0001-abcdef")
    resolver = CredentialResolver(broker(env))
    before = env.call_count("GetApiKey")
    values = {resolver.get_api_key(arn).reveal() for _ in range(20)}
    assert values == {"broker-key-0001-abcdef"}
    assert env.call_count("GetApiKey") - before == 1


def test_managed_api_key(env: LocalAgentCore, pool: str) -> None:
    """A MANAGED key (stored by the service) resolves like an EXTERNAL one."""
    created = env.client("credentialbroker-control").create_credential_provider(
        credentialProviderPoolIdentifier=pool, name=env.unique_name("managed"),
        providerConfigurationInput={"apiKeyConfiguration": {"apiKeySecretInput": {
            "apiKey": "managed-key-0002-abcdef"}}})
    env.wait_for_broker(pool, created["credentialProviderArn"])
    resolver = CredentialResolver(broker(env))
    assert resolver.get_api_key(created["name"]).reveal() == "managed-key-0002-abcdef"


def test_fifty_concurrent_cold_calls_one_fetch(env: LocalAgentCore, pool: str) -> None:
    """Fifty threads, then fifty tasks, cold on a provider name: one lookup, one GetApiKey each."""
    arn, _ = env.create_broker_api_key_provider(pool, "broker-key-0003-abcdef")
    name = name_of(env, pool, arn)
    resolver = CredentialResolver(broker(env))
    before = (env.call_count("GetApiKey"), env.call_count("ListCredentialProviderPools"))
    barrier = threading.Barrier(50)
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        results.append(resolver.get_api_key(name).reveal())

    threads = [threading.Thread(target=call) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["broker-key-0003-abcdef"] * 50
    assert env.call_count("GetApiKey") - before[0] == 1
    assert env.call_count("ListCredentialProviderPools") - before[1] == 1  # name -> ARN once

    resolver.clear()

    async def tasks() -> list[str]:
        found = await asyncio.gather(*(resolver.aget_api_key(name) for _ in range(50)))
        return [s.reveal() for s in found]

    assert asyncio.run(tasks()) == ["broker-key-0003-abcdef"] * 50
    assert env.call_count("GetApiKey") - before[0] == 2
    assert env.call_count("ListCredentialProviderPools") - before[1] == 1


def test_api_key_rotation_with_a_401_refetches_once(env: LocalAgentCore, pool: str) -> None:
    """After rotation the httpx plugin's 401 causes one GetApiKey, which reads the new value."""
    arn, secret_arn = env.create_broker_api_key_provider(pool, "broker-key-0004-first0")
    assert secret_arn is not None
    url = env.protected_api(secret_arn, "api_key")
    resolver = CredentialResolver(broker(env))
    auth = AgentCoreAuth(arn, header="x-api-key", resolver=resolver)
    with httpx.Client(auth=auth) as http:
        assert http.get(url).status_code == 200
        env.rotate_secret(secret_arn, {"api_key": "broker-key-0004-second"})
        before = env.call_count("GetApiKey")
        assert http.get(url).status_code == 200
        assert env.call_count("GetApiKey") - before == 1
        assert http.get(url).status_code == 200
        assert env.call_count("GetApiKey") - before == 1


def test_m2m_rotation_with_a_401_forces_a_new_token(env: LocalAgentCore, pool: str) -> None:
    """A refused M2M token is refetched once with forceAuthentication; the broker's cache would
    hand back the refused one (the control call below)."""
    arn, client_id, secret_arn = env.create_broker_oauth_provider(pool)
    url = env.protected_oauth_api()
    resolver = CredentialResolver(broker(env))
    request = CredentialRequest.oauth2(arn, scopes=["read"])
    auth = AgentCoreAuth(request, header="Authorization", prefix="Bearer ", resolver=resolver)
    with httpx.Client(auth=auth) as http:
        assert http.get(url).status_code == 200
        old = resolver.resolve(request).reveal()
        env.rotate_oauth2_client(client_id, secret_arn, "cs-rotated-0005-abcdef")
        # control: without forceAuthentication the broker returns its cached, refused token
        cached = env.client("credentialbroker").get_o_auth_token(
            credentialProviderArn=arn, grantType="CLIENT_CREDENTIALS", scopes=["read"])
        assert cached["accessToken"] == old
        before = (env.call_count("GetOAuthToken"), env.call_count("OAuth2Token"))
        assert http.get(url).status_code == 200
        assert env.call_count("GetOAuthToken") - before[0] == 1
        assert env.call_count("OAuth2Token") - before[1] == 1
        assert resolver.resolve(request).reveal() != old


def m2m_setup(env: LocalAgentCore, pool: str, clock: ManualClock, **source_kw: Any,
              ) -> tuple[CredentialResolver, CredentialBrokerSource, str]:
    arn, _, _ = env.create_broker_oauth_provider(pool)  # READY on the real clock
    clock.advance(time.time() - clock())  # then the shared clock takes over from now
    env.broker.clock = clock
    source = broker(env, clock=clock, **source_kw)
    resolver = CredentialResolver(source, ttl=3600, expiry_skew=30, timer=clock,
                                  wall_clock=clock)
    return resolver, source, arn


@pytest.fixture
def short_tokens(env: LocalAgentCore) -> Iterator[ManualClock]:
    """Tokens live 120 s, on one clock shared by the broker, the source and the resolver."""
    clock = ManualClock(time.time())
    lifetime, env.oauth.token_lifetime = env.oauth.token_lifetime, 120
    try:
        yield clock
    finally:
        env.oauth.token_lifetime = lifetime
        env.broker.clock = time.time


def test_m2m_token_reused_until_the_skew_then_renewed(env: LocalAgentCore, pool: str,
                                                      short_tokens: ManualClock) -> None:
    """A 120 s token is reused for 90 s; then the broker's cached copy (29 s left) is not
    taken: one forced call gets a new token, which is reused again. Never an expired token."""
    clock = short_tokens
    resolver, source, arn = m2m_setup(env, pool, clock)
    before = env.call_count("GetOAuthToken")
    first = resolver.get_oauth2_token(arn, scopes=["read"])
    clock.advance(89)
    assert resolver.get_oauth2_token(arn, scopes=["read"]) is first
    assert env.call_count("GetOAuthToken") - before == 1
    clock.advance(2)  # 29 s left: inside the skew
    second = resolver.get_oauth2_token(arn, scopes=["read"])
    assert second != first
    assert env.call_count("GetOAuthToken") - before == 3  # the broker's copy, then forced
    for _ in range(20):
        assert resolver.get_oauth2_token(arn, scopes=["read"]) is second
    assert env.call_count("GetOAuthToken") - before == 3
    clock.advance(200)  # past both tokens' expiry: the broker's cache has expired too
    credential = source.fetch(CredentialRequest.oauth2(arn, scopes=["read"]), None)
    assert credential.expires_at is not None and credential.expires_at > clock() + 30
    assert env.call_count("GetOAuthToken") - before == 4


def test_m2m_control_without_the_forced_renewal_refetches_every_call(
        env: LocalAgentCore, pool: str, short_tokens: ManualClock) -> None:
    """Control: a source that takes the broker's near-expiry copy makes every call go out."""
    clock = short_tokens
    resolver, _, arn = m2m_setup(env, pool, clock, expiry_skew=0)
    first = resolver.get_oauth2_token(arn, scopes=["read"])
    clock.advance(91)
    before = env.call_count("GetOAuthToken")
    for _ in range(5):
        assert resolver.get_oauth2_token(arn, scopes=["read"]) == first
    assert env.call_count("GetOAuthToken") - before == 5


def test_name_resolved_once_and_ambiguity_names_the_pools(env: LocalAgentCore) -> None:
    """A name is looked up once; in two pools it is an error naming both, unless pool= picks."""
    pools = [env.create_broker_pool(env.unique_name("pool")) for _ in range(2)]
    name = env.unique_name("shared")
    arns = [env.create_broker_api_key_provider(p, f"broker-key-0006-{i}abcdef", name=name)[0]
            for i, p in enumerate(pools)]
    with pytest.raises(ConfigurationError, match="more than one pool") as raised:
        CredentialResolver(broker(env)).get_api_key(name)
    assert all(p in str(raised.value) for p in pools)
    control = env.client("credentialbroker-control")
    pool_name = control.get_credential_provider_pool(
        credentialProviderPoolIdentifier=pools[1])["name"]
    source = broker(env, pool=pool_name)
    assert source.provider_arn(name) == arns[1]
    before = env.call_count("ListCredentialProviders")
    resolver = CredentialResolver(source)
    assert resolver.get_api_key(name).reveal() == "broker-key-0006-1abcdef"
    assert env.call_count("ListCredentialProviders") == before  # cached ARN
    with pytest.raises(CredentialNotFoundError, match="no CredentialBroker provider named"):
        resolver.get_api_key("nobody-here")
    with pytest.raises(ConfigurationError, match="does not exist"):
        broker(env, pool="no-such-pool").provider_arn(name)


def test_arn_of_another_region_is_refused(env: LocalAgentCore, pool: str) -> None:
    """A provider ARN of another Region fails before any call, naming both Regions."""
    arn, _ = env.create_broker_api_key_provider(pool, "broker-key-0007-abcdef")
    other = arn.replace(env.region, "eu-west-1")
    with pytest.raises(ConfigurationError, match="eu-west-1.*us-east-1"):
        CredentialResolver(broker(env)).get_api_key(other)


def test_unreadable_secret_is_access_denied_with_the_fix(env: LocalAgentCore, pool: str) -> None:
    """A secret whose policy lacks the broker's principal: AccessDeniedError naming it."""
    secret = env.create_secret(env.unique_name("nopolicy"), {"api_key": "x" * 20}, policy=None)
    arn, _ = env.create_broker_api_key_provider(pool, secret_arn=secret)
    with pytest.raises(AccessDeniedError, match="credentialbroker.amazonaws.com"):
        CredentialResolver(broker(env)).get_api_key(arn)


def test_user_flows_are_refused_clearly(env: LocalAgentCore, pool: str) -> None:
    """USER_FEDERATION through the broker is a ConfigurationError explaining why."""
    arn, _, _ = env.create_broker_oauth_provider(pool)
    with pytest.raises(ConfigurationError, match="Identity Center"):
        CredentialResolver(broker(env)).get_oauth2_token(
            arn, scopes=["read"], auth_flow="USER_FEDERATION", user_id="alice")


def test_decorators_scrub_results(env: LocalAgentCore, pool: str) -> None:
    """The decorators work unchanged: a tool echoing its key or token returns it scrubbed;
    the control (scrub_result=False) shows the value would have leaked."""
    arn, _ = env.create_broker_api_key_provider(pool, "broker-key-0008-abcdef")
    oauth_arn, _, _ = env.create_broker_oauth_provider(pool)
    resolver = CredentialResolver(broker(env))

    @requires_api_key(provider_name=arn, resolver=resolver)
    def echo(*, api_key: str) -> str:
        return f"the key is {api_key}"

    @requires_api_key(provider_name=arn, resolver=resolver, scrub_result=False)
    def leak(*, api_key: str) -> str:
        return f"the key is {api_key}"

    @requires_access_token(provider_name=oauth_arn, scopes=["read"], auth_flow="M2M",
                           resolver=resolver)
    async def token_echo(*, access_token: str) -> str:
        return access_token

    assert "broker-key-0008-abcdef" not in echo()
    assert "broker-key-0008-abcdef" in leak()
    token = resolver.get_oauth2_token(oauth_arn, scopes=["read"]).reveal()
    assert token not in asyncio.run(token_echo())


def test_no_value_in_debug_logs(env: LocalAgentCore, pool: str,
                                caplog: pytest.LogCaptureFixture) -> None:
    """Every library at DEBUG: no encoding of the key, client secret or tokens in the logs;
    botocore's response bodies were logged (redacted), so the search looked where they are."""
    logging.disable(logging.CRITICAL)
    try:
        arn, secret_arn = env.create_broker_api_key_provider(pool, "broker-key-0009-abcdef")
        oauth_arn, client_id, cs_arn = env.create_broker_oauth_provider(
            pool, client_secret="cs-broker-0009-abcdef")
        assert secret_arn is not None
        url = env.protected_api(secret_arn, "api_key")
    finally:
        logging.disable(logging.NOTSET)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(lambda r: not r.threadName.endswith("(process_request_thread)"))
    logging.getLogger().addHandler(handler)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        resolver = CredentialResolver(broker(env))
        token = resolver.get_oauth2_token(oauth_arn, scopes=["read"]).reveal()
        with httpx.Client(auth=AgentCoreAuth(arn, header="x-api-key", resolver=resolver)) as h:
            assert h.get(url).status_code == 200
            logging.disable(logging.CRITICAL)
            env.rotate_secret(secret_arn, {"api_key": "broker-key-0009-second"})
            logging.disable(logging.NOTSET)
            assert h.get(url).status_code == 200
    finally:
        logging.getLogger().removeHandler(handler)
    logs = stream.getvalue() + caplog.text
    assert "Response body" in logs and "[REDACTED:" in logs
    for value in ("broker-key-0009-abcdef", "broker-key-0009-second", "cs-broker-0009-abcdef",
                  token):
        for pattern in secret_patterns(value):
            assert pattern not in logs, f"an encoding of {value[:6]}... leaked"
