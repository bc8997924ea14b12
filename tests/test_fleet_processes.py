"""Fleet mode across real processes: 4 to 6 workers, one emulator, one redis-server.

Workers are ``agentcore_auth.testing._fleet`` processes (a resolver with a
``RedisSharedCache`` over the emulator, driven by JSON lines). Upstream calls are
counted by the emulator, which every worker reaches over loopback. Replies carry
fingerprints, never values; each worker's log (stderr) is checked for them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentcore_auth._redact import secret_patterns
from agentcore_auth.fleet._keys import dek_name
from agentcore_auth.testing import LocalAgentCore, LocalRedis
from agentcore_auth.testing._fleet import Fleet
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)


@pytest.fixture(scope="module")
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    return local_agentcore


@pytest.fixture(scope="module")
def server(fleet_store: Any) -> Any:
    """The store of this run: LocalRedis, LocalValkey or LocalRedisCluster (conftest)."""
    return fleet_store


@pytest.fixture(scope="module")
def workload(env: LocalAgentCore) -> str:
    return env.create_workload()


@pytest.fixture(scope="module")
def fleet(
    env: LocalAgentCore, server: LocalRedis, workload: str, patient: dict[str, float]
) -> Iterator[Fleet]:
    """Six processes sharing one store and one key (started once: ~1 s of imports each)."""
    with Fleet(6, env.env_vars()) as processes:
        processes.all("setup", workload=workload, redis_url=server.url, cluster=server.cluster,
                      **patient, data_key=os.urandom(32).hex())
        yield processes


def no_values_in_logs(fleet: Fleet, *values: str) -> None:
    logs = "".join(fleet.log(i) for i in range(len(fleet)) if fleet.processes[i].poll() is None)
    for value in values:
        for pattern in secret_patterns(value):
            assert pattern not in logs


def test_cold_stampede_of_six_processes_is_one_upstream_call(
    env: LocalAgentCore, fleet: Fleet
) -> None:
    name, _ = env.create_api_key_provider("procs-stampede-0123456789")
    env.inject_fault("GetResourceApiKey", None, latency=0.3)  # all six overlap the fetch
    before = env.call_count("GetResourceApiKey")
    try:
        answers = fleet.all("get", provider=name)
    finally:
        env.clear_faults()
    assert len({a["fingerprint"] for a in answers}) == 1
    assert env.call_count("GetResourceApiKey") - before == 1
    stats = fleet.all("stats")
    assert sum(s["shared"]["source_fetches"] for s in stats) == 1
    no_values_in_logs(fleet, "procs-stampede-0123456789")


def test_rotation_costs_one_refetch_and_the_others_switch_before_a_401(
    env: LocalAgentCore, fleet: Fleet
) -> None:
    name, arn = env.create_api_key_provider("procs-rotate-0123456789")
    url = env.protected_api(arn, "api_key")
    warm = fleet.all("call", provider=name, url=url, n=1)
    assert all(a["statuses"] == {"200": 1} for a in warm)
    before = env.call_count("GetResourceApiKey")
    drops = [s["shared"]["local_drops"] for s in fleet.all("stats")]
    env.rotate_secret(arn, {"api_key": "procs-rotate-new-0123456"})
    first = fleet.all("call", [0], provider=name, url=url, n=1)[0]
    assert first["statuses"] == {"200": 1} and first["met_401"] == 1
    deadline = time.monotonic() + 10
    while True:  # the drop notice reaches the five others
        now = [s["shared"]["local_drops"] for s in fleet.all("stats", list(range(1, 6)))]
        if all(n == d + 1 for n, d in zip(now, drops[1:], strict=True)):
            break
        assert time.monotonic() < deadline, f"local drops {now} (before {drops[1:]})"
        time.sleep(0.05)
    rest = fleet.all("call", list(range(1, 6)), provider=name, url=url, n=3)
    assert all(a["statuses"] == {"200": 3} and a["met_401"] == 0 for a in rest)
    assert env.call_count("GetResourceApiKey") - before == 1  # one refetch for the fleet
    no_values_in_logs(fleet, "procs-rotate-0123456789", "procs-rotate-new-0123456")


def test_rotation_under_load_at_most_the_requests_in_flight_meet_a_401(
    env: LocalAgentCore, fleet: Fleet
) -> None:
    name, arn = env.create_api_key_provider("procs-load-0123456789")
    url = env.protected_api(arn, "api_key")
    fleet.all("call", provider=name, url=url, n=1)
    before = env.call_count("GetResourceApiKey")
    rotator = threading.Timer(
        0.5, env.rotate_secret, args=(arn, {"api_key": "procs-load-new-0123456789"})
    )
    rotator.start()
    answers = fleet.all("call", provider=name, url=url, seconds=1.5, pause=0.01)
    rotator.join()
    assert sum(a["failures"] for a in answers) == 0
    assert env.call_count("GetResourceApiKey") - before == 1
    # Each process had one request in flight at most: at most one 401 each, often fewer.
    assert sum(a["met_401"] for a in answers) <= len(fleet)


def test_six_processes_bootstrap_one_kms_data_key_at_once(
    env: LocalAgentCore, fleet: Fleet, server: LocalRedis, workload: str, patient: dict[str, float],
) -> None:
    """Every process starts cold with kms_key_id: one wrapped key wins, all read each other."""
    key_id = env.create_kms_key()
    prefix = f"kms{os.urandom(3).hex()}:"
    name, _ = env.create_api_key_provider("procs-kms-0123456789")
    try:
        fleet.all("setup", workload=workload, redis_url=server.url, cluster=server.cluster,
                  **patient, kms_key_id=key_id, prefix=prefix)
        before = env.call_count("GetResourceApiKey")
        answers = fleet.all("get", provider=name)
        stats = fleet.all("stats")
        assert len({a["fingerprint"] for a in answers}) == 1
        assert env.call_count("GetResourceApiKey") - before == 1, [
            {k: v for k, v in s["shared"].items() if v} for s in stats]
        assert all(s["shared"]["undecryptable"] == 0 for s in stats)
        assert sum(s["shared"]["shared_hits"] for s in stats) == 5
        client = server.client()
        assert client.exists(dek_name(prefix, prefix.rstrip(":"))) == 1  # the fleet's own key
        assert client.exists(prefix + "dek") == 0  # no key under the constant context
        client.close()
    finally:  # the module's other tests expect the data-key set-up
        fleet.all("setup", workload=workload, redis_url=server.url, cluster=server.cluster,
                  **patient, data_key=os.urandom(32).hex())


def test_a_process_killed_holding_the_lease_does_not_block_the_fleet(
    env: LocalAgentCore, server: LocalRedis, workload: str, patient: dict[str, float],
) -> None:
    name, _ = env.create_api_key_provider("procs-lease-0123456789")
    key = os.urandom(32).hex()
    with Fleet(4, env.env_vars()) as procs:
        procs.all("setup", [0], **patient, workload=workload, redis_url=server.url,
                  cluster=server.cluster, data_key=key, lock_lease=1.0, slow=60)
        # The lease is the holder's: the others take over with the default 10 s, so a
        # starved machine cannot make their own fetch lapse into a second one.
        procs.all("setup", [1, 2, 3], **patient, workload=workload, redis_url=server.url,
                  cluster=server.cluster, data_key=key)
        procs.send(0, "get", provider=name)  # takes the lock, then sleeps in its fetch
        client = server.client()
        deadline = time.monotonic() + 10
        while not list(client.scan_iter(match="agentcore-auth:l:*")):
            assert time.monotonic() < deadline, "worker 0 never took the lock"
            time.sleep(0.02)
        procs.kill(0)
        before = env.call_count("GetResourceApiKey")
        answers = procs.all("get", [1, 2, 3], provider=name)
        client.close()
        assert len({a["fingerprint"] for a in answers}) == 1
        assert env.call_count("GetResourceApiKey") - before == 1  # after the lease, one took over
        stats = procs.all("stats", [1, 2, 3])
        assert sum(s["shared"]["lock_waits"] for s in stats) >= 2
        assert sum(s["shared"]["wait_timeouts"] for s in stats) == 0


def test_redis_killed_mid_run_costs_no_failed_call_and_one_warning_each(
    env: LocalAgentCore, workload: str, patient: dict[str, float],
) -> None:
    name, arn = env.create_api_key_provider("procs-outage-0123456789")
    url = env.protected_api(arn, "api_key")
    with LocalRedis() as own, Fleet(4, env.env_vars()) as procs:
        procs.all("setup", workload=workload, redis_url=own.url, data_key=os.urandom(32).hex(),
                  **patient, retry_interval=0.2)
        killer = threading.Timer(0.4, own.kill)
        reviver = threading.Timer(1.2, own.start)
        killer.start()
        reviver.start()
        answers = procs.all("call", provider=name, url=url, seconds=2.0, pause=0.01)
        killer.join()
        reviver.join()
        assert sum(a["failures"] for a in answers) == 0
        assert all(a["statuses"] == {"200": a["calls"]} for a in answers)
        stats = procs.all("stats")
        assert all(s["shared"]["outages"] == 1 for s in stats)
        for index in range(4):
            assert procs.log(index).count("unusable") == 1
            assert procs.log(index).count("reachable again") == 1


def test_a_provider_drop_in_one_process_drops_it_in_every_process(
    env: LocalAgentCore, server: LocalRedis, workload: str, patient: dict[str, float],
) -> None:
    """``resolver.invalidate(provider)`` (a RotationWatcher's call) in one of 3 processes:
    the two others drop their copy too, including one they fetched without the store."""
    name, arn = env.create_api_key_provider("procs-pdrop-0123456789")
    other, _ = env.create_api_key_provider("procs-pdrop-other-0123456789")
    key = os.urandom(32).hex()
    prefix = f"pd{os.urandom(3).hex()}:"
    with Fleet(3, env.env_vars()) as procs:
        procs.all("setup", **patient, workload=workload, redis_url=server.url,
                  cluster=server.cluster, data_key=key, prefix=prefix)
        old = procs.all("get", provider=name)
        procs.all("get", provider=other)
        assert len({a["fingerprint"] for a in old}) == 1
        env.rotate_secret(arn, {"api_key": "procs-pdrop-new-0123456789"})
        # Control: without a drop every process keeps serving the old value.
        assert all(a["fingerprint"] == old[0]["fingerprint"]
                   for a in procs.all("get", provider=name))
        before = env.call_count("GetResourceApiKey")
        assert procs.all("invalidate", [0], provider=name)[0]["dropped"] == 1
        deadline = time.monotonic() + 10
        while True:
            stats = procs.all("stats", [1, 2])
            if all(s["shared"]["provider_drops_received"] == 1 for s in stats):
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.05)
        new = procs.all("get", provider=name)
        assert len({a["fingerprint"] for a in new}) == 1
        assert new[0]["fingerprint"] != old[0]["fingerprint"]
        assert env.call_count("GetResourceApiKey") - before == 1  # one refetch for the fleet
        kept = procs.all("get", provider=other)  # another provider is left alone
        assert env.call_count("GetResourceApiKey") - before == 1 and len(kept) == 3
        stats = procs.all("stats")
        assert stats[0]["shared"]["provider_drops_sent"] == 1
        assert sum(s["shared"]["local_drops"] for s in stats) == 2

