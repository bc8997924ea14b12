"""Fleet mode: a shared, encrypted credential tier on Valkey / Redis (the ``redis`` extra).

Install with ``pip install 'agentcore-auth[redis]'`` and give every process's
resolver the same store and key::

    from agentcore_auth.fleet import RedisSharedCache

    shared = RedisSharedCache("rediss://my-cache:6379/0", kms_key_id="alias/agents-fleet")
    resolver = CredentialResolver(source, shared_cache=shared)

One upstream call per credential per TTL for the whole fleet, and one refetch per
rotation; see the README's "Running a fleet".
"""

from __future__ import annotations

try:
    import cryptography  # noqa: F401
    import redis  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        f"agentcore_auth.fleet needs the redis extra ({exc.name} is missing): "
        "pip install 'agentcore-auth[redis]'"
    ) from exc

from ._consent import RedisConsentSessionStore
from ._crypto import FleetKeys
from ._elasticache import ElastiCacheIAMAuth
from ._keys import ENCRYPTION_CONTEXT, encryption_context
from ._redis import RedisSharedCache
from ._stats import FleetStats

__all__ = [
    "ENCRYPTION_CONTEXT",
    "ElastiCacheIAMAuth",
    "FleetKeys",
    "FleetStats",
    "RedisConsentSessionStore",
    "RedisSharedCache",
    "encryption_context",
]
