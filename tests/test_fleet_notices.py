"""The fleet's control plane under attack and after honest refusals, on a real redis-server.

Each ``RedisSharedCache`` stands for one process (its own connections, listener
and key material). Forged, replayed, future and ``inf`` notices are published on
the real channel with a plain redis client, as anyone able to reach the store
could; the 16k-notice flood is really sent. Tests assert counts, never time.
Runs on Redis, Valkey and a three-node Redis Cluster (``server``, ``env``,
``prefix``, ``make`` come from conftest on ``fleet_store``; on a cluster, a notice
published on one node reaches the subscribers of every node).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from agentcore_auth.fleet import FleetKeys
from agentcore_auth.fleet._refusals import seal_notice
from agentcore_auth.testing import LocalAgentCore, LocalRedis
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)


def node_client(server: Any, key: str) -> Any:
    """A plain client of the node serving ``key`` (any node when not a cluster)."""
    import redis

    if not server.cluster:
        return redis.Redis.from_url(server.url)
    return redis.Redis(port=server.slot_owner(key))


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --- every refusal honoured ----------------------------------------------------------------------


def test_a_spurious_401_does_not_blind_the_fleet_to_the_next_rotation(
    env: LocalAgentCore, make: Any
) -> None:
    name, arn = env.create_api_key_provider("spurious-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    first = a.get_api_key(name)
    assert b.get_api_key(name) == first
    before = env.call_count("GetResourceApiKey")
    a.invalidate(first)  # a 401 on a value that was still valid (a transient refusal)
    eventually(lambda: shared_b.stats.local_drops == 1)
    again = a.get_api_key(name)
    assert again == first and b.get_api_key(name) == first
    assert env.call_count("GetResourceApiKey") - before == 1
    # A real rotation, met as a 401 on the same value: honoured again, everywhere.
    env.rotate_secret(arn, {"api_key": "spurious-rotated-0123456789"})
    a.invalidate(again)
    eventually(lambda: shared_b.stats.local_drops == 2)
    assert a.get_api_key(name).reveal() == "spurious-rotated-0123456789"
    assert b.get_api_key(name).reveal() == "spurious-rotated-0123456789"
    assert env.call_count("GetResourceApiKey") - before == 2
    assert shared_a.stats.invalidations_sent == 2


def test_a_hundred_callers_meeting_one_401_send_one_notice(
    env: LocalAgentCore, make: Any
) -> None:
    name, _ = env.create_api_key_provider("hundred-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    value = a.get_api_key(name)
    b.get_api_key(name)
    for _ in range(100):
        a.invalidate(value)
    eventually(lambda: shared_b.stats.invalidations_received == 1)
    time.sleep(0.2)  # room for (wrong) extra notices to arrive
    assert shared_a.stats.invalidations_sent == 1 and shared_b.stats.invalidations_received == 1


# --- authenticated notices -----------------------------------------------------------------------


def sealed(keys: FleetKeys, channel: str, body: dict[str, Any]) -> bytes:
    """A notice sealed with ``keys`` carrying exactly ``body`` (any send time)."""
    return b"n1" + keys.seal_data(b"notice\x00" + channel.encode(), body)


def publish(server: LocalRedis, channel: str, *messages: bytes | str) -> None:
    client = redis.Redis.from_url(server.url)
    try:
        pipe = client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(channel, message)
        pipe.execute()
    finally:
        client.close()


def test_forged_and_out_of_window_notices_are_refused(
    env: LocalAgentCore, make: Any, server: LocalRedis, prefix: str, fleet_key: bytes
) -> None:
    name, _ = env.create_api_key_provider("forged-0123456789")
    (a, _), (b, shared_b) = make(), make()
    value = a.get_api_key(name)
    held = b.get_api_key(name)
    key_name = next(iter(shared_b._attached[0]._by_name))
    tag = FleetKeys(fleet_key).tag(value.reveal())
    channel = prefix + "events"
    own = FleetKeys(fleet_key, fleet=shared_b.fleet)  # the fleet is bound into every notice
    other = FleetKeys(os.urandom(32))  # a writer without the fleet key
    publish(
        server, channel,
        f"drop {key_name} {tag} inf",  # the old clear format, with an infinite time
        f"fail {key_name}",
        seal_notice(other, channel, "drop", key_name, d=tag, w=time.time()),
        b"n1" + os.urandom(64),
    )
    # Sealed with the fleet key but sent 'from the future' / long ago: refused.
    now = time.time()
    future = sealed(own, channel, {"k": "drop", "n": key_name, "t": now + 3600, "d": tag,
                                   "w": now, "i": os.urandom(12).hex()})
    late = sealed(own, channel, {"k": "drop", "n": key_name, "t": now - 3600, "d": tag,
                                 "w": now - 3600, "i": os.urandom(12).hex()})
    infinite = seal_notice(own, channel, "drop", key_name, d=tag, w=float("inf"))
    publish(server, channel, future, late, infinite)
    eventually(lambda: shared_b.stats.forged_notices == 7)
    stats = shared_b.stats
    assert stats.invalidations_received == 0 and stats.local_drops == 0
    assert b.get_api_key(name) is held  # still served from b's own cache
    # Control: a genuine notice made the same way is acted on.
    publish(server, channel, seal_notice(own, channel, "drop", key_name, d=tag, w=time.time()))
    eventually(lambda: shared_b.stats.local_drops == 1)


def test_a_captured_genuine_notice_replayed_is_refused(
    env: LocalAgentCore, make: Any, server: LocalRedis, prefix: str
) -> None:
    name, _ = env.create_api_key_provider("replay-0123456789")
    (a, _), (b, shared_b) = make(), make()
    listener = redis.Redis.from_url(server.url).pubsub()
    listener.subscribe(prefix + "events")
    listener.get_message(timeout=1.0)
    value = a.get_api_key(name)
    b.get_api_key(name)
    a.invalidate(value)
    eventually(lambda: shared_b.stats.local_drops == 1)
    captured = []
    deadline = time.monotonic() + 5
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:  # every notice so far (the fill, the drop)
        message = listener.get_message(timeout=0.1)
        if message and message["type"] == "message":
            captured.append(message["data"])
            quiet_since = time.monotonic()
        elif captured and time.monotonic() - quiet_since > 0.5:
            break
    listener.close()
    assert captured
    b.get_api_key(name)  # refetched: a replayed drop would drop it again
    publish(server, prefix + "events", *captured)
    eventually(lambda: shared_b.stats.replayed_notices == len(captured))
    assert shared_b.stats.local_drops == 1


def test_a_flood_of_16k_junk_notices_does_not_hold_back_a_real_drop(
    env: LocalAgentCore, make: Any, server: LocalRedis, prefix: str
) -> None:
    name, _ = env.create_api_key_provider("flood-0123456789")
    (a, _), (b, shared_b) = make(), make()
    value = a.get_api_key(name)
    b.get_api_key(name)
    junk = [b"n1" + os.urandom(80) for _ in range(16_000)]
    publish(server, prefix + "events", *junk)
    a.invalidate(value)  # sent after the flood, on the same channel
    eventually(lambda: shared_b.stats.local_drops == 1, timeout=60)
    # Every junk notice is read and refused (the drop may come first, from the notice log).
    eventually(lambda: shared_b.stats.forged_notices == 16_000, timeout=60)
    assert len(shared_b._refusals) <= 1 and len(shared_b._nonces) <= 5
    assert b.get_api_key(name) == value  # refetched: the drop really landed


# --- foreign locks -------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl_ms", [None, 3_600_000])
def test_a_squatted_lock_costs_one_look_not_a_wait(
    env: LocalAgentCore, make: Any, server: LocalRedis, prefix: str, ttl_ms: int | None
) -> None:
    """A lock key with no TTL (or one far longer than the lease), set by someone with store
    access: the miss fetches at once, after one look at the lock, instead of polling it."""
    name, _ = env.create_api_key_provider(f"squat-{ttl_ms}-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    a.get_api_key(name)
    (shared_name,) = list(shared_a._attached[0]._by_name)
    client = node_client(server, shared_b._lock_key(shared_name))  # its value's node too
    try:
        assert client.delete(shared_b._value_key(shared_name)) == 1
        client.set(shared_b._lock_key(shared_name), "squatter", px=ttl_ms)
        client.config_resetstat()
        before = env.call_count("GetResourceApiKey")
        assert b.get_api_key(name).reveal() == f"squat-{ttl_ms}-0123456789"
        assert env.call_count("GetResourceApiKey") - before == 1
        pttl_calls = client.info("commandstats").get("cmdstat_pttl", {}).get("calls", 0)
        assert pttl_calls == 1
        stats = shared_b.stats
        assert stats.foreign_locks == 1 and stats.wait_timeouts == 0
    finally:
        client.close()
