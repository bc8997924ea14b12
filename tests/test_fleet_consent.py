"""Shared consent sessions: RedisConsentSessionStore against a real redis-server.

The store implements the integration kit's ``ConsentSessionStore``; the kit's
``ConsentSessions`` on it completes a session on any instance, only for its user.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentcore_auth import (
    AccessDeniedError,
    AgentCoreIdentitySource,
    AuthorizationRequiredError,
    CredentialResolver,
    identity_context,
)
from agentcore_auth.fleet import RedisConsentSessionStore, RedisSharedCache
from agentcore_auth.integration import ConsentSession, ConsentSessions, ConsentSessionStore
from agentcore_auth.testing import LocalAgentCore, LocalRedis
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
KEY = os.urandom(32)
RETURN_URL = "https://app.example.com/oauth/return"



@pytest.fixture(scope="module")
def server(fleet_store: Any) -> Any:
    """The store of this run: LocalRedis, LocalValkey or LocalRedisCluster (conftest)."""
    return fleet_store


@pytest.fixture
def stores(
    server: LocalRedis, patient: dict[str, float]
) -> Iterator[tuple[RedisConsentSessionStore, ...]]:
    """Two 'instances' of one fleet (each its own connections and key material)."""
    prefix = f"c{os.urandom(3).hex()}:"
    shared = [
        RedisSharedCache(server.url, data_key=KEY, prefix=prefix, cluster=server.cluster,
                         **patient)
        for _ in range(2)
    ]
    yield tuple(RedisConsentSessionStore(s) for s in shared)
    for s in shared:
        s.close()


def session(uri: str = "urn:session:1", user: str = "alice", ttl: float = 60) -> ConsentSession:
    return ConsentSession(uri, "github", user, None, time.time() + ttl)


def test_the_store_implements_the_kits_protocol(
    stores: tuple[RedisConsentSessionStore, ...],
) -> None:
    assert isinstance(stores[0], ConsentSessionStore)


def test_any_instance_reads_and_deletes_a_session_another_started(
    stores: tuple[RedisConsentSessionStore, ...],
) -> None:
    a, b = stores
    started = session("urn:session:any")
    a.put(started)
    assert b.get("urn:session:any") == started  # still says who started it: alice
    b.delete("urn:session:any")
    assert a.get("urn:session:any") is None
    assert b.get("urn:session:unknown") is None


async def test_async_twins(stores: tuple[RedisConsentSessionStore, ...]) -> None:
    a, b = stores
    started = session("urn:session:async", user="bob")
    await a.aput(started)
    assert await b.aget("urn:session:async") == started
    await b.adelete("urn:session:async")
    assert await asyncio.gather(a.aget("urn:session:async"), b.aget("urn:session:async")) == [
        None,
        None,
    ]


def test_sessions_expire_with_their_record(stores: tuple[RedisConsentSessionStore, ...]) -> None:
    a, b = stores
    a.put(session("urn:session:short", ttl=1.5))  # long enough for a loaded machine
    assert b.get("urn:session:short") is not None
    time.sleep(1.6)
    assert b.get("urn:session:short") is None and a.get("urn:session:short") is None


def test_the_store_holds_no_user_or_session_uri_in_clear(
    stores: tuple[RedisConsentSessionStore, ...], server: LocalRedis
) -> None:
    a, _ = stores
    a.put(ConsentSession("urn:CANARY-session", "CANARY-provider", "CANARY-user", "CANARY-fp",
                         time.time() + 60))
    client = server.client()
    dump = b"".join(k + (client.dump(k) or b"") for k in client.scan_iter())
    client.close()
    assert dump and b"CANARY" not in dump


def test_an_instance_with_another_key_finds_nothing(
    stores: tuple[RedisConsentSessionStore, ...], server: LocalRedis
) -> None:
    a, _ = stores
    a.put(session("urn:session:keyed"))
    other = RedisSharedCache(
        server.url, data_key=os.urandom(32), prefix=a._shared._prefix, cluster=server.cluster
    )
    try:
        assert RedisConsentSessionStore(other, session_type=ConsentSession).get(
            "urn:session:keyed") is None
    finally:
        other.close()


def test_store_down_keeps_the_instances_own_sessions(
    stores: tuple[RedisConsentSessionStore, ...],
) -> None:
    with LocalRedis() as own:
        shared = RedisSharedCache(own.url, data_key=KEY, retry_interval=0.2)
        store = RedisConsentSessionStore(shared, session_type=ConsentSession)
        own.kill()
        started = session("urn:session:down")
        store.put(started)  # no error: local-only while the store is down
        assert store.get("urn:session:down") == started
        assert shared.stats.outages == 1
        shared.close()


def test_consent_started_on_one_instance_completes_on_another(
    local_agentcore: LocalAgentCore, stores: tuple[RedisConsentSessionStore, ...]
) -> None:
    env = local_agentcore
    workload = env.create_workload(return_urls=[RETURN_URL])
    oauth = env.create_oauth2_provider()[0]

    def instance() -> CredentialResolver:
        return CredentialResolver(AgentCoreIdentitySource(
            endpoint_url=env.endpoint_url, region=env.region, workload_name=workload))

    a, b = instance(), instance()
    store_a, store_b = stores
    with identity_context(user_id="carol"), pytest.raises(AuthorizationRequiredError) as caught:
        a.get_oauth2_token(oauth, scopes=["read"], auth_flow="USER_FEDERATION",
                           callback_url=RETURN_URL)
    pending = caught.value
    assert pending.session_uri
    store_a.put(ConsentSession(pending.session_uri, oauth, "carol", None, time.time() + 900))
    # The user's browser returns to instance b, which finds who the session is for.
    record = store_b.get(pending.session_uri)
    assert record is not None and record.user_id == "carol"
    env.complete_consent(pending.authorization_url, user_id=record.user_id)
    store_b.delete(pending.session_uri)
    with identity_context(user_id="carol"):
        token = b.get_oauth2_token(oauth, scopes=["read"], auth_flow="USER_FEDERATION",
                                   callback_url=RETURN_URL, session_uri=pending.session_uri)
    assert env.validate_oauth_token(token.reveal())["sub"] == "carol"


def test_kit_sessions_complete_on_another_instance_only_for_their_user(
    local_agentcore: LocalAgentCore, stores: tuple[RedisConsentSessionStore, ...]
) -> None:
    """ConsentSessions on instance a records; ConsentSessions on instance b completes."""
    env = local_agentcore
    workload = env.create_workload(return_urls=[RETURN_URL])
    oauth = env.create_oauth2_provider()[0]

    def instance() -> CredentialResolver:
        return CredentialResolver(AgentCoreIdentitySource(
            endpoint_url=env.endpoint_url, region=env.region, workload_name=workload))

    a, b = instance(), instance()
    sessions_a = ConsentSessions(a, store=stores[0])
    sessions_b = ConsentSessions(b, store=stores[1])
    with identity_context(user_id="dave"), pytest.raises(AuthorizationRequiredError) as caught:
        a.get_oauth2_token(oauth, scopes=["read"], auth_flow="USER_FEDERATION",
                           callback_url=RETURN_URL)
    pending = caught.value
    assert pending.session_uri
    with identity_context(user_id="dave"):
        sessions_a.remember(pending)
    env.complete_consent(pending.authorization_url, user_id="dave")
    with pytest.raises(AccessDeniedError, match="another user"):  # mallory, on instance b
        sessions_b.complete(pending.session_uri, user_id="mallory")
    sessions_b.complete(pending.session_uri, user_id="dave")
    with identity_context(user_id="dave"):
        token = b.get_oauth2_token(oauth, scopes=["read"], auth_flow="USER_FEDERATION",
                                   callback_url=RETURN_URL, session_uri=pending.session_uri)
    assert env.validate_oauth_token(token.reveal())["sub"] == "dave"
