"""The connection side of RedisSharedCache: one node or a Redis Cluster, and how it logs in.

``cluster=False`` is one ``redis.Redis`` (a single node, a primary endpoint, a
Valkey or ElastiCache cluster-mode-disabled endpoint); ``cluster=True`` is a
``redis.RedisCluster`` (cluster mode enabled: ElastiCache / MemoryDB configuration
endpoint, or any node of a self-run cluster). The cluster client is made on first
use, so a cluster that is down when the process starts is an outage like any
other (local-only, retried every ``retry_interval``), not an error at start-up.
Neither client retries on its own: the tier decides what a failed operation means.
"""

from __future__ import annotations

import threading
from typing import Any

from .._exceptions import ConfigurationError

__all__ = ["LazyCluster", "connect", "store_errors"]


def connect(
    url: str,
    *,
    where: str,
    cluster: bool,
    op_timeout: float,
    connect_timeout: float,
    credential_provider: Any,
) -> Any:
    """A redis-py client for ``url``; ConfigurationError naming what is wrong with the URL."""
    import redis

    if credential_provider is not None:
        if not isinstance(credential_provider, redis.CredentialProvider):
            raise ConfigurationError(
                "credential_provider must be a redis.CredentialProvider, e.g. "
                f"ElastiCacheIAMAuth(cache_name, user_id), not {type(credential_provider).__name__}"
            )
        if _has_password(url):
            raise ConfigurationError(
                f"url {where!r} carries a user or password and credential_provider= is given: "
                "use one of them (for ElastiCache IAM authentication, no password in the URL)"
            )
    options: dict[str, Any] = {
        "socket_timeout": op_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": redis.retry.Retry(redis.backoff.NoBackoff(), 0),
    }
    if credential_provider is not None:
        options["credential_provider"] = credential_provider
    try:
        if cluster:
            _check_url(url)
            return LazyCluster(url, options)
        return redis.Redis.from_url(url, health_check_interval=30, **options)
    except ValueError as exc:
        raise ConfigurationError(
            f"url {where!r} is not a Redis URL: use redis://host:6379/0, "
            f"rediss://host:6379/0 or unix:///path/to/socket ({exc})"
        ) from None


def store_errors() -> tuple[type[BaseException], ...]:
    """What a store operation raises when the store (one node or a cluster) is unusable."""
    import redis

    # RedisClusterException (no slots, no node reachable at start) is not a RedisError.
    return (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError)


class LazyCluster:
    """A ``redis.RedisCluster`` made on first use (and again after a failed first try).

    Every attribute is the cluster client's; :meth:`register_script` binds a
    script to this wrapper, so scripts too wait for the first use.
    """

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LazyCluster(made={self._client is not None})"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get_client(), name)

    def get_client(self) -> Any:
        """The cluster client, made now if not yet (discovers the slots: one round trip)."""
        client = self._client
        if client is not None:
            return client
        import redis

        with self._lock:
            if self._client is None:
                self._client = redis.RedisCluster.from_url(
                    self._url, require_full_coverage=True, **self._options
                )
            return self._client

    def get_encoder(self) -> Any:
        """The encoder scripts hash their source with (no connection needed)."""
        from redis._parsers import Encoder

        return Encoder("utf-8", "strict", False)  # type: ignore[no-untyped-call]

    def register_script(self, script: str) -> Any:
        """A Lua script run through this client (``EVALSHA``, loaded on first use)."""
        from redis.commands.core import Script

        bound: Any = self  # it forwards every call Script makes to the cluster client
        return Script(bound, script)

    def close(self) -> None:
        """Close the cluster client's connections (if it was made)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def _has_password(url: str) -> bool:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    return bool(parts.password or parts.username or "password" in query)


def _check_url(url: str) -> None:
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("a cluster URL is redis://host:port or rediss://host:port")
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
