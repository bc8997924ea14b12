"""Fleet binding: shared names and records bound to the fleet, the source, the workload.

Each attack of issue 26's "Binding" finding is performed for real: resolvers (and
worker processes) over LocalAgentCore sharing one real store (Redis, Valkey and a
Redis Cluster, see ``fleet_store``) and one fleet key. Each has a control that shows
what the attack would have done: the same resolvers through a tier whose ``attach``
takes no ``source=`` (names bound to the request only, as before) are served each
other's values; the same scope shares; a record under its own name opens. Upstream
calls are counted by the emulator.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from agentcore_auth import (
    AgentCoreIdentitySource,
    ConfigurationError,
    CredentialResolver,
    EnvSource,
    identity_context,
)
from agentcore_auth.fleet import (
    ENCRYPTION_CONTEXT,
    RedisConsentSessionStore,
    RedisSharedCache,
    encryption_context,
)
from agentcore_auth.fleet._binding import binding_scope
from agentcore_auth.fleet._keys import dek_name
from agentcore_auth.integration import ConsentSession
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._fleet import Fleet
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
KEY = os.urandom(32)


# server, env: tests/conftest.py


@pytest.fixture
def store(server: Any) -> Iterator[Any]:
    """A plain client on the store: what someone with write access to it does."""
    client = server.client()
    yield client
    client.close()


class OldTier:
    """A third-party SharedCache whose ``attach`` takes no ``source=`` (still supported).

    Its resolvers' names are bound to the request only, as every name was before
    fleet binding: the control that shows what the attacks did.
    """

    def __init__(self, inner: RedisSharedCache) -> None:
        self.inner = inner

    def attach(self, cache: Any, *, ttl: float, expiry_skew: float) -> Any:
        return self.inner.attach(cache, ttl=ttl, expiry_skew=expiry_skew)


@pytest.fixture
def tier(server: Any, patient: dict[str, float]) -> Iterator[Callable[..., RedisSharedCache]]:
    """A 'process's RedisSharedCache on the store (same key and prefix unless told)."""
    made: list[RedisSharedCache] = []
    prefix = f"b{os.urandom(3).hex()}:"

    def build(**kw: Any) -> RedisSharedCache:
        kw.setdefault("data_key", KEY)
        kw.setdefault("prefix", prefix)
        kw = {**patient, **kw}
        shared = RedisSharedCache(server.url, cluster=server.cluster, **kw)
        made.append(shared)
        return shared

    yield build
    for shared in made:
        shared.close()


@pytest.fixture
def resolvers() -> Iterator[Callable[..., CredentialResolver]]:
    made: list[CredentialResolver] = []

    def build(source: Any, shared: Any) -> CredentialResolver:
        resolver = CredentialResolver(source, shared_cache=shared)
        made.append(resolver)
        return resolver

    yield build
    for resolver in made:
        resolver.close()


def agentcore(env: LocalAgentCore, workload: str | None) -> AgentCoreIdentitySource:
    return AgentCoreIdentitySource(
        endpoint_url=env.endpoint_url, region=env.region, workload_name=workload
    )


def value_keys(store: Any, prefix: str) -> set[bytes]:
    return set(store.scan_iter(match=prefix + "v:*", count=1000))


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for what a background thread does."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def copy_record(store: Any, source_key: bytes, target_key: bytes) -> None:
    """Copy a stored record onto another key, keeping its expiry (an attacker's move)."""
    blob = store.get(source_key)
    ttl = store.pttl(source_key)
    assert blob is not None and ttl > 0
    store.set(target_key, blob, px=ttl)


# --- the source kind -----------------------------------------------------------------------------


def test_env_source_value_is_not_served_to_an_agentcore_resolver(
    env: LocalAgentCore, tier: Any, resolvers: Any
) -> None:
    name, _ = env.create_api_key_provider("bind-agentcore-value-0123")
    workload = env.create_workload()
    planted = EnvSource({name: "PLANTED"}, environ={"PLANTED": "bind-env-planted-0123"})
    shared_env, shared_ac = tier(), tier()
    by_env = resolvers(planted, shared_env)
    by_agentcore = resolvers(agentcore(env, workload), shared_ac)
    before = env.call_count("GetResourceApiKey")
    assert by_env.get_api_key(name).reveal() == "bind-env-planted-0123"
    assert shared_env.stats.source_fetches == 1  # it is in the store, for the env scope
    got = by_agentcore.get_api_key(name)
    assert got.reveal() == "bind-agentcore-value-0123"
    assert env.call_count("GetResourceApiKey") - before == 1
    assert shared_ac.stats.shared_hits == 0 and shared_ac.stats.source_fetches == 1
    # ... and the other way round: the env resolver is not served AgentCore's value.
    other_env = resolvers(planted, tier())
    assert other_env.get_api_key(name).reveal() == "bind-env-planted-0123"


def test_control_names_bound_to_the_request_only_serve_the_env_value(
    env: LocalAgentCore, tier: Any, resolvers: Any
) -> None:
    """The attack as it was: a tier that is not told the source serves across sources."""
    name, _ = env.create_api_key_provider("bind-control-value-0123")
    workload = env.create_workload()
    planted = EnvSource({name: "PLANTED"}, environ={"PLANTED": "bind-control-planted-0123"})
    shared_ac = tier()
    by_env = resolvers(planted, OldTier(tier()))
    by_agentcore = resolvers(agentcore(env, workload), OldTier(shared_ac))
    before = env.call_count("GetResourceApiKey")
    by_env.get_api_key(name)
    assert by_agentcore.get_api_key(name).reveal() == "bind-control-planted-0123"
    assert env.call_count("GetResourceApiKey") - before == 0
    assert shared_ac.stats.shared_hits == 1


# --- the workload --------------------------------------------------------------------------------


def test_two_workload_processes_do_not_share_a_key_the_same_workload_does(
    env: LocalAgentCore, server: Any, patient: dict[str, float],
) -> None:
    """Real processes: two of workload A share one call; workload B makes its own."""
    name, _ = env.create_api_key_provider("bind-workload-0123456789")
    workload_a, workload_b = env.create_workload(), env.create_workload()
    setup = {"redis_url": server.url, "cluster": server.cluster, "data_key": KEY.hex(),
             "prefix": f"w{os.urandom(3).hex()}:"}
    with Fleet(3, env.env_vars()) as fleet:
        fleet.all("setup", [0, 1], **patient, workload=workload_a, **setup)
        fleet.all("setup", [2], **patient, workload=workload_b, **setup)
        before = env.call_count("GetResourceApiKey")
        fleet.all("get", [0], provider=name)
        fleet.all("get", [1], provider=name)
        assert env.call_count("GetResourceApiKey") - before == 1  # control: A shares
        fleet.all("get", [2], provider=name)
        assert env.call_count("GetResourceApiKey") - before == 2  # B asked AgentCore itself
        stats = [s["shared"] for s in fleet.all("stats")]
    assert [s["source_fetches"] for s in stats] == [1, 0, 1]
    assert [s["shared_hits"] for s in stats] == [0, 1, 0]


def test_workload_from_each_request_is_bound_when_the_source_has_none(
    env: LocalAgentCore, tier: Any, resolvers: Any
) -> None:
    """On AgentCore Runtime the workload comes with each request's workload access token."""
    name, _ = env.create_api_key_provider("bind-runtime-0123456789")
    workload_a, workload_b = env.create_workload(), env.create_workload()
    data = env.client("bedrock-agentcore")
    tokens = {w: [data.get_workload_access_token(workloadName=w)["workloadAccessToken"]
                  for _ in range(2)] for w in (workload_a, workload_b)}
    fleet = [(shared := tier(), resolvers(agentcore(env, None), shared)) for _ in range(3)]
    before = env.call_count("GetResourceApiKey")
    for (_, resolver), token in zip(fleet, [tokens[workload_a][0], tokens[workload_a][1],
                                           tokens[workload_b][0]], strict=True):
        with identity_context(workload_access_token=token):
            resolver.get_api_key(name)
    # A's second token (another request of A) shares; B's does not.
    assert env.call_count("GetResourceApiKey") - before == 2
    assert [s.stats.shared_hits for s, _ in fleet] == [0, 1, 0]


# --- records copied between scopes and fleets ----------------------------------------------------


def test_record_copied_between_scopes_is_refused_counted_and_fetched_locally(
    env: LocalAgentCore, tier: Any, resolvers: Any, store: Any
) -> None:
    name, _ = env.create_api_key_provider("bind-copied-value-0123")
    workload = env.create_workload()
    planted = EnvSource({name: "PLANTED"}, environ={"PLANTED": "bind-copied-planted-0123"})
    shared = tier()
    prefix = shared._prefix
    resolvers(planted, tier()).get_api_key(name)
    (env_key,) = value_keys(store, prefix)
    resolvers(agentcore(env, workload), tier()).get_api_key(name)
    (agentcore_key,) = value_keys(store, prefix) - {env_key}
    copy_record(store, env_key, agentcore_key)  # the env value under AgentCore's name
    before = env.call_count("GetResourceApiKey")
    got = resolvers(agentcore(env, workload), shared).get_api_key(name)
    assert got.reveal() == "bind-copied-value-0123"
    # Refused at each read (before taking the lock, and the holder's re-read), never served.
    assert shared.stats.undecryptable >= 1 and shared.stats.shared_hits == 0
    # Fetched once by this process (the tier's own count: the emulator's is global).
    stats = shared.stats
    assert stats.source_fetches + stats.fallbacks == 1, (stats, env.call_count(
        "GetResourceApiKey") - before)
    assert env.call_count("GetResourceApiKey") - before >= 1  # asked AgentCore, never failed
    # Control: a record under its own name opens (the refusal is the binding's).
    copy_record(store, agentcore_key, agentcore_key)
    again = tier()
    assert resolvers(agentcore(env, workload), again).get_api_key(name) == got
    assert again.stats.shared_hits == 1 and again.stats.undecryptable == 0


def test_record_copied_between_fleets_is_refused_and_fleets_do_not_share(
    env: LocalAgentCore, tier: Any, resolvers: Any, store: Any
) -> None:
    """Same store, prefix and data key; only ``fleet=`` differs."""
    name, _ = env.create_api_key_provider("bind-fleets-0123456789")
    workload = env.create_workload()
    shared_a, shared_b = tier(fleet="fleet-a"), tier(fleet="fleet-b")
    prefix = shared_a._prefix
    before = env.call_count("GetResourceApiKey")
    resolvers(agentcore(env, workload), shared_a).get_api_key(name)
    (key_a,) = value_keys(store, prefix)
    resolvers(agentcore(env, workload), shared_b).get_api_key(name)
    assert env.call_count("GetResourceApiKey") - before == 2  # fleets do not share names
    (key_b,) = value_keys(store, prefix) - {key_a}
    copy_record(store, key_a, key_b)
    other_b = tier(fleet="fleet-b")
    resolvers(agentcore(env, workload), other_b).get_api_key(name)
    assert other_b.stats.undecryptable >= 1 and other_b.stats.source_fetches == 1
    assert env.call_count("GetResourceApiKey") - before == 3
    other_a = tier(fleet="fleet-a")  # control: fleet A's own record is served in fleet A
    resolvers(agentcore(env, workload), other_a).get_api_key(name)
    assert other_a.stats.shared_hits == 1
    assert env.call_count("GetResourceApiKey") - before == 3


def test_consent_record_copied_between_fleets_is_refused(tier: Any, store: Any) -> None:
    shared_a, shared_b = tier(fleet="consent-a"), tier(fleet="consent-b")
    uri = f"urn:session:{os.urandom(4).hex()}"
    session = ConsentSession(uri, "github", "alice", None, time.time() + 60)
    RedisConsentSessionStore(shared_a).put(session)
    (key_a,) = set(store.scan_iter(match=shared_a._prefix + "c:*", count=1000))
    keys_b = shared_b._usable_keys()
    assert keys_b is not None
    key_b = shared_b._store_key("c", keys_b.name("consent", uri))
    assert key_b.encode() != key_a  # the fleets name the session differently
    copy_record(store, key_a, key_b.encode())
    assert RedisConsentSessionStore(shared_b).get(uri) is None
    # Control: another instance of fleet A reads it.
    assert RedisConsentSessionStore(tier(fleet="consent-a")).get(uri) == session


# --- KMS: an encryption context per fleet --------------------------------------------------------


def test_kms_data_key_of_one_fleet_does_not_open_under_another_fleets_context(
    env: LocalAgentCore, tier: Any, resolvers: Any, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key_id = env.create_kms_key()
    kms = env.client("kms")
    name, _ = env.create_api_key_provider("bind-kms-fleets-0123")
    workload = env.create_workload()
    shared_a = tier(data_key=None, kms_key_id=key_id, kms_client=kms, fleet="kms-a")
    shared_a.check()
    prefix = shared_a._prefix
    wrapped = store.get(dek_name(prefix, "kms-a"))
    assert wrapped is not None
    # KMS (moto behind the front) honours the context on Decrypt.
    opened = kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=encryption_context("kms-a"))
    assert len(opened["Plaintext"]) == 32
    for context in (encryption_context("kms-b"), ENCRYPTION_CONTEXT, {}):
        with pytest.raises(ClientError) as refused:
            kms.decrypt(CiphertextBlob=wrapped, EncryptionContext=context)
        assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"
    # Fleet A's wrapped key planted where fleet B keeps its own: B refuses it, calls work.
    store.set(dek_name(prefix, "kms-b"), wrapped)
    shared_b = tier(data_key=None, kms_key_id=key_id, kms_client=env.client("kms"),
                    fleet="kms-b")
    with pytest.raises(ConfigurationError, match="not wrapped for fleet 'kms-b'"):
        shared_b.check()
    before = env.call_count("GetResourceApiKey")
    with caplog.at_level(logging.WARNING, logger="agentcore_auth.fleet"):
        got = resolvers(agentcore(env, workload), shared_b).get_api_key(name)
    assert got.reveal() == "bind-kms-fleets-0123"
    assert env.call_count("GetResourceApiKey") - before == 1
    assert shared_b.stats.fallbacks == 1 and shared_b.stats.shared_hits == 0
    # the refusal, counted (once by check(), once more when the key loader met it too)
    eventually(lambda: shared_b.stats.outages >= 1)
    # Control: fleet A's processes open it and share.
    resolvers(agentcore(env, workload), shared_a).get_api_key(name)
    shared_a2 = tier(data_key=None, kms_key_id=key_id, kms_client=env.client("kms"),
                     fleet="kms-a")
    shared_a2.check()  # its key loaded now: a loaded machine's slow KMS is not the point here
    resolvers(agentcore(env, workload), shared_a2).get_api_key(name)
    assert shared_a2.stats.shared_hits == 1


def test_legacy_constant_context_key_is_left_for_old_processes_and_never_opened(
    env: LocalAgentCore, tier: Any, resolvers: Any, store: Any
) -> None:
    """Migration: a store holding the previous release's key (constant context, ``<prefix>dek``)."""
    key_id = env.create_kms_key()
    kms = env.client("kms")
    name, _ = env.create_api_key_provider("bind-kms-legacy-0123")
    workload = env.create_workload()
    prefix = f"m{os.urandom(3).hex()}:"
    legacy = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256",
                                   EncryptionContext=ENCRYPTION_CONTEXT)["CiphertextBlob"]
    store.set(prefix + "dek", legacy)  # what a process of the previous release wrote
    contexts: list[dict[str, str]] = []

    def seen(request: Any, status: int, body: bytes) -> None:
        contexts.append(request.http.json().get("EncryptionContext"))

    env.front.observe("kms", "Decrypt", seen)
    fleet = [tier(data_key=None, kms_key_id=key_id, kms_client=env.client("kms"), prefix=prefix)
             for _ in range(2)]
    for shared in fleet:
        shared.check()  # each loads its key now (the same path as the background loader)
    before = env.call_count("GetResourceApiKey")
    answers = [resolvers(agentcore(env, workload), s).get_api_key(name) for s in fleet]
    assert answers[0] == answers[1]
    assert env.call_count("GetResourceApiKey") - before == 1  # the new key is shared
    assert fleet[1].stats.shared_hits == 1
    assert sum(s.stats.legacy_keys for s in fleet) == 1  # found, counted, said once
    assert contexts and all(c == encryption_context(prefix.rstrip(":")) for c in contexts)
    assert store.get(prefix + "dek") == legacy  # left for processes not yet upgraded
    still = kms.decrypt(CiphertextBlob=legacy, EncryptionContext=ENCRYPTION_CONTEXT)
    assert len(still["Plaintext"]) == 32
    new = store.get(dek_name(prefix, prefix.rstrip(":")))
    with pytest.raises(ClientError, match="InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=new, EncryptionContext=ENCRYPTION_CONTEXT)


# --- the scope itself ----------------------------------------------------------------------------


def test_binding_scope_of_the_sources_differs_by_kind_workload_region_and_account(
    env: LocalAgentCore,
) -> None:
    from agentcore_auth import SecretsManagerSource

    arn_a = "arn:aws:secretsmanager:us-east-1:111111111111:secret:weather-AbCdEf"
    arn_b = "arn:aws:secretsmanager:us-east-1:222222222222:secret:weather-AbCdEf"
    scopes = [
        binding_scope(agentcore(env, "agent-a")),
        binding_scope(agentcore(env, "agent-b")),
        binding_scope(AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region="eu-west-1",
                                              workload_name="agent-a")),
        binding_scope(EnvSource({"weather": "WEATHER"})),
        binding_scope(SecretsManagerSource({"weather": (arn_a, "k")}, region="us-east-1")),
        binding_scope(SecretsManagerSource({"weather": (arn_b, "k")}, region="us-east-1")),
        binding_scope(None),
    ]

    class Plain:  # a third-party source without binding(): its class and name
        name = "agentcore-identity"

        def fetch(self, request: Any, identity: Any) -> Any:
            raise NotImplementedError

    class Forwarding(Plain):  # a wrapper that forwards the wrapped source's binding
        def binding(self) -> tuple[str, ...]:
            return agentcore(env, "agent-a").binding()

    class Broken(Plain):
        def binding(self) -> tuple[str, ...]:
            raise RuntimeError("a bug")

    scopes.append(binding_scope(Plain()))
    assert len({s.text for s in scopes}) == len(scopes)
    assert binding_scope(agentcore(env, "agent-a")) == scopes[0]  # stable across processes
    assert binding_scope(Forwarding()) == scopes[0]
    assert binding_scope(Broken()).text != scopes[0].text  # falls back to its class
    assert binding_scope(agentcore(env, None)).workload_per_request
    assert not scopes[0].workload_per_request
