"""The notice log: a process cut off replays the drops it missed; after a restart it
revalidates (still serving) instead of removing. Every fault really performed.

Runs on Redis, Valkey and a three-node Redis Cluster (the ``fleet_store`` fixture).
A process is cut off for real: its store user is switched off (``ACL SETUSER ... off``)
and its connections killed (``CLIENT KILL USER``) on every node, so it cannot
reconnect until the user is switched on again; a restart is a SIGKILL of the
server(s) and a start with nothing in them; log entries are forged and replayed with
a plain client, as anyone able to reach the store could. Tests assert counts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from agentcore_auth import CredentialResolver, SourceUnavailableError
from agentcore_auth.fleet import FleetKeys, RedisSharedCache
from agentcore_auth.fleet._refusals import seal_notice
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._fleet import Fleet
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
KEY = os.urandom(32)


# server, workload, prefix: tests/conftest.py


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> Iterator[LocalAgentCore]:
    local_agentcore.clear_faults()
    yield local_agentcore
    local_agentcore.clear_faults()


@pytest.fixture
def make(make: Callable[..., Any], server: Any) -> Callable[..., Any]:
    """conftest's ``make`` with this file's defaults (``KEY``, ``retry_interval`` 0.2 s, 4
    attempts per fetch); ``url`` is a store user's URL on ``store`` (default ``server``)."""

    def build(url: str | None = None, *, store: Any = None, max_attempts: int = 4,
              **kw: Any) -> tuple[CredentialResolver, RedisSharedCache]:
        store = store or server
        kw.setdefault("data_key", KEY)
        kw.setdefault("retry_interval", 0.2)
        made: tuple[CredentialResolver, RedisSharedCache] = make(
            url or store.url, cluster=store.cluster, source_kw={"max_attempts": max_attempts},
            **kw)
        return made

    return build


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def nodes(store: Any) -> list[Any]:
    """A plain client of every node of ``store`` (one, or each cluster primary)."""
    return [redis.Redis.from_url(url) for url in getattr(store, "urls", [store.url])]


def client(store: Any) -> Any:
    """A plain client of ``store`` (a cluster client for a cluster)."""
    if store.cluster:
        return redis.RedisCluster.from_url(store.url)
    return redis.Redis.from_url(store.url)


class StoreUser:
    """A store user of its own for one 'process', switched off and on on every node."""

    def __init__(self, store: Any, *rules: str) -> None:
        self.store = store
        self.name = f"u{os.urandom(4).hex()}"
        self.password = os.urandom(8).hex()
        self.set("on", f">{self.password}", "~*", "&*", "+@all", *rules)

    def url(self) -> str:
        return self.store.url.replace("redis://", f"redis://{self.name}:{self.password}@")

    def set(self, *rules: str) -> None:
        for node in nodes(self.store):
            node.execute_command("ACL", "SETUSER", self.name, *rules)
            node.close()

    def cut_off(self) -> None:
        """Switch the user off and kill its connections: it cannot come back for now."""
        self.set("off")
        for node in nodes(self.store):
            node.execute_command("CLIENT", "KILL", "USER", self.name)
            node.close()

    def let_back(self) -> None:
        self.set("on")

    def remove(self) -> None:
        for node in nodes(self.store):
            node.execute_command("ACL", "DELUSER", self.name)
            node.close()


@pytest.fixture
def user(server: Any) -> Iterator[StoreUser]:
    made = StoreUser(server)
    yield made
    made.remove()


# --- a drop missed while cut off is replayed from the log -----------------------------------------


@pytest.mark.parametrize("log_lost", [False, True], ids=["replayed", "control-log-lost"])
def test_a_drop_sent_while_a_process_was_cut_off_is_applied_on_reconnect(
    env: LocalAgentCore, make: Any, server: Any, user: StoreUser, log_lost: bool
) -> None:
    name, arn = env.create_api_key_provider(f"replay-{log_lost}-0123456789")
    (a, shared_a), (b, shared_b) = make(), make(user.url())
    old = a.get_api_key(name)
    assert b.get_api_key(name) == old  # from the store
    eventually(lambda: shared_b._log_cursor is not None)  # b has its place in the log
    user.cut_off()
    eventually(lambda: not shared_b._subscribed.is_set())
    env.rotate_secret(arn, {"api_key": f"replay-new-{log_lost}-0123456"})
    a.invalidate(old)  # a 401 in a while b cannot hear it
    eventually(lambda: shared_a.stats.invalidations_sent == 1)
    assert a.get_api_key(name).reveal() == f"replay-new-{log_lost}-0123456"  # in the store
    if log_lost:  # control: the store lost the log (as a store that lost data would)
        client(server).delete(shared_a._log_key)
    before = env.call_count("GetResourceApiKey")
    user.let_back()
    eventually(lambda: shared_b.stats.resyncs == 1 and shared_b._subscribed.is_set()
               and shared_b.stats.local_drops + shared_b.stats.revalidations >= 1)
    stats = shared_b.stats
    if log_lost:
        # Missed: nothing told b of the drop; it only knows it lost its place and
        # revalidates what it holds (the store no longer holds that value).
        assert stats.notices_replayed == 0 and stats.invalidations_received == 0
        assert stats.log_gaps == 1 and stats.revalidations == 1 and stats.local_drops == 0
    else:
        assert stats.notices_replayed == 1 and stats.local_drops == 1
        assert stats.log_gaps == 0 and stats.revalidations == 0
    # Either way b now serves the new value, read from the store: no upstream call.
    assert b.get_api_key(name).reveal() == f"replay-new-{log_lost}-0123456"
    assert env.call_count("GetResourceApiKey") == before


# --- restarts: revalidation, not removal ----------------------------------------------------------


def test_an_empty_store_restart_costs_at_most_one_upstream_call_per_credential(
    env: LocalAgentCore, workload: str, fleet_store_kind: Any, patient: dict[str, float],
) -> None:
    """Three real processes hold 60 fresh credentials; the store is SIGKILLed and started
    empty. Each process revalidates what it held: 60 upstream calls for the fleet (one per
    credential, by the first process to use it), none by the two others, which read the
    values back from the store. (Before: every process removed all 60.)"""
    names = [env.create_api_key_provider(f"storm-{i:02d}-0123456789")[0] for i in range(60)]
    with fleet_store_kind() as own, Fleet(3, env.env_vars()) as procs:
        procs.all("setup", **patient, workload=workload, redis_url=own.url, cluster=own.cluster,
                  data_key=os.urandom(32).hex(), prefix="storm:", retry_interval=0.2, ttl=600)
        held = {name: procs.all("get", provider=name) for name in names}
        assert all(len({a["fingerprint"] for a in answers}) == 1 for answers in held.values())
        own.kill()
        own.start()
        deadline = time.monotonic() + 30
        while True:  # every process is back, found its place in the log lost, revalidated
            stats = [s["shared"] for s in procs.all("stats")]
            if all(s["log_gaps"] >= 1 and s["revalidations"] == 60 for s in stats):
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.1)
        before = env.call_count("GetResourceApiKey")
        fetched = [s["source_fetches"] for s in stats]
        for name in names:  # the first process uses every credential, then the two others
            assert procs.all("get", [0], provider=name)[0]["fingerprint"] == \
                held[name][0]["fingerprint"]
        for name in names:
            again = procs.all("get", [1, 2], provider=name)
            assert {a["fingerprint"] for a in again} == {held[name][0]["fingerprint"]}
        assert env.call_count("GetResourceApiKey") - before == 60  # one per credential
        stats = [s["shared"] for s in procs.all("stats")]
        assert stats[0]["source_fetches"] - fetched[0] == 60
        assert [s["source_fetches"] - f for s, f in zip(stats[1:], fetched[1:], strict=True)] \
            == [0, 0]  # put back in the store by the first: no call of their own
        assert all(s["local_drops"] == 0 for s in stats)


def test_a_throttled_upstream_during_an_empty_restart_fails_no_call(
    env: LocalAgentCore, make: Any, fleet_store_kind: Any
) -> None:
    """AgentCore throttles every call while the store restarts empty: the held values are
    served (stale) instead of failing. Control: entries removed, as the old resync did,
    fail every call."""
    names = [env.create_api_key_provider(f"throttle-{i}-0123456789")[0] for i in range(10)]
    with fleet_store_kind() as own:
        (a, shared_a), (b, shared_b), (c, _) = (make(store=own, max_attempts=1)
                                                 for _ in range(3))
        held = {name: a.get_api_key(name) for name in names}
        for resolver in (b, c):
            assert [resolver.get_api_key(n) for n in names] == list(held.values())
        own.kill()
        own.start()
        eventually(lambda: all(s.stats.revalidations == 10 for s in (shared_a, shared_b)))
        env.inject_fault("GetResourceApiKey", "ThrottlingException")
        c.clear()  # the control: what the old resync did to every process
        failed = control_failed = 0
        for name in names:
            for resolver in (a, b):
                try:
                    assert resolver.get_api_key(name) == held[name]
                except SourceUnavailableError:
                    failed += 1
            try:
                c.get_api_key(name)
            except SourceUnavailableError:
                control_failed += 1
        assert env.faults_injected("GetResourceApiKey") >= 10  # upstream really was asked
        assert failed == 0 and control_failed == 10
        assert a.stats.stale_serves + b.stats.stale_serves >= 10


def test_a_blip_with_the_log_intact_costs_nothing(
    env: LocalAgentCore, make: Any, server: Any, prefix: str
) -> None:
    """Every subscriber's connection killed (CLIENT KILL TYPE pubsub on every node), the
    store intact: each process replays from its place, keeps all it held, calls nothing."""
    names = [env.create_api_key_provider(f"blip-{i}-0123456789")[0] for i in range(20)]
    (a, shared_a), (b, shared_b) = make(), make()
    for name in names:
        a.get_api_key(name)
        b.get_api_key(name)
    eventually(lambda: shared_b._log_cursor is not None and shared_a._log_cursor is not None)
    before = env.call_count("GetResourceApiKey")
    hits = b.stats.hits
    for node in nodes(server):
        node.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        node.close()
    eventually(lambda: shared_a.stats.resyncs >= 1 and shared_b.stats.resyncs >= 1
               and shared_a._subscribed.is_set() and shared_b._subscribed.is_set())
    for name in names:
        a.get_api_key(name)
        b.get_api_key(name)
    assert env.call_count("GetResourceApiKey") == before
    assert b.stats.hits - hits == 20  # still in b's own cache: nothing dropped or marked
    for shared in (shared_a, shared_b):
        stats = shared.stats
        assert stats.log_gaps == 0 and stats.revalidations == 0 and stats.local_drops == 0


def test_a_lost_log_with_the_store_intact_keeps_what_the_store_confirms(
    env: LocalAgentCore, make: Any, server: Any
) -> None:
    """The log deleted (as when trimmed past a process's place, or lost) while the values
    are still in the store: the store confirms 4 of the 5 values b holds (kept as they
    were, ``revalidated``); the fifth, gone from the store, is marked and its next use is
    the only upstream call."""
    names = [env.create_api_key_provider(f"lost-{i}-0123456789")[0] for i in range(5)]
    (a, _), (b, shared_b) = make(), make()
    for name in names:
        a.get_api_key(name)
        b.get_api_key(name)
    eventually(lambda: shared_b._log_cursor is not None)
    store = client(server)
    gone = next(iter(shared_b._attached[0]._by_name))
    assert store.delete(shared_b._value_key(gone)) == 1
    before = env.call_count("GetResourceApiKey")
    hits = b.stats.hits
    store.delete(shared_b._log_key)
    eventually(lambda: shared_b.stats.revalidated + shared_b.stats.revalidations == 5)
    stats = shared_b.stats
    assert stats.log_gaps == 1 and stats.revalidated == 4 and stats.revalidations == 1
    for name in names:
        b.get_api_key(name)
    assert b.stats.hits - hits == 4
    assert env.call_count("GetResourceApiKey") - before == 1
    store.close()


def test_a_store_that_refuses_the_log_leaves_pubsub_working_and_revalidates(
    env: LocalAgentCore, make: Any, server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A store user without the stream commands (an ACL written before the log existed):
    no outage, one warning per process, drops still go over pub/sub, and a reconnection
    revalidates against the store instead of replaying."""
    import logging

    user = StoreUser(server, "-@stream")
    try:
        name, _ = env.create_api_key_provider("no-log-0123456789")
        with caplog.at_level(logging.WARNING, logger="agentcore_auth.fleet"):
            (a, shared_a), (b, shared_b) = make(user.url()), make(user.url())
            value = a.get_api_key(name)
            b.get_api_key(name)
            a.invalidate(value)
            eventually(lambda: shared_b.stats.local_drops == 1)  # over pub/sub
            assert b.get_api_key(name) == value  # fetched again, into the store
            assert shared_a.stats.outages == 0 and shared_b.stats.outages == 0
            before = env.call_count("GetResourceApiKey")
            for node in nodes(server):
                node.execute_command("CLIENT", "KILL", "USER", user.name)
                node.close()
            eventually(lambda: shared_b.stats.resyncs >= 1 and shared_b.stats.revalidated >= 1)
            assert b.get_api_key(name) == value
            assert env.call_count("GetResourceApiKey") == before
        warned = [r for r in caplog.records if "refuses the notice log" in r.getMessage()]
        assert len(warned) == 2 and shared_a.stats.invalidations_sent == 1
    finally:
        user.remove()


# --- the log under attack -------------------------------------------------------------------------


def test_forged_and_replayed_log_entries_are_refused(
    env: LocalAgentCore, make: Any, server: Any, prefix: str
) -> None:
    name, _ = env.create_api_key_provider("log-forged-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    value = a.get_api_key(name)
    b.get_api_key(name)
    a.invalidate(value)  # a genuine drop: on the channel and on the log
    eventually(lambda: shared_b.stats.local_drops == 1)
    assert b.get_api_key(name) == value  # b fetched it again (a replay would drop it again)
    store = client(server)
    log = shared_a._log_key
    channel = prefix + "events"
    (captured,) = [fields[b"n"] for _, fields in store.xrange(log) if b"n" in fields]
    key_name = next(iter(shared_b._attached[0]._by_name))
    own = FleetKeys(KEY, fleet=shared_b.fleet)  # the fleet is bound into every notice
    other = FleetKeys(os.urandom(32), fleet=shared_b.fleet)
    tag = own.tag(value.reveal())
    forged_before, replayed_before = (shared_b.stats.forged_notices,
                                      shared_b.stats.replayed_notices)
    store.xadd(log, {b"n": captured})  # replayed at once: its nonce was met on the log
    last = int(store.xrevrange(log, count=1)[0][0].split(b"-")[0])
    store.xadd(log, {b"n": captured}, id=f"{last + 60_000}-0")  # 'a minute later'
    store.xadd(log, {b"n": seal_notice(other, channel, "drop", key_name, d=tag,
                                       w=time.time())})  # without the fleet key
    store.xadd(log, {b"n": b"n1" + os.urandom(64)})  # junk
    store.xadd(log, {b"n": seal_notice(own, channel, "fail", key_name)})  # not a log notice
    store.xadd(log, {b"x": b"1"})  # neither a notice nor a mark
    eventually(lambda: shared_b.stats.forged_notices - forged_before == 4
               and shared_b.stats.replayed_notices - replayed_before == 2)
    stats = shared_b.stats
    assert stats.local_drops == 1 and stats.notices_replayed == 0
    # The id 'from the future' makes the next sender reset the log; then a drop sent on the
    # log alone (not published) still reaches b: the log path itself works (the control).
    b_value = b.get_api_key(name)
    store.delete(log)  # (or the next sender resets it; b lost its place either way)
    eventually(lambda: shared_b.stats.log_gaps == 1)
    genuine = seal_notice(own, channel, "drop", key_name, d=tag, w=time.time())
    store.xadd(log, {b"n": genuine})
    eventually(lambda: shared_b.stats.notices_replayed == 1)
    assert shared_b.stats.local_drops == 2
    assert b.get_api_key(name) == b_value  # dropped, fetched again (the same value)
    store.close()


def test_a_log_poisoned_with_future_ids_is_reset_by_the_next_sender(
    env: LocalAgentCore, make: Any, server: Any
) -> None:
    name, _ = env.create_api_key_provider("log-future-0123456789")
    (a, shared_a), (b, shared_b) = make(), make()
    value = a.get_api_key(name)
    b.get_api_key(name)
    eventually(lambda: shared_b._log_cursor is not None)
    store = client(server)
    future_ms = int(time.time() * 1000) + 3_600_000
    store.xadd(shared_a._log_key, {b"m": b"poison"}, id=f"{future_ms}-0")
    a.invalidate(value)
    eventually(lambda: shared_a.stats.log_resets == 1 and shared_a.stats.invalidations_sent == 1)
    ids = [entry_id for entry_id, _ in store.xrange(shared_a._log_key)]
    assert len(ids) == 1 and int(ids[0].split(b"-")[0]) < future_ms
    eventually(lambda: shared_b.stats.local_drops == 1)
    store.close()
