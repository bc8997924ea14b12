"""The emulated AWS IAM CredentialBroker's state: pools, providers, the broker's token cache.

Pools and providers settle asynchronously, as the service's do: a create answers
202 with ``CREATING`` and the resource reads ``READY`` once
``Settings.broker_settle_seconds`` have passed (updates go through ``UPDATING``,
deletes through ``DELETING`` and then are gone). The status is computed from the
broker's clock when read, so nothing runs in the background.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._wire import ServiceError

__all__ = ["BrokerError", "BrokerPool", "BrokerProvider", "BrokerStore", "CachedToken"]

#: Longest time the broker keeps a token it obtained ("until that token expires, or for
#: up to one hour when the token's own lifetime is longer than an hour").
TOKEN_CACHE_LIMIT = 3600.0


class BrokerError(ServiceError):
    """A CredentialBroker error, with the ``reason`` (and resource) members of its model."""

    def __init__(self, code: str, message: str, *, reason: str | None = None,
                 resource_id: str | None = None, resource_type: str | None = None) -> None:
        super().__init__(code, message)
        self.reason = reason
        self.resource_id = resource_id
        self.resource_type = resource_type
        if code == "ServiceQuotaExceededException":
            self.status = 402
        elif code == "ServiceUnavailableException":
            self.status = 503

    def body(self) -> dict[str, Any]:
        """The JSON body of the model's error structure."""
        body: dict[str, Any] = {"message": self.message}
        if self.reason:
            body["reason"] = self.reason
        if self.resource_id:
            body["resourceId"] = self.resource_id
        if self.resource_type:
            body["resourceType"] = self.resource_type
        return body


def new_id() -> str:
    """A service-generated id (``[a-z0-9]{1,64}`` in the model)."""
    return secrets.token_hex(8)


@dataclass(slots=True)
class _Lifecycle:
    created: float
    settles_at: float
    transition: str = "CREATING"  # CREATING, UPDATING or DELETING until settles_at
    updated: float = 0.0

    def status(self, now: float) -> str:
        if now < self.settles_at:
            return self.transition
        return "DELETED" if self.transition == "DELETING" else "READY"

    def begin(self, transition: str, now: float, settle: float) -> None:
        self.transition, self.settles_at, self.updated = transition, now + settle, now


@dataclass(slots=True)
class BrokerPool:
    """A credential provider pool."""

    id: str
    arn: str
    name: str
    life: _Lifecycle
    client_token: str | None = None
    encryption: dict[str, Any] = field(default_factory=lambda: {"serviceManaged": {}})
    identity_center: dict[str, Any] | None = None
    identity_center_app: str | None = None


@dataclass(slots=True)
class BrokerProvider:
    """A credential provider: an API key, or an OAuth client, whose secret is MANAGED or EXTERNAL.

    ``secret_arn`` and ``json_key`` point at the value (the service's own secret for
    MANAGED); EXTERNAL secrets are read at call time, never copied.
    """

    id: str
    arn: str
    pool_id: str
    name: str
    kind: str  # API_KEY or OAUTH
    life: _Lifecycle
    source: str | None = None  # MANAGED, EXTERNAL, or None (a public OAuth client)
    secret_arn: str | None = None
    json_key: str | None = None
    client_token: str | None = None
    # OAUTH only
    grants: list[str] = field(default_factory=list)
    vendor_key: str = ""
    vendor_settings: dict[str, Any] = field(default_factory=dict)  # other members, as given
    client_id: str = ""
    auth_method: str = "CLIENT_SECRET_BASIC"
    discovery: dict[str, Any] = field(default_factory=dict)  # oauthDiscovery as returned
    metadata: dict[str, Any] = field(default_factory=dict)  # RFC 8414 names
    binding_urls: list[str] = field(default_factory=list)
    encryption: dict[str, Any] | None = None  # a provider override, else the pool's


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token the broker obtained: returned again until it expires (or an hour passed)."""

    access_token: str
    expires_at: float | None
    keep_until: float


class BrokerStore:
    """One Region's broker state, under one lock, on the broker's clock."""

    def __init__(self, region: str, account_id: str, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.region = region
        self.account_id = account_id
        self.clock = clock
        self.pools: dict[str, BrokerPool] = {}
        self.providers: dict[str, BrokerProvider] = {}
        self.tags: dict[str, dict[str, str]] = {}  # resource ARN -> tags
        self.tokens: dict[tuple[Any, ...], CachedToken] = {}

    def pool_arn(self, pool_id: str) -> str:
        """The ARN of pool ``pool_id``."""
        return (f"arn:aws:credentialbroker:{self.region}:{self.account_id}:"
                f"credentialproviderpool/{pool_id}")

    def _purge(self) -> None:
        now = self.clock()
        for provider_id, p in list(self.providers.items()):
            if p.life.status(now) == "DELETED":
                del self.providers[provider_id]
                self.tags.pop(p.arn, None)
        for pool_id, pool in list(self.pools.items()):
            if pool.life.status(now) == "DELETED":
                del self.pools[pool_id]
                self.tags.pop(pool.arn, None)

    def pool(self, identifier: str) -> BrokerPool:
        """The pool named by its ARN or id; ResourceNotFoundException otherwise."""
        with self.lock:
            self._purge()
            pool_id = identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:") else identifier
            pool = self.pools.get(pool_id)
            if pool is None or (identifier.startswith("arn:") and pool.arn != identifier):
                raise BrokerError("ResourceNotFoundException",
                                  f"credential provider pool {identifier} does not exist in "
                                  f"{self.region}", resource_id=identifier,
                                  resource_type="CredentialProviderPool")
            return pool

    def provider(self, pool_identifier: str | None, identifier: str) -> BrokerProvider:
        """A provider by ARN (pool optional) or by id within a pool."""
        with self.lock:
            self._purge()
            pool = self.pool(pool_identifier) if pool_identifier else None
            provider_id = (identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:")
                           else identifier)
            provider = self.providers.get(provider_id)
            if (provider is None or (pool is not None and provider.pool_id != pool.id)
                    or (identifier.startswith("arn:") and provider.arn != identifier)):
                where = f" in pool {pool.id}" if pool is not None else ""
                raise BrokerError("ResourceNotFoundException",
                                  f"credential provider {identifier} does not exist{where} in "
                                  f"{self.region}", resource_id=identifier,
                                  resource_type="CredentialProvider")
            return provider

    def pools_now(self) -> list[BrokerPool]:
        """Every pool (deleted ones purged)."""
        with self.lock:
            self._purge()
            return list(self.pools.values())

    def providers_of(self, pool_id: str) -> list[BrokerProvider]:
        """Every provider of a pool."""
        with self.lock:
            self._purge()
            return [p for p in self.providers.values() if p.pool_id == pool_id]


def lifecycle(now: float, settle: float) -> _Lifecycle:
    """A new resource's life cycle: CREATING for ``settle`` seconds, then READY."""
    return _Lifecycle(created=now, settles_at=now + settle, updated=now)
