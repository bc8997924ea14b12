"""Waiting for another process's fetch holds no worker thread of an async caller.

Another real process (``agentcore_auth.testing._fleet``, gated source) holds the
fleet locks of N credentials, renewing their leases while its fetches wait for a
``release``. Here, N async callers wait for those fills on a resolver with N
workers: an unrelated credential is still served while all N waits are pending.
The control is the same tier behind an attachment without ``fetch_steps`` (a
shared tier that only offers ``fetch``): its waits hold the N workers, and the
unrelated call only ends after the holder released. Ordering and counts, never
durations, are asserted. Runs on Redis, Valkey and Redis Cluster (``fleet_store``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import pytest

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver
from agentcore_auth._credential import Credential, CredentialRequest
from agentcore_auth._identity import Identity
from agentcore_auth._secret import Secret
from agentcore_auth._shared import SourceFetch
from agentcore_auth.fleet import RedisSharedCache
from agentcore_auth.testing import LocalAgentCore
from agentcore_auth.testing._fleet import Fleet
from agentcore_auth.testing._redis import redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="needs redis-server (apt-get install redis-server)"
)
N = 4  # waits, and the resolver's workers


@pytest.fixture
def env(local_agentcore: LocalAgentCore) -> LocalAgentCore:
    local_agentcore.clear_faults()
    return local_agentcore


@pytest.fixture(scope="module")
def holder_process(local_agentcore: LocalAgentCore, fleet_store: Any) -> Iterator[Fleet]:
    """Another process of the fleet (started once per store: ~1 s of imports)."""
    with Fleet(1, local_agentcore.env_vars()) as fleet:
        yield fleet


@pytest.fixture
def holder(env: LocalAgentCore, fleet_store: Any, holder_process: Fleet,
           patient: dict[str, float]) -> tuple[Fleet, dict[str, Any]]:
    """That process, set up anew: its source fetches wait for ``release``."""
    setup = {"workload": env.create_workload(), "redis_url": fleet_store.url,
             "cluster": fleet_store.cluster, "data_key": os.urandom(32).hex(),
             "prefix": f"w{os.urandom(3).hex()}:", "lock_lease": 5.0, **patient}
    holder_process.all("setup", gated=True, **setup)
    return holder_process, setup


class FetchOnly:
    """A shared tier that offers ``fetch`` only (the seam's minimum): the control."""

    def __init__(self, inner: RedisSharedCache) -> None:
        self.inner = inner

    def attach(self, cache: Any, *, ttl: float, expiry_skew: float, source: Any = None) -> Any:
        # source= passed on, so this tier's names are bound like the holder's
        return _FetchOnlyAttachment(self.inner.attach(cache, ttl=ttl, expiry_skew=expiry_skew,
                                                      source=source))


class _FetchOnlyAttachment:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def fetch(self, local_key: Hashable, request: CredentialRequest, identity: Identity | None,
              source_fetch: SourceFetch) -> Credential:
        return self.inner.fetch(local_key, request, identity, source_fetch)  # type: ignore[no-any-return]

    def invalidated(self, secret: Secret) -> None:
        self.inner.invalidated(secret)

    def invalidated_provider(self, provider_name: str, value: Secret | None) -> None:
        self.inner.invalidated_provider(provider_name, value)

    def detach(self) -> None:
        self.inner.detach()


def _resolver(env: LocalAgentCore, setup: dict[str, Any], *, fetch_only: bool = False,
              ) -> tuple[CredentialResolver, RedisSharedCache]:
    shared = RedisSharedCache(setup["redis_url"], cluster=setup["cluster"],
                              data_key=bytes.fromhex(setup["data_key"]), prefix=setup["prefix"],
                              lock_lease=setup["lock_lease"], op_timeout=setup["op_timeout"],
                              miss_budget=setup["miss_budget"])
    source = AgentCoreIdentitySource(endpoint_url=env.endpoint_url, region=env.region,
                                     workload_name=setup["workload"])
    tier: Any = FetchOnly(shared) if fetch_only else shared
    return CredentialResolver(source, shared_cache=tier, max_workers=N), shared


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30.0
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


VALUES: dict[str, str] = {}  # provider name -> its API key


def _providers(env: LocalAgentCore, tag: str) -> tuple[list[str], str]:
    names = []
    for i in range(N + 1):
        value = f"wait-{tag}-{i}-{os.urandom(4).hex()}-0123456789"
        name, _ = env.create_api_key_provider(value)
        VALUES[name] = value
        names.append(name)
    return names[:N], names[N]


def test_async_waits_for_another_process_hold_no_worker(
    env: LocalAgentCore, holder: tuple[Fleet, dict[str, Any]]
) -> None:
    fleet, setup = holder
    held, unrelated = _providers(env, "steps")
    assert fleet.all("hold", providers=held)[0]["holding"] == N  # its N locks, renewed
    resolver, shared = _resolver(env, setup)
    calls = env.call_count("GetResourceApiKey")

    async def scenario() -> tuple[list[Secret], list[bool]]:
        waits = [asyncio.ensure_future(resolver.aget_api_key(p)) for p in held]
        await _until(lambda: shared.stats.lock_waits == N, "N callers waiting")
        # All N workers would be taken if the waits held them; the unrelated call runs.
        free = await asyncio.wait_for(resolver.aget_api_key(unrelated), timeout=60)
        pending = [not w.done() for w in waits]
        assert free.reveal() == VALUES[unrelated]
        await asyncio.get_running_loop().run_in_executor(None, fleet.all, "release")
        return await asyncio.gather(*waits), pending

    try:
        secrets, pending_when_free_served = asyncio.run(scenario())
    finally:
        resolver.close()
        shared.close()
    assert pending_when_free_served == [True] * N
    # The waiters got the holder's fills: the only upstream call here is the unrelated one.
    assert [s.reveal() for s in secrets] == [VALUES[p] for p in held]
    stats = shared.stats
    assert stats.source_fetches == 1 and stats.shared_hits >= N
    assert stats.foreign_locks == 0 and stats.wait_timeouts == 0
    assert env.call_count("GetResourceApiKey") - calls == N + 1  # N by the holder, 1 here


def test_control_waits_inside_fetch_hold_every_worker(
    env: LocalAgentCore, holder: tuple[Fleet, dict[str, Any]]
) -> None:
    fleet, setup = holder
    held, unrelated = _providers(env, "control")
    assert fleet.all("hold", providers=held)[0]["holding"] == N
    resolver, shared = _resolver(env, setup, fetch_only=True)

    async def scenario() -> tuple[bool, list[bool]]:
        waits = [asyncio.ensure_future(resolver.aget_api_key(p)) for p in held]
        await _until(lambda: shared.stats.lock_waits == N, "N callers waiting")
        free = asyncio.ensure_future(resolver.aget_api_key(unrelated))
        await asyncio.wait([free], timeout=1.0)
        served_while_waiting = free.done()
        await asyncio.get_running_loop().run_in_executor(None, fleet.all, "release")
        await free
        return served_while_waiting, [w.done() for w in waits]

    try:
        served_while_waiting, _ = asyncio.run(scenario())
    finally:
        resolver.close()
        shared.close()
    assert not served_while_waiting  # queued behind the N waits holding the N workers


def test_a_wait_whose_loop_ends_still_settles_for_the_other_callers(
    env: LocalAgentCore, holder: tuple[Fleet, dict[str, Any]]
) -> None:
    """The caller's loop closes mid-wait: the rest of the fetch runs on a thread of its
    own, so a sync caller coalesced on the same credential still gets the fill."""
    fleet, setup = holder
    held, _ = _providers(env, "loop-ends")
    assert fleet.all("hold", providers=held[:1])[0]["holding"] == 1
    resolver, shared = _resolver(env, setup)

    async def start_and_leave() -> None:
        task = asyncio.ensure_future(resolver.aget_api_key(held[0]))
        await _until(lambda: shared.stats.lock_waits == 1, "the caller waiting")
        task.cancel()  # asyncio.run cancels the pending wait as the loop ends

    try:
        asyncio.run(start_and_leave())
        fleet.send(0, "release")
        secret = resolver.get_api_key(held[0])  # coalesced on the flight the loop left
        fleet.reply(0)
    finally:
        resolver.close()
        shared.close()
    assert secret.reveal() == VALUES[held[0]]
    assert shared.stats.source_fetches == 0  # the holder's fill, read after the wait
    assert resolver.stats.misses == 1  # the sync call joined the async caller's flight
