"""Fleet mode in one process: RedisSharedCache against a real redis-server and the emulator.

Each ``RedisSharedCache`` here stands for one process of a fleet (its own
connections, listener thread and key material); the multi-process tests are in
``test_fleet_processes.py``. Upstream calls are counted by the emulator.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from agentcore_auth import (
    AgentCoreIdentitySource,
    ConfigurationError,
    CredentialResolver,
    Redactor,
    default_redactor,
    identity_context,
)
from agentcore_auth._redact import secret_patterns
from agentcore_auth.fleet import RedisSharedCache, encryption_context
from agentcore_auth.fleet._keys import dek_name
from agentcore_auth.httpx import AgentCoreAuth
from agentcore_auth.testing import LocalAgentCore, LocalRedis
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def no_leaks(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[None]:
    """Every test: logs at DEBUG, stdout and stderr hold no value registered meanwhile."""
    for name in ("", "agentcore_auth", "agentcore_auth.fleet", "redis"):
        caplog.set_level(logging.DEBUG, logger=name)
    before = set(default_redactor()._values)
    yield
    out, err = capfd.readouterr()
    texts = [caplog.text, out, err, *(repr(r.args) + r.getMessage() for r in caplog.records)]
    for value in set(default_redactor()._values) - before:
        for pattern in secret_patterns(value):
            assert not any(pattern in text for text in texts), f"{value[:6]}... leaked"


# ``server``, ``env``, ``workload``, ``prefix`` and ``make`` come from conftest (on fleet_store).


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for something another thread or the server does."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def store_dump(server: LocalRedis) -> bytes:
    """Every key and value in the store, as one blob."""
    client = server.client()
    try:
        out = b""
        for key in client.scan_iter(count=1000):
            value = client.dump(key) or b""
            out += key + b"\n" + value + b"\n"
        return out
    finally:
        client.close()


# --- configuration -------------------------------------------------------------------------------


def test_configuration_errors_say_what_to_do(server: LocalRedis) -> None:
    with pytest.raises(ConfigurationError, match="exactly one of data_key="):
        RedisSharedCache(server.url)
    with pytest.raises(ConfigurationError, match="exactly one of data_key="):
        RedisSharedCache(server.url, data_key=KEY, kms_key_id="alias/x")
    with pytest.raises(ConfigurationError, match="32 random bytes"):
        RedisSharedCache(server.url, data_key=b"short")
    with pytest.raises(ConfigurationError, match="lock_lease must be"):
        RedisSharedCache(server.url, data_key=KEY, lock_lease=0)
    with pytest.raises(ConfigurationError, match="not a Redis URL") as caught:
        RedisSharedCache("http://user:hunter2-password@host/", data_key=KEY)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="shared_cache must have an attach"):
        CredentialResolver(AgentCoreIdentitySource(workload_name="w"), shared_cache=object())  # type: ignore[arg-type]


def test_check_names_an_unreachable_store_without_its_password() -> None:
    shared = RedisSharedCache("redis://someone:pa55-word-secret@127.0.0.1:1/0", data_key=KEY)
    try:
        with pytest.raises(ConfigurationError, match="unreachable") as caught:
            shared.check()
        assert "pa55" not in str(caught.value) and "someone" not in repr(shared)
    finally:
        shared.close()


# --- one upstream call for the fleet -------------------------------------------------------------


def test_second_process_is_served_by_the_shared_tier(env: LocalAgentCore, make: Any) -> None:
    name, _ = env.create_api_key_provider("fleet-value-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    before = env.call_count("GetResourceApiKey")
    first = a.get_api_key(name)
    second = b.get_api_key(name)
    assert first == second and first.reveal() == "fleet-value-0123456789"
    assert env.call_count("GetResourceApiKey") - before == 1
    assert shared_a.stats.source_fetches == 1 and shared_b.stats.shared_hits == 1
    assert b.get_api_key(name) is second  # the local tier answers from now on
    assert shared_b.stats.shared_hits == 1


def test_cold_stampede_of_processes_threads_and_tasks_is_one_call(
    env: LocalAgentCore, make: Any
) -> None:
    name, _ = env.create_api_key_provider("stampede-fleet-0123456789")
    fleet = [make() for _ in range(4)]
    before = env.call_count("GetResourceApiKey")
    env.inject_fault("GetResourceApiKey", None, latency=0.3)  # a slow upstream: all overlap
    from concurrent.futures import ThreadPoolExecutor

    async def tasks(resolver: CredentialResolver) -> set[str]:
        got = await asyncio.gather(*(resolver.aget_api_key(name) for _ in range(10)))
        return {s.fingerprint for s in got}

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(r.get_api_key, name) for r, _ in fleet[:3] for _ in range(4)]
        futures.append(pool.submit(asyncio.run, tasks(fleet[3][0])))  # type: ignore[arg-type]
        results = [f.result() for f in futures]
    env.clear_faults()
    prints = {r.fingerprint for r in results[:-1]} | results[-1]  # type: ignore[union-attr]
    assert len(prints) == 1
    assert env.call_count("GetResourceApiKey") - before == 1, [s.stats for _, s in fleet]
    waits = sum(s.stats.lock_waits for _, s in fleet)
    assert waits >= 1  # the others waited for the holder's notice instead of calling
    assert sum(s.stats.source_fetches for _, s in fleet) == 1


def test_values_expire_fleet_wide_with_the_ttl(env: LocalAgentCore, make: Any) -> None:
    name, arn = env.create_api_key_provider("ttl-fleet-0123456789")
    (a, _), (b, _) = make(resolver_kw={"ttl": 0.4}), make(resolver_kw={"ttl": 0.4})
    before = env.call_count("GetResourceApiKey")
    a.get_api_key(name)
    b.get_api_key(name)
    env.rotate_secret(arn, {"api_key": "ttl-fleet-rotated-0123"})
    time.sleep(0.5)  # past the TTL in both processes and in the store
    assert b.get_api_key(name).reveal() == "ttl-fleet-rotated-0123"
    assert a.get_api_key(name).reveal() == "ttl-fleet-rotated-0123"
    assert env.call_count("GetResourceApiKey") - before == 2  # one per TTL for the fleet


def test_user_tokens_are_shared_per_user_only(env: LocalAgentCore, make: Any) -> None:
    oauth = env.create_oauth2_provider()[0]
    (a, _), (b, _) = make(), make()
    before = env.call_count("GetResourceOauth2Token")
    tokens = {}
    for user in ("grace", "heidi"):
        user_token = env.issue_user_token(user)
        for resolver in (a, b):
            with identity_context(user_token=user_token):
                tokens[user, id(resolver)] = resolver.get_oauth2_token(
                    oauth, scopes=["api"], auth_flow="ON_BEHALF_OF_TOKEN_EXCHANGE",
                    audiences=["https://api.example.com"])
    assert env.call_count("GetResourceOauth2Token") - before == 2  # one per user, not per process
    assert tokens["grace", id(a)] == tokens["grace", id(b)] != tokens["heidi", id(b)]
    claims = env.validate_oauth_token(
        tokens["heidi", id(b)].reveal(), audience="https://api.example.com"
    )
    assert claims["sub"] == "heidi"


# --- invalidation --------------------------------------------------------------------------------


def test_a_401_drops_the_value_fleet_wide_and_costs_one_refetch(
    env: LocalAgentCore, make: Any
) -> None:
    name, arn = env.create_api_key_provider("rotate-fleet-0123456789")
    url = env.protected_api(arn, "api_key")
    fleet = [make() for _ in range(3)]
    for resolver, _ in fleet:
        resolver.get_api_key(name)
    before = env.call_count("GetResourceApiKey")
    env.rotate_secret(arn, {"api_key": "rotate-fleet-new-0123456"})
    (a, shared_a), *others = fleet
    auth = AgentCoreAuth.api_key(name, header="x-api-key", resolver=a)
    with httpx.Client(auth=auth) as client:
        response = client.get(url)
    assert response.status_code == 200 and len(response.history) == 1  # one 401, one refetch
    # Every other process dropped its copy before meeting a 401 of its own.
    eventually(lambda: all(s.stats.local_drops == 1 for _, s in others))
    for resolver, shared in others:
        auth = AgentCoreAuth.api_key(name, header="x-api-key", resolver=resolver)
        with httpx.Client(auth=auth) as client:
            response = client.get(url)
        assert response.status_code == 200 and response.history == []
        assert shared.stats.shared_hits == 2  # the first value, then the refetched one
    assert env.call_count("GetResourceApiKey") - before == 1
    assert shared_a.stats.invalidations_sent == 1


def test_compare_and_delete_keeps_a_newer_value(env: LocalAgentCore, make: Any) -> None:
    """A late 401 on the old value must not drop the value another process refetched."""
    name, arn = env.create_api_key_provider("cad-fleet-0123456789")
    (a, shared_a), (b, _) = make(), make()
    old_a = a.get_api_key(name)
    old_b = b.get_api_key(name)
    env.rotate_secret(arn, {"api_key": "cad-fleet-new-0123456"})
    a.invalidate(old_a)
    new = a.get_api_key(name)
    assert new.reveal() == "cad-fleet-new-0123456"
    before = env.call_count("GetResourceApiKey")
    b.invalidate(old_b)  # late: the store already holds the new value
    assert b.get_api_key(name) == new
    assert env.call_count("GetResourceApiKey") == before
    assert a.get_api_key(name) is new  # a's fresh copy was not dropped by b's late notice
    assert shared_a.stats.local_drops == 0


def test_many_401s_in_one_process_send_one_notice(env: LocalAgentCore, make: Any) -> None:
    name, _ = env.create_api_key_provider("notice-fleet-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    value = a.get_api_key(name)
    b.get_api_key(name)
    for _ in range(50):
        a.invalidate(value)
    eventually(lambda: shared_b.stats.invalidations_received >= 1)
    time.sleep(0.1)
    assert shared_a.stats.invalidations_sent == 1
    assert shared_b.stats.invalidations_received == 1


async def test_async_callers_and_invalidate_never_block_the_loop(
    env: LocalAgentCore, make: Any
) -> None:
    name, arn = env.create_api_key_provider("async-fleet-0123456789")
    (a, _), (b, shared_b) = make(), make()
    first = await a.aget_api_key(name)
    assert await b.aget_api_key(name) == first
    env.rotate_secret(arn, {"api_key": "async-fleet-new-0123456"})
    a.invalidate(first)  # the compare-and-delete and the notice run in the background
    assert (await a.aget_api_key(name)).reveal() == "async-fleet-new-0123456"
    await asyncio.to_thread(eventually, lambda: shared_b.stats.local_drops == 1)
    assert (await b.aget_api_key(name)).reveal() == "async-fleet-new-0123456"


# --- confidentiality -----------------------------------------------------------------------------


def test_the_store_holds_no_value_token_user_or_cache_key_in_clear(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    name, arn = env.create_api_key_provider("CANARY-fleet-store-0123456789")
    oauth = env.create_oauth2_provider()[0]
    (a, _), (b, _) = make(), make()
    notices: list[bytes] = []
    listener = server.client().pubsub(ignore_subscribe_messages=True)
    listener.psubscribe("*")
    user_token = env.issue_user_token("CANARY-user-ivan")
    with identity_context(user_token=user_token):
        token = a.get_oauth2_token(oauth, scopes=["api"], auth_flow="ON_BEHALF_OF_TOKEN_EXCHANGE")
    key = a.get_api_key(name)
    b.get_api_key(name)
    a.invalidate(key)
    a.get_api_key(name)

    def heard() -> bool:
        message = listener.get_message(timeout=0.05)
        if message is not None:
            notices.append(message["data"])
        return bool(notices)

    eventually(heard)
    listener.close()
    blob = store_dump(server) + b"\n".join(notices)
    assert blob  # the store is not empty: the test would fail if values were there
    forbidden = {
        *secret_patterns(key.reveal()),
        *secret_patterns(token.reveal()),
        *secret_patterns(user_token),
        "CANARY",
        name,
        oauth,
        "ivan",
    }
    for text in forbidden:
        assert text.encode() not in blob, f"found {text[:8]}... in the store"


def test_a_process_without_the_key_reads_nothing(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    name, _ = env.create_api_key_provider("keyed-fleet-0123456789")
    (a, _), (outsider, shared_o) = make(), make(data_key=os.urandom(32))
    a.get_api_key(name)
    before = env.call_count("GetResourceApiKey")
    outsider.get_api_key(name)
    assert env.call_count("GetResourceApiKey") - before == 1  # found nothing it could use
    assert shared_o.stats.shared_hits == 0


def test_a_record_moved_to_another_name_does_not_open(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    first, _ = env.create_api_key_provider("moved-one-0123456789")
    second, _ = env.create_api_key_provider("moved-two-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    a.get_api_key(first)
    a.get_api_key(second)
    client = server.client()
    keys = sorted(client.scan_iter(match=shared_a._prefix.encode() + b"v:*"))
    assert len(keys) == 2
    blobs = [client.get(k) for k in keys]
    client.set(keys[0], blobs[1])  # swap: each name now holds the other's record
    client.set(keys[1], blobs[0])
    client.close()
    assert b.get_api_key(first).reveal() == "moved-one-0123456789"
    assert b.get_api_key(second).reveal() == "moved-two-0123456789"
    stats = shared_b.stats
    assert stats.undecryptable >= 2 and stats.shared_hits == 0 and stats.source_fetches == 2


def test_values_read_from_the_store_are_registered_for_redaction(
    env: LocalAgentCore, make: Any
) -> None:
    name, _ = env.create_api_key_provider("redact-fleet-0123456789")
    redactor = Redactor()
    (a, _), (b, shared_b) = make(), make(resolver_kw={"redactor": redactor})
    a.get_api_key(name)
    b.get_api_key(name)
    assert shared_b.stats.shared_hits == 1
    assert "redact-fleet-0123456789" not in redactor.redact("key=redact-fleet-0123456789")


# --- KMS -----------------------------------------------------------------------------------------


def test_kms_data_key_is_shared_wrapped_and_opens_the_values(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    key_id = env.create_kms_key()
    name, _ = env.create_api_key_provider("kms-fleet-0123456789")
    kms = env.client("kms")
    (a, shared_a), (b, _) = (
        make(data_key=None, kms_key_id=key_id, kms_client=kms),
        make(data_key=None, kms_key_id=key_id, kms_client=env.client("kms")),
    )
    shared_a.check()
    before = env.call_count("GetResourceApiKey")
    assert a.get_api_key(name) == b.get_api_key(name)
    assert env.call_count("GetResourceApiKey") - before == 1
    client = server.client()
    wrapped = client.get(dek_name(shared_a._prefix, shared_a.fleet))
    client.close()
    plain = kms.decrypt(
        CiphertextBlob=wrapped, EncryptionContext=encryption_context(shared_a.fleet)
    )["Plaintext"]
    assert len(plain) == 32 and plain not in store_dump(server)


def test_kms_refusal_means_local_only_with_one_warning_naming_the_permission(
    env: LocalAgentCore, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    name, _ = env.create_api_key_provider("kms-denied-0123456789")
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    resolver, shared = make(data_key=None, kms_key_id=missing, kms_client=env.client("kms"))
    with pytest.raises(ConfigurationError, match="kms:GenerateDataKey and kms:Decrypt"):
        shared.check()
    with caplog.at_level(logging.WARNING, logger="agentcore_auth.fleet"):
        assert resolver.get_api_key(name).reveal() == "kms-denied-0123456789"
        resolver.get_api_key(name)
    warnings = [r for r in caplog.records if r.name == "agentcore_auth.fleet"]
    assert len(warnings) == 1 and "kms:Decrypt" in warnings[0].getMessage()
    assert shared.stats.fallbacks == 1 and shared.stats.outages == 1


# --- failure: the store down or slow -------------------------------------------------------------


def test_store_killed_and_back_local_only_one_warning_nothing_lost(
    env: LocalAgentCore, make: Any, caplog: pytest.LogCaptureFixture, fleet_store_kind: Any
) -> None:
    name, arn = env.create_api_key_provider("outage-fleet-0123456789")
    other, _ = env.create_api_key_provider("outage-other-0123456789")
    with fleet_store_kind() as own:
        (a, shared_a), (b, shared_b) = (
            make(own.url, retry_interval=0.2, cluster=own.cluster),
            make(own.url, retry_interval=0.2, cluster=own.cluster),
        )
        old = a.get_api_key(name)
        b.get_api_key(name)
        own.kill()
        with caplog.at_level(logging.WARNING, logger="agentcore_auth.fleet"):
            # Down: every call still answers, local-only.
            assert a.get_api_key(other).reveal() == "outage-other-0123456789"
            env.rotate_secret(arn, {"api_key": "outage-fleet-new-0123456"})
            a.invalidate(old)  # refused during the outage: kept to send once back
            assert a.get_api_key(name).reveal() == "outage-fleet-new-0123456"
            time.sleep(0.3)
            assert b.get_api_key(other).reveal() == "outage-other-0123456789"
            warnings = [r for r in caplog.records if "unusable" in r.getMessage()]
            assert len(warnings) == 2  # one per 'process', once per outage
            assert shared_a.stats.outages == 1 and shared_a.stats.errors >= 1
            assert not shared_a.available
            own.start()
            eventually(lambda: shared_a.available and shared_b.available)
            eventually(lambda: shared_a.stats.replayed >= 1)  # again if a node was not back yet
            eventually(lambda: shared_a.stats.invalidations_sent == 1)  # the late drop landed
        # b missed notices while cut off: once resubscribed it re-reads what it held.
        eventually(lambda: shared_b.stats.resyncs == 1 and shared_b.stats.local_drops >= 1)
        assert b.get_api_key(name).reveal() == "outage-fleet-new-0123456"
        assert any("reachable again" in r.getMessage() for r in caplog.records)


def test_a_slow_store_is_bounded_by_the_op_timeout(
    env: LocalAgentCore, make: Any
) -> None:
    name, _ = env.create_api_key_provider("slow-store-0123456789")
    with LocalRedis() as own:
        resolver, shared = make(own.url, op_timeout=0.1, retry_interval=30)
        shared.check()
        client = redis.Redis.from_url(own.url)
        import threading

        sleeper = threading.Thread(target=client.execute_command, args=("DEBUG", "SLEEP", "1.0"))
        sleeper.start()
        time.sleep(0.05)
        assert resolver.get_api_key(name).reveal() == "slow-store-0123456789"
        sleeper.join()
        client.close()
    # The read timed out (op_timeout) and the value came from the source, local-only.
    assert shared.stats.fallbacks == 1 and shared.stats.outages == 1


def test_a_failed_fetch_sends_the_waiters_to_the_source_at_once(
    env: LocalAgentCore, make: Any
) -> None:
    """The holder's throttled fetch does not make the fleet queue behind it one by one."""
    from concurrent.futures import ThreadPoolExecutor

    from agentcore_auth import SourceUnavailableError

    name, _ = env.create_api_key_provider("failed-fleet-0123456789")
    fleet = [make() for _ in range(3)]
    env.inject_fault("GetResourceApiKey", "AccessDeniedException", latency=0.3, count=1)
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(r.get_api_key, name) for r, _ in fleet]
            outcomes = [f.exception() or f.result().reveal() for f in futures]
    finally:
        env.clear_faults()
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1 and not isinstance(errors[0], SourceUnavailableError)
    assert outcomes.count("failed-fleet-0123456789") == 2
    stats = [s.stats for _, s in fleet]
    assert sum(s.fallbacks for s in stats) == 2  # both waiters went to the source themselves
    assert sum(s.wait_timeouts for s in stats) == 0


def test_the_core_does_not_import_the_fleet_extra() -> None:
    import subprocess
    import sys

    code = "import sys, agentcore_auth; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert not {"redis", "cryptography", "agentcore_auth.fleet"} & set(loaded)


def test_a_live_holder_keeps_its_lease_through_a_slow_fetch(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    """A fetch twice as long as the lease: the holder renews, nobody takes over (a lease
    of 1.5 s: a renewal, due every 375 ms, may be a second late on a loaded machine)."""
    import threading

    name, _ = env.create_api_key_provider("renew-fleet-0123456789")
    warm, _ = env.create_api_key_provider("renew-warm-0123456789")
    (a, shared_a), (b, shared_b) = make(lock_lease=1.5), make(lock_lease=1.5)
    a.get_api_key(warm)  # the sources' clients and workload tokens, outside the measure
    b.get_api_key(warm)
    inner = a.source

    class Slow:  # a source whose fetch takes 3 s (a user's own wrapper, not a mock)
        name = "slow"

        def fetch(self, request: Any, identity: Any) -> Any:
            time.sleep(3.0)
            return inner.fetch(request, identity)

    a.source = Slow()  # type: ignore[assignment]
    before = env.call_count("GetResourceApiKey")
    holder = threading.Thread(target=a.get_api_key, args=(name,))
    holder.start()
    client = server.client()
    eventually(lambda: bool(list(client.scan_iter(match=shared_a._prefix + "l:*"))))
    client.close()  # the holder has the lock and is in its fetch
    assert b.get_api_key(name).reveal() == "renew-fleet-0123456789"
    holder.join()
    assert env.call_count("GetResourceApiKey") - before == 1
    assert shared_b.stats.lock_waits == 1 and shared_b.stats.source_fetches == 0
