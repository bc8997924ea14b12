"""Fault injection: what callers see when AWS, the IdP or the downstream API misbehave.

Expected behaviour, one row per fault (each has a test below):

| Fault | What the caller sees |
|---|---|
| AgentCore Identity throttled (``ThrottlingException``) | botocore's standard-mode retries (``max_attempts``) first; if they all fail and a cached value expired less than ``stale_if_error`` ago, that value is served (``stats.stale_serves``, one WARNING, no retry storm: the next upstream try waits ``retry_after``); past the grace, ``SourceUnavailableError`` naming the operation, the code and "try again later". |
| Secrets Manager unreachable (connection refused, timeouts) | retries, then ``SourceUnavailableError`` naming the endpoint URL, within ``connect_timeout``/``read_timeout`` x ``max_attempts`` plus backoff. |
| Secret deleted, or scheduled for deletion | ``CredentialNotFoundError`` ("may have been deleted" / "restore-secret"); never served stale: only ``SourceUnavailableError`` is bridged. |
| KMS key of the secret disabled | ``ConfigurationError`` naming the key, its state and ``aws kms enable-key``; not served stale. |
| OAuth2 token endpoint down (5xx/429) | the service answers ``InternalServerException``/``ThrottlingException``: retries, then ``SourceUnavailableError`` (or stale within the grace). |
| OAuth2 token endpoint slow | the source's ``read_timeout`` cuts each attempt: ``SourceUnavailableError`` (``ReadTimeoutError``) after ``max_attempts``; no hang. |
| Downstream API answers 401 forever | exactly one refetch (compare-and-invalidate), then ``CredentialRejectedError``: "still returns the refused value" if the refetch returned the same value (the tool is not called again), "again after one refetch" if a new value was refused too. The httpx auth returns the last 401 response instead (like ``DigestAuth``). |
| 401 after a rotation, and the refetch fails after retries | ``SourceUnavailableError``. The rejected value is never served stale (the refused entry is invalidated, and a fetch under way when it was invalidated no longer falls back to it); the next call after the outage gets the new value. |
| Event loop cancelled (or closed) mid-resolution | the caller gets ``CancelledError``/``TimeoutError``; the fetch finishes on the resolver's worker and is cached (the next call is a hit, not a poisoned entry or a new fetch); ``close()`` lets the worker threads exit. |
"""  # noqa: E501 - the table is copied into the README as is

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import httpx
import pytest

from agentcore_auth import (
    AgentCoreIdentitySource,
    ConfigurationError,
    Credential,
    CredentialNotFoundError,
    CredentialRejectedError,
    CredentialRequest,
    CredentialResolver,
    Identity,
    Secret,
    SecretRef,
    SecretsManagerSource,
    SourceUnavailableError,
    requires_api_key,
)
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore, ManualClock


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> Any:
    local_agentcore.clear_faults()
    yield local_agentcore
    local_agentcore.clear_faults()


def identity_source(env: LocalAgentCore, **kw: Any) -> AgentCoreIdentitySource:
    return AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region,
                                   workload_name=env.create_workload(), **kw)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- AgentCore Identity throttled --------------------------------------------------------


def test_identity_throttled_retries_then_stale_then_clear_error(env: LocalAgentCore) -> None:
    """Throttled: botocore retries, then the stale value within the grace, then a clear error."""
    name, _ = env.create_api_key_provider("throttle-value-123456")
    clock = ManualClock()
    resolver = CredentialResolver(identity_source(env, max_attempts=2), ttl=10,
                                  stale_if_error=20, timer=clock)
    good = resolver.get_api_key(name)
    env.inject_fault("GetResourceApiKey", "ThrottlingException", rate=1.0)
    before = env.call_count("GetResourceApiKey")
    clock.now = 15  # expired 5 s ago
    assert resolver.get_api_key(name) is good
    assert env.call_count("GetResourceApiKey") - before == 2  # one try + one botocore retry
    assert resolver.get_api_key(name) is good  # within retry_after: no new upstream call
    assert env.call_count("GetResourceApiKey") - before == 2
    clock.now = 45  # expired 35 s ago: past the grace
    with pytest.raises(SourceUnavailableError) as info:
        resolver.get_api_key(name)
    message = str(info.value)
    assert "GetResourceApiKey" in message and "ThrottlingException" in message
    assert "try again later" in message and info.value.provider_name == name
    assert resolver.stats.stale_serves == 1
    env.clear_faults()
    assert resolver.get_api_key(name).reveal() == "throttle-value-123456"


# --- Secrets Manager unreachable, deleted --------------------------------------------------


def test_secrets_manager_unreachable_names_endpoint() -> None:
    """A closed loopback port: SourceUnavailableError naming the endpoint, after small timeouts."""
    endpoint = f"http://127.0.0.1:{closed_port()}"
    source = SecretsManagerSource(
        {"p": SecretRef("arn:aws:secretsmanager:us-east-1:111122223333:secret:x-AbCdEf", "k")},
        endpoint_url=endpoint, max_attempts=2, connect_timeout=0.5, read_timeout=0.5)
    resolver = CredentialResolver(source, redact_logs=False)
    with pytest.raises(SourceUnavailableError) as info:
        resolver.get_api_key("p")
    assert endpoint in str(info.value)
    assert "check network access, endpoint_url" in str(info.value)
    assert info.value.source == "secretsmanager"


@pytest.mark.parametrize(("window", "fix"), [(None, "may have been deleted"),
                                             (7, "restore-secret")])
def test_secrets_manager_deleted_secret_is_not_served_stale(
        env: LocalAgentCore, window: int | None, fix: str) -> None:
    """A deleted (or scheduled) secret is CredentialNotFoundError even with a stale value cached."""
    arn = env.create_secret(env.unique_name("del"), {"k": "deleted-value-123456"})
    clock = ManualClock()
    resolver = CredentialResolver(SecretsManagerSource(
        {"p": SecretRef(arn, "k")}, endpoint_url=env.aws_endpoint_url, region=env.region,
        max_attempts=1), ttl=10, stale_if_error=300, timer=clock)
    assert resolver.get_api_key("p").reveal() == "deleted-value-123456"
    sm = env.client("secretsmanager")
    if window is None:
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    else:
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=window)
    clock.now = 11
    with pytest.raises(CredentialNotFoundError, match=fix):
        resolver.get_api_key("p")
    assert resolver.stats.stale_serves == 0


# --- KMS key disabled ------------------------------------------------------------------------


def test_kms_key_disabled_is_a_clear_error(env: LocalAgentCore) -> None:
    """A disabled customer managed key: ConfigurationError naming the key and how to enable it."""
    key = env.create_kms_key()
    name, arn = env.create_api_key_provider("kms-value-123456", kms_key_id=key)
    resolver = CredentialResolver(identity_source(env, max_attempts=1))
    assert resolver.get_api_key(name).reveal() == "kms-value-123456"
    env.client("kms").disable_key(KeyId=key.rsplit("/", 1)[-1])
    resolver.clear()
    with pytest.raises(ConfigurationError) as info:
        resolver.get_api_key(name)
    assert key in str(info.value) and "Disabled" in str(info.value)
    assert "aws kms enable-key" in str(info.value) and arn in str(info.value)
    env.client("kms").enable_key(KeyId=key.rsplit("/", 1)[-1])
    assert resolver.get_api_key(name).reveal() == "kms-value-123456"


# --- OAuth2 token endpoint down or slow ------------------------------------------------------


def test_oauth_token_endpoint_down(env: LocalAgentCore) -> None:
    """The IdP answering 500: the service's InternalServerException, retried, then unavailable."""
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env, max_attempts=2))
    env.inject_fault("OAuth2Token", "InternalServerException", rate=1.0)
    before = env.call_count("OAuth2Token")
    with pytest.raises(SourceUnavailableError, match="InternalServerException"):
        resolver.get_oauth2_token(oauth, scopes=["read"])
    assert env.call_count("OAuth2Token") - before == 2
    env.clear_faults()
    assert resolver.get_oauth2_token(oauth, scopes=["read"]).reveal().count(".") == 2


def test_oauth_token_endpoint_slow_times_out(env: LocalAgentCore) -> None:
    """A token endpoint slower than read_timeout: SourceUnavailableError (read timeout), no hang."""
    oauth = env.create_oauth2_provider()[0]
    resolver = CredentialResolver(identity_source(env, max_attempts=1, read_timeout=0.3))
    env.inject_fault("OAuth2Token", None, latency=2.0, count=1)
    with pytest.raises(SourceUnavailableError, match="ReadTimeoutError"):
        resolver.get_oauth2_token(oauth, scopes=["read"])
    assert resolver.get_oauth2_token(oauth, scopes=["read"]).reveal().count(".") == 2


# --- downstream API answering 401 forever -----------------------------------------------------


@pytest.fixture
def refused(env: LocalAgentCore) -> dict[str, Any]:
    """A provider, and a protected API that never accepts its value (it checks another secret)."""
    name, arn = env.create_api_key_provider("refused-value-123456")
    other = env.create_secret(env.unique_name("other"), {"api_key": "other-value-123456"})
    return {"name": name, "arn": arn, "url": env.protected_api(other, "api_key"),
            "resolver": CredentialResolver(identity_source(env))}


@pytest.mark.parametrize("rotate_between", [False, True])
def test_401_forever_one_refetch_then_rejected(env: LocalAgentCore, refused: dict[str, Any],
                                               rotate_between: bool) -> None:
    """Exactly one refetch, then CredentialRejectedError saying why (same value, refused again)."""
    calls: list[str] = []

    @requires_api_key(provider_name=refused["name"], resolver=refused["resolver"])
    def tool(*, api_key: str) -> int:
        calls.append(api_key)
        if rotate_between and len(calls) == 1:
            env.rotate_secret(refused["arn"], {"api_key": "refused-value-rotated"})
        response = httpx.get(refused["url"], headers={"x-api-key": api_key})
        response.raise_for_status()
        return response.status_code

    before = env.call_count("GetResourceApiKey")
    with pytest.raises(CredentialRejectedError) as info:
        tool()
    assert env.call_count("GetResourceApiKey") - before == 2  # the first fetch + one refetch
    assert info.value.status_code == 401 and info.value.provider_name == refused["name"]
    if rotate_between:
        assert calls == ["refused-value-123456", "refused-value-rotated"]
        assert "again after one refetch" in str(info.value)
    else:
        assert calls == ["refused-value-123456"]
        assert "still returns the refused value" in str(info.value)
    assert "refused-value" not in str(info.value)


async def test_401_forever_async_and_httpx(env: LocalAgentCore, refused: dict[str, Any]) -> None:
    """The async decorator raises after one refetch; httpx returns the last 401 after one."""
    resolver = refused["resolver"]

    @requires_api_key(provider_name=refused["name"], resolver=resolver)
    async def tool(*, api_key: str) -> None:
        async with httpx.AsyncClient() as client:
            (await client.get(refused["url"], headers={"x-api-key": api_key})).raise_for_status()

    before = env.call_count("GetResourceApiKey")
    with pytest.raises(CredentialRejectedError):
        await tool()
    assert env.call_count("GetResourceApiKey") - before == 2
    # The same resolver now backs off that value (tests/test_rejection_backoff.py): the
    # httpx refusal asks nothing. A fresh resolver shows httpx's own single refetch.
    for fresh, refetches in ((False, 0), (True, 1)):
        if fresh:
            resolver = CredentialResolver(identity_source(env))
            resolver.get_api_key(refused["name"])
        auth = AgentCoreAuth.api_key(refused["name"], resolver=resolver)
        before = env.call_count("GetResourceApiKey")
        hits = env.call_count("ProtectedApi")
        async with httpx.AsyncClient(auth=auth) as client:
            response = await client.get(refused["url"])
        assert response.status_code == 401
        assert env.call_count("GetResourceApiKey") - before == refetches  # same value
        assert env.call_count("ProtectedApi") - hits == 1  # not resent with the refused value


# --- the hard case: 401 after rotation, and the refetch fails ---------------------------------


def test_401_after_rotation_with_failing_refetch(env: LocalAgentCore) -> None:
    """Rotation, then an outage on the refetch: SourceUnavailableError, never the refused value."""
    name, arn = env.create_api_key_provider("hard-case-value-1")
    url = env.protected_api(arn, "api_key")
    clock = ManualClock()
    resolver = CredentialResolver(identity_source(env, max_attempts=2), ttl=10,
                                  stale_if_error=300, timer=clock)
    sent: list[str] = []

    @requires_api_key(provider_name=name, resolver=resolver)
    def tool(*, api_key: str) -> int:
        sent.append(api_key)
        response = httpx.get(url, headers={"x-api-key": api_key})
        response.raise_for_status()
        return response.status_code

    assert tool() == 200
    env.rotate_secret(arn, {"api_key": "hard-case-value-2"})
    env.inject_fault("GetResourceApiKey", "InternalServerException", rate=1.0)
    with pytest.raises(SourceUnavailableError):
        tool()
    assert sent == ["hard-case-value-1", "hard-case-value-1"]  # not called with a stale value
    clock.now = 20  # also past the TTL: still nothing stale to fall back on
    with pytest.raises(SourceUnavailableError):
        tool()
    env.clear_faults()
    assert tool() == 200 and sent[-1] == "hard-case-value-2"
    assert resolver.stats.stale_serves == 0


class GatedSource:
    """Answers 'value-<n>'; its second fetch waits for a gate and then fails as unavailable."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0

    def fetch(self, request: CredentialRequest, identity: Identity | None) -> Credential:
        self.calls += 1
        if self.calls == 1:
            return Credential(Secret("value-first-123456", name=request.provider_name))
        self.started.set()
        assert self.gate.wait(30)
        raise SourceUnavailableError("upstream down", provider_name=request.provider_name)


def test_invalidated_value_not_served_stale_by_a_fetch_under_way() -> None:
    """A fetch under way when its stale value was invalidated (a 401) fails, never serves it."""
    source = GatedSource()
    clock = ManualClock()
    resolver = CredentialResolver(source, ttl=10, stale_if_error=300, timer=clock,
                                  redact_logs=False)
    first = resolver.get_api_key("weather")
    clock.now = 11  # expired: the next call refetches, with `first` as its stale fallback
    outcome: list[Any] = []

    def refetch() -> None:
        try:
            outcome.append(resolver.get_api_key("weather"))
        except SourceUnavailableError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=refetch)
    thread.start()
    assert source.started.wait(30)
    assert resolver.invalidate(first) == 1  # a downstream 401 for `first`
    source.gate.set()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], SourceUnavailableError)
    assert resolver.stats.stale_serves == 0


# --- event loop cancelled mid-resolution --------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancelled_loop_leaves_no_worker_and_no_poisoned_entry(env: LocalAgentCore,
                                                               how: str) -> None:
    """Cancel (or time out) and close the loop mid-fetch: it completes, caches, workers exit."""
    name, _ = env.create_api_key_provider("cancel-value-123456")
    resolver = CredentialResolver(identity_source(env, max_attempts=1))
    env.inject_fault("GetResourceApiKey", None, latency=0.5, count=1)
    before = env.call_count("GetResourceApiKey")

    async def main() -> None:
        task = asyncio.ensure_future(resolver.aget_api_key(name))
        # bounded polling of the emulator's counter (the pytest timeout bounds it)
        while env.call_count("GetResourceApiKey") == before:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if how == "cancel":
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(task, 0.01)

    workers_before = set(threading.enumerate())
    asyncio.run(main())  # the loop is closed while the fetch is still under way
    workers = [t for t in threading.enumerate()
               if t not in workers_before and t.name.startswith("agentcore-auth")]
    assert workers, "the fetch ran on the resolver's pool"
    key = resolver.get_api_key(name)  # joins the fetch under way, or hits its result
    assert key.reveal() == "cancel-value-123456"
    assert env.call_count("GetResourceApiKey") - before == 1  # no second fetch
    assert resolver.get_api_key(name) is key
    resolver.close()
    for thread in workers:
        thread.join(10)
        assert not thread.is_alive(), f"{thread.name} leaked"
