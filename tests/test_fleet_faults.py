"""The fleet tier never fails or stalls a call: KMS and store faults really performed.

KMS is the emulator's (moto behind the AWS front); ``env.front.route`` makes its
``GenerateDataKey`` / ``Decrypt`` hang past the client's read timeout or close the
connection without an answer. The store is a real redis-server, valkey-server or
three-node Redis Cluster (``server``, ``env``, ``make`` come from conftest on
``fleet_store``). Tests assert counts (upstream calls, fallbacks, faults), never
wall-clock time.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config

from agentcore_auth import ConfigurationError
from agentcore_auth.fleet import RedisConsentSessionStore
from agentcore_auth.integration import ConsentSession
from agentcore_auth.testing import LocalAgentCore, LocalRedis
from agentcore_auth.testing._front import AwsRequest
from agentcore_auth.testing._redis import redis_server_binary
from agentcore_auth.testing._server import Response

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
def _serving_socket() -> socket.socket:
    """The socket of the HTTP request this thread is serving (found up the stack)."""
    frame = sys._getframe(1)
    while frame is not None:
        handler = frame.f_locals.get("self")
        if isinstance(getattr(handler, "connection", None), socket.socket):
            return handler.connection  # type: ignore[no-any-return, union-attr]
        frame = frame.f_back  # type: ignore[assignment]
    raise AssertionError("not serving a request")


class KmsFault:
    """KMS's data-key operations, served by moto, or made to hang or reset the connection."""

    def __init__(self, env: LocalAgentCore) -> None:
        self.env = env
        self.mode: str | None = None
        self.release = threading.Event()
        self.seen = 0
        for operation in ("GenerateDataKey", "Decrypt"):
            env.front.route("kms", operation, self.handle)

    def handle(self, aws: AwsRequest) -> Response:
        mode = self.mode
        if mode is None:
            return self.env.front._forward(aws.http)
        self.seen += 1
        if mode == "hang":  # past the client's read timeout: ReadTimeoutError
            self.release.wait(10)
            return Response.json({}, 500)
        # Reset the connection (RST) without an answer: botocore's ConnectionClosedError.
        connection = _serving_socket()
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RDWR)
        return Response.json({}, 500)  # never reaches the client

    def client(self) -> Any:
        config = Config(read_timeout=0.3, connect_timeout=0.3, retries={"max_attempts": 1})
        return self.env.client("kms", config=config)

    def stop(self) -> None:
        self.mode = None
        self.release.set()


@pytest.fixture
def kms(env: LocalAgentCore) -> Iterator[KmsFault]:
    fault = KmsFault(env)
    yield fault
    fault.stop()


@pytest.mark.parametrize("mode", ["hang", "reset"])
def test_kms_that_hangs_or_resets_fails_no_call_and_marks_the_tier_down(
    env: LocalAgentCore, make: Any, kms: KmsFault, mode: str
) -> None:
    name, _ = env.create_api_key_provider(f"kms-{mode}-0123456789")
    key_id = env.create_kms_key()
    kms.mode = mode
    resolver, shared = make(kms_key_id=key_id, kms_client=kms.client())
    before = env.call_count("GetResourceApiKey")
    for _ in range(3):  # every miss answered by AgentCore, none fails
        resolver.invalidate(name)
        assert resolver.get_api_key(name).reveal() == f"kms-{mode}-0123456789"
    assert env.call_count("GetResourceApiKey") - before == 3
    deadline = time.monotonic() + 10
    while shared.stats.outages == 0:  # the background key load gave up
        assert time.monotonic() < deadline, shared.stats
        time.sleep(0.01)
    stats = shared.stats
    assert kms.seen >= 1 and stats.fallbacks == 3 and stats.faults == 0
    assert not shared.available
    with pytest.raises(ConfigurationError, match="did not answer"):
        shared.check()


def test_kms_reset_leaves_the_consent_store_working_on_its_own_sessions(
    make: Any, kms: KmsFault, env: LocalAgentCore
) -> None:
    kms.mode = "reset"
    _, shared = make(kms_key_id=env.create_kms_key(), kms_client=kms.client())
    store = RedisConsentSessionStore(shared)
    session = ConsentSession("urn:session:kms", "github", "alice", None, time.time() + 60)
    store.put(session)  # no exception: kept locally while the key cannot be had
    assert store.get("urn:session:kms") == session
    store.delete("urn:session:kms")
    assert store.get("urn:session:kms") is None


def test_kms_back_after_a_fault_the_tier_serves_again(
    env: LocalAgentCore, make: Any, kms: KmsFault
) -> None:
    name, _ = env.create_api_key_provider("kms-back-0123456789")
    key_id = env.create_kms_key()
    kms.mode = "reset"
    a, shared_a = make(kms_key_id=key_id, kms_client=kms.client(), retry_interval=0.2)
    a.get_api_key(name)
    kms.mode = None
    time.sleep(0.25)  # past retry_interval: the next miss loads the key in the background
    b, shared_b = make(kms_key_id=key_id, kms_client=kms.client())
    shared_b.check()
    b.get_api_key(name)  # fills the store
    a.invalidate(name)
    deadline = time.monotonic() + 10
    while True:
        a.invalidate(name)
        a.get_api_key(name)
        if shared_a.stats.shared_hits:
            break
        assert time.monotonic() < deadline, shared_a.stats
        time.sleep(0.05)
    assert shared_a.stats.faults == 0 and shared_a.available  # served by the store again


class Broken:
    """A redis client whose every call (or only ``only``'s) raises what no store client
    should (a bug)."""

    def __init__(self, real: Any, only: frozenset[str] | None = None) -> None:
        self._real = real
        self._only = only

    def __getattr__(self, name: str) -> Any:
        kept = ("register_script", "close", "pubsub")
        if name in kept or (self._only is not None and name not in self._only):
            return getattr(self._real, name)

        def broken(*_: Any, **__: Any) -> Any:
            raise KeyError("a bug inside the tier")

        return broken


def test_a_bug_inside_the_tier_is_counted_and_fails_no_call(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    name, _ = env.create_api_key_provider("fault-bug-0123456789")
    resolver, shared = make(client=Broken(server.client()))
    before = env.call_count("GetResourceApiKey")
    assert resolver.get_api_key(name).reveal() == "fault-bug-0123456789"
    resolver.invalidate(resolver.get_api_key(name))
    assert resolver.get_api_key(name).reveal() == "fault-bug-0123456789"
    assert env.call_count("GetResourceApiKey") - before == 2
    stats = shared.stats
    # The caller's miss meets the bug; the listener's catch-up of the notice log meets it
    # too, a counted fault each time the listener restarts.
    assert stats.faults >= 1 and stats.fallbacks == 2 and not shared.available


def test_a_listener_that_resubscribes_does_not_end_an_outage_early(
    env: LocalAgentCore, make: Any, server: Any
) -> None:
    """A fault made the tier local-only for retry_interval (60 s); the notice listener's
    connection is killed (CLIENT KILL TYPE pubsub on every node) and it subscribes again.
    The subscription proves nothing about the fault: the tier stays local-only. (Before,
    each resubscription marked the store up at once.)"""
    import redis

    name, _ = env.create_api_key_provider("fault-resub-0123456789")
    # Only SET has the bug: the miss's lock meets it, the listener's own commands do not.
    resolver, shared = make(client=Broken(server.client(), only=frozenset({"set"})),
                            retry_interval=60.0)
    assert resolver.get_api_key(name).reveal() == "fault-resub-0123456789"
    stats = shared.stats
    assert stats.faults == 1 and stats.fallbacks == 1 and not shared.available

    def resubscribed(times: int) -> None:
        deadline = time.monotonic() + 10
        while not (shared.stats.resyncs >= times and shared._subscribed.is_set()):
            assert time.monotonic() < deadline, shared.stats
            time.sleep(0.01)

    resubscribed(0)
    for resyncs in (1, 2):  # after the second, the steps that followed the first have run
        for url in getattr(server, "urls", [server.url]):
            node = redis.Redis.from_url(url)
            node.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            node.close()
        resubscribed(resyncs)
    assert not shared.available and shared.stats.outages == 1
    resolver.clear()
    resolver.get_api_key(name)
    assert shared.stats.fallbacks == 2  # still local-only: the SET was not tried again


def _slow_client(server: Any, delay: float) -> tuple[Any, list[Any]]:
    """A client of ``server`` whose every answer is held ``delay`` s by loopback proxies.

    On a cluster, one proxy per node, and the client maps each node's address (as the
    cluster announces it) to its proxy: every node of the cluster is slow.
    """
    import redis

    from benchmarks.fleet_tier import SlowProxy

    urls = server.urls if server.cluster else [server.url]
    ports = [int(u.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]) for u in urls]
    proxies = {port: SlowProxy(("127.0.0.1", port), delay) for port in ports}
    if not server.cluster:
        return redis.Redis(port=proxies[ports[0]].port, socket_timeout=1.0,
                           socket_connect_timeout=0.5), list(proxies.values())

    def remap(address: tuple[str, int]) -> tuple[str, int]:
        proxy = proxies.get(address[1])
        return ("127.0.0.1", proxy.port) if proxy is not None else address

    client = redis.RedisCluster(host="127.0.0.1", port=proxies[ports[0]].port,
                                address_remap=remap, socket_timeout=2.0,
                                socket_connect_timeout=0.5)
    return client, list(proxies.values())


def test_a_store_answering_in_200ms_is_treated_as_down_by_the_miss_budget(
    env: LocalAgentCore, make: Any, server: LocalRedis
) -> None:
    """Every answer of the store held 200 ms by a real loopback proxy (under op_timeout)."""
    name, _ = env.create_api_key_provider("slow-store-0123456789")
    filler, _ = make()
    filler.get_api_key(name)  # the store holds it
    client, proxies = _slow_client(server, 0.2)
    try:
        # The library's own budgets (make's are a loaded machine's): 200 ms is a quarter
        # of the 0.6 s miss budget, under the 0.25 s op_timeout.
        slow, shared = make(client=client, retry_interval=60.0, op_timeout=0.25,
                            miss_budget=0.6)
        before = env.call_count("GetResourceApiKey")
        for _ in range(4):
            slow.clear()
            assert slow.get_api_key(name).reveal() == "slow-store-0123456789"
        stats = shared.stats
        assert stats.over_budget >= 1 and stats.outages == 1 and not shared.available
        assert stats.fallbacks >= 3  # after the first slow answer: local-only
        assert env.call_count("GetResourceApiKey") - before == stats.fallbacks
    finally:
        for proxy in proxies:
            proxy.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_real_fork_restarts_the_listener_in_the_child(
    env: LocalAgentCore, make: Any
) -> None:
    """A cache made before fork(): the child gets drop notices (its listener runs again)."""
    name, _ = env.create_api_key_provider("fork-0123456789")
    parent, _ = make()
    other, _ = make()
    parent.get_api_key(name)
    value = other.get_api_key(name)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a drop from `other` must reach it
        code = 1
        try:
            shared = parent._shared.owner  # type: ignore[union-attr]
            shared._subscribed.wait(10)  # the child's own listener is subscribed
            os.write(write, b"r")  # ready
            deadline = time.monotonic() + 10
            while shared.stats.local_drops == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            code = 0 if shared.stats.local_drops == 1 and shared.stats.forks == 1 else 2
        finally:
            os._exit(code)
    os.close(write)
    assert os.read(read, 1) == b"r"
    os.close(read)
    other.invalidate(value)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
