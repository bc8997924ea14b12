"""The stores people run: a Redis Cluster's slots and pub/sub, and ElastiCache IAM authentication.

The whole fleet suite also runs on Redis, Valkey and a three-node cluster (the
``fleet_store`` fixture in conftest); these are what only one kind of store has.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import boto3
import pytest
import redis

from agentcore_auth import AgentCoreIdentitySource, ConfigurationError, CredentialResolver
from agentcore_auth._redact import secret_patterns
from agentcore_auth.fleet import ElastiCacheIAMAuth, RedisSharedCache
from agentcore_auth.fleet._names import store_key
from agentcore_auth.testing import LocalAgentCore, LocalRedis, LocalRedisCluster, ManualClock
from agentcore_auth.testing._elasticache import LocalElastiCacheIAM
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
KEY = bytes(range(32))
AKID, SECRET = "AKIAFLEETTEST0000001", "fleet-test-secret-key-0123456789abcdefghij"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster() as local:
        yield local


@pytest.fixture
def workload(local_agentcore: LocalAgentCore) -> str:
    return local_agentcore.create_workload()


def resolver_on(env: LocalAgentCore, workload: str, shared: RedisSharedCache) -> CredentialResolver:
    source = AgentCoreIdentitySource(
        endpoint_url=env.endpoint_url, region=env.region, workload_name=workload
    )
    return CredentialResolver(source, shared_cache=shared)


# --- Redis Cluster ---------------------------------------------------------------


def test_a_credentials_keys_share_one_slot_and_the_names_spread_over_nodes(
    cluster: LocalRedisCluster,
) -> None:
    names = [os.urandom(16).hex() for _ in range(30)]
    client = cluster.client()
    for name in names:
        value, lock = store_key("p:", "v", name), store_key("p:", "l", name)
        assert client.keyslot(value) == client.keyslot(lock)
    assert cluster.slot_owner(store_key("p:", "v", names[0])) == cluster.slot_owner(
        store_key("p:", "l", names[0])
    )
    owners = {client.get_node_from_key(store_key("p:", "v", n)).port for n in names}
    assert len(owners) == 3  # not one hot slot: every node holds some credentials
    # The control: without the tag, a value and its lock land in different slots.
    assert any(client.keyslot(f"p:v:{n}") != client.keyslot(f"p:l:{n}") for n in names)
    client.close()


def test_fleet_on_a_cluster_one_call_and_a_drop_reaches_a_process_on_another_node(
    local_agentcore: LocalAgentCore, workload: str, cluster: LocalRedisCluster,
    patient: dict[str, float],
) -> None:
    env = local_agentcore
    name, arn = env.create_api_key_provider("cluster-value-0123456789")
    prefix = f"c{os.urandom(3).hex()}:"
    shared = [
        RedisSharedCache(url, data_key=KEY, prefix=prefix, cluster=True, **patient)
        for url in cluster.urls
    ]  # each 'process' bootstraps from another node
    resolvers = [resolver_on(env, workload, s) for s in shared]
    try:
        before = env.call_count("GetResourceApiKey")
        values = [r.get_api_key(name) for r in resolvers]
        assert {v.reveal() for v in values} == {"cluster-value-0123456789"}
        assert env.call_count("GetResourceApiKey") - before == 1
        env.rotate_secret(arn, {"api_key": "cluster-value-new-012345"})
        resolvers[0].invalidate(values[0])
        deadline = time.monotonic() + 5
        while sum(s.stats.local_drops for s in shared[1:]) < 2:
            assert time.monotonic() < deadline, "the drop did not reach every node's listener"
            time.sleep(0.02)
        assert {r.get_api_key(name).reveal() for r in resolvers} == {"cluster-value-new-012345"}
        assert env.call_count("GetResourceApiKey") - before == 2  # one refetch for the fleet
    finally:
        for r, s in zip(resolvers, shared, strict=True):
            r.close()
            s.close()


async def test_async_callers_on_a_cluster(
    local_agentcore: LocalAgentCore, workload: str, cluster: LocalRedisCluster,
    patient: dict[str, float],
) -> None:
    env = local_agentcore
    name, _ = env.create_api_key_provider("cluster-async-0123456789")
    shared = RedisSharedCache(cluster.url, data_key=KEY, prefix="ca:", cluster=True, **patient)
    resolver = resolver_on(env, workload, shared)
    try:
        before = env.call_count("GetResourceApiKey")
        values = await asyncio.gather(*(resolver.aget_api_key(name) for _ in range(8)))
        assert {v.reveal() for v in values} == {"cluster-async-0123456789"}
        assert env.call_count("GetResourceApiKey") - before == 1
    finally:
        resolver.close()
        await shared.aclose()


def test_a_cluster_down_at_start_is_an_outage_not_an_error(
    local_agentcore: LocalAgentCore, workload: str
) -> None:
    env = local_agentcore
    name, _ = env.create_api_key_provider("cluster-late-0123456789")
    late = LocalRedisCluster()
    shared = RedisSharedCache(late.url, data_key=KEY, cluster=True, retry_interval=0.2)
    resolver = resolver_on(env, workload, shared)
    try:
        assert resolver.get_api_key(name).reveal() == "cluster-late-0123456789"
        assert shared.stats.fallbacks == 1 and not shared.available
        with pytest.raises(ConfigurationError, match="unreachable"):
            shared.check()
        late.start()
        time.sleep(0.3)
        shared.check()  # the client is made once the cluster answers
        assert shared.available
    finally:
        resolver.close()
        shared.close()
        late.stop()


def test_cluster_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="holds a brace"):
        RedisSharedCache("redis://127.0.0.1:1", data_key=KEY, cluster=True, prefix="{x}:")
    with pytest.raises(ConfigurationError, match="only database 0"):
        RedisSharedCache("redis://127.0.0.1:1/3", data_key=KEY, cluster=True)
    with pytest.raises(ConfigurationError, match="ready redis-py client"):
        RedisSharedCache("redis://127.0.0.1:1", data_key=KEY, cluster=True,
                         client=redis.Redis(port=1))


# --- ElastiCache IAM authentication ----------------------------------------------


def session(akid: str = AKID, secret: str = SECRET) -> boto3.Session:
    return boto3.Session(aws_access_key_id=akid, aws_secret_access_key=secret,
                         region_name="us-east-1")


@pytest.fixture
def front() -> Iterator[tuple[LocalElastiCacheIAM, ManualClock]]:
    clock = ManualClock(time.time())
    with LocalRedis() as store, LocalElastiCacheIAM(
        store.port, cache_name="agents-fleet", user_id="fleet-user",
        credentials={AKID: SECRET}, clock=clock,
    ) as local:
        yield local, clock


def test_the_token_is_a_sigv4_connect_request_the_front_verifies(
    front: tuple[LocalElastiCacheIAM, ManualClock],
) -> None:
    local, clock = front
    auth = ElastiCacheIAMAuth("agents-fleet", "fleet-user", session=session(), clock=clock)
    user, token = auth.get_credentials()
    assert user == "fleet-user" and token.startswith("agents-fleet/?Action=connect&User=fleet-user")
    assert "X-Amz-Expires=900" in token and "%2Felasticache%2Faws4_request" in token
    assert local.verify(user, token) is None
    # Controls: what ElastiCache refuses, the front refuses.
    assert local.verify(user, token.replace("Signature=", "Signature=0")) is not None
    assert local.verify("other-user", token) is not None
    wrong = ElastiCacheIAMAuth("agents-fleet", "fleet-user", session=session(secret="x" * 40),
                               clock=clock)
    assert local.verify(user, wrong.token()) == "signature mismatch"
    other_cache = ElastiCacheIAMAuth("other-cache", "fleet-user", session=session(), clock=clock)
    assert local.verify(user, other_cache.token()) == "not a token for this cache"
    clock.advance(901)
    assert local.verify(user, token) == "expired"


def test_a_redis_client_logs_in_with_the_token_and_a_wrong_one_is_refused(
    front: tuple[LocalElastiCacheIAM, ManualClock],
) -> None:
    local, clock = front
    auth = ElastiCacheIAMAuth("agents-fleet", "fleet-user", session=session(), clock=clock)
    client = redis.Redis.from_url(local.url, credential_provider=auth)
    assert client.ping() and client.set("k", "v") and client.get("k") == b"v"
    client.close()
    assert local.accepted == 1
    stolen = redis.Redis.from_url(local.url, username="fleet-user", password="not-a-token")
    with pytest.raises(redis.exceptions.AuthenticationError):
        stolen.ping()
    assert local.refused == ["not a token for this cache"]


def test_the_token_is_refreshed_before_it_expires(
    front: tuple[LocalElastiCacheIAM, ManualClock],
) -> None:
    local, clock = front
    auth = ElastiCacheIAMAuth("agents-fleet", "fleet-user", session=session(), clock=clock,
                              refresh_before=60)
    first = auth.token()
    clock.advance(800)  # 100 s left: still the same token
    assert auth.token() == first and auth.tokens_made == 1
    clock.advance(50)  # 50 s left, under refresh_before: a new one
    second = auth.token()
    assert second != first and auth.tokens_made == 2
    assert auth.expires_at == pytest.approx(clock.now + 900)
    clock.advance(100)  # the first would now be refused; the new one is good for a new connection
    assert local.verify("fleet-user", first) == "expired"
    client = redis.Redis.from_url(local.url, credential_provider=auth)
    assert client.ping()
    client.close()
    # The control: a client holding the first token as a fixed password is refused.
    fixed = redis.Redis.from_url(local.url, username="fleet-user", password=first)
    with pytest.raises(redis.exceptions.AuthenticationError):
        fixed.ping()


async def test_async_twin_and_an_asyncio_client(
    front: tuple[LocalElastiCacheIAM, ManualClock],
) -> None:
    import redis.asyncio

    local, clock = front
    auth = ElastiCacheIAMAuth("agents-fleet", "fleet-user", session=session(), clock=clock)
    assert (await auth.get_credentials_async())[0] == "fleet-user"
    client = redis.asyncio.Redis.from_url(local.url, credential_provider=auth)
    assert await client.ping()
    await client.aclose()


def test_the_fleet_through_iam_auth_and_no_token_in_logs(
    front: tuple[LocalElastiCacheIAM, ManualClock], local_agentcore: LocalAgentCore,
    workload: str, caplog: pytest.LogCaptureFixture, patient: dict[str, float],
) -> None:
    import logging

    local, clock = front
    caplog.set_level(logging.DEBUG)
    env = local_agentcore
    name, _ = env.create_api_key_provider("iam-fleet-0123456789")
    auth = ElastiCacheIAMAuth("agents-fleet", "fleet-user", session=session(), clock=clock)
    shared = [RedisSharedCache(local.url, data_key=KEY, prefix="iam:", credential_provider=auth,
                               **patient) for _ in range(2)]
    resolvers = [resolver_on(env, workload, s) for s in shared]
    try:
        shared[0].check()
        before = env.call_count("GetResourceApiKey")
        assert {r.get_api_key(name).reveal() for r in resolvers} == {"iam-fleet-0123456789"}
        assert env.call_count("GetResourceApiKey") - before == 1
        assert shared[1].stats.shared_hits == 1 and local.accepted >= 2
        assert "fleet-user" not in repr(shared[0]) or "X-Amz" not in repr(shared[0])
        token = auth.token()
        for pattern in secret_patterns(token):
            assert pattern not in caplog.text
    finally:
        for r, s in zip(resolvers, shared, strict=True):
            r.close()
            s.close()


def test_iam_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="lower case"):
        ElastiCacheIAMAuth("Agents-Fleet", "u")
    with pytest.raises(ConfigurationError, match="refresh_before"):
        ElastiCacheIAMAuth("c", "u", refresh_before=900)
    auth = ElastiCacheIAMAuth("c", "u", session=session())
    with pytest.raises(ConfigurationError, match="one of them"):
        RedisSharedCache("redis://u:pw@127.0.0.1:1", data_key=KEY, credential_provider=auth)
    with pytest.raises(ConfigurationError, match="CredentialProvider"):
        RedisSharedCache("redis://127.0.0.1:1", data_key=KEY, credential_provider=object())
    assert "X-Amz" not in repr(auth)


