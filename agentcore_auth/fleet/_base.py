"""Shared state of RedisSharedCache, whether its store is usable, and small helpers."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from .._credential import CredentialRequest
from .._exceptions import ConfigurationError
from .._identity import Identity, runtime_workload_token
from .._secret import Secret
from ._binding import UNBOUND, BindingScope, request_workload
from ._crypto import FleetKeys
from ._keys import KeyUnavailableError, KmsKeys, LocalKeys
from ._names import store_key
from ._stats import Counters

if TYPE_CHECKING:
    from ._attach import Attachment

__all__ = [
    "DownError",
    "SlowStoreError",
    "StoreBase",
    "fleet_name",
    "kms_client",
    "provider_tag",
    "safe_url",
]

logger = logging.getLogger("agentcore_auth.fleet")
T = TypeVar("T")


class DownError(Exception):
    """A store operation failed (or a wait gave up): go local-only for this call."""


class SlowStoreError(Exception):
    """The store (or KMS) used up a miss's time budget: treated as down for a while."""


class StoreBase:
    """What every part of RedisSharedCache shares (set in its ``__init__``), and availability.

    Any store error makes the process local-only for ``retry_interval`` seconds, with
    one warning per outage (and one when the store is back) and counters.
    """

    _redis: Any
    _errors: tuple[type[BaseException], ...]
    _lost: type[BaseException]
    _where: str
    _prefix: str
    _channel: str
    _lease_ms: int
    _wait_timeout: float
    _retry_interval: float
    _keys: LocalKeys | KmsKeys
    _counts: Counters
    _lock: threading.Lock
    _attached: list[Attachment]
    _waiters: dict[str, list[threading.Event]]
    _pending: dict[tuple[str, str], float]
    _pending_providers: set[str]
    _epochs: dict[str, int]
    _down_until: float
    _down_since: float | None
    _stop: threading.Event
    _subscribed: threading.Event
    _first_try: threading.Event
    _listener: threading.Thread | None
    _jobs: ThreadPoolExecutor
    _miss_budget: float
    _miss: threading.local
    _key_done: threading.Event
    _key_loader: threading.Thread | None
    _key_load_started: float

    def _is_down(self) -> bool:
        return self._down_since is not None and time.monotonic() < self._down_until

    def _usable_keys(self) -> FleetKeys | None:
        """The fleet keys, or None while the store (or KMS) is treated as down.

        Never loads them on the caller's thread: a KMS data key is loaded in the
        background (at attach, or now), and this waits for it at most what is left
        of the miss's time budget, under no lock.
        """
        if self._is_down():
            return None
        keys = self._keys.peek()
        if keys is not None:
            return keys
        self._load_keys()
        left = getattr(self._miss, "left", None)
        started = time.monotonic()
        # A load that already took a budget (KMS hanging) is not waited for again.
        wait = max(0.0, self._miss_budget - (started - self._key_load_started))
        if left is not None:
            wait = min(wait, max(0.0, left))
        self._key_done.wait(wait)
        if left is not None:
            self._miss.left = left - (time.monotonic() - started)
        return self._keys.peek()

    def _load_keys(self) -> None:
        """Start loading the fleet key in the background, unless it is loading or loaded."""
        if self._keys.peek() is not None:
            return
        with self._lock:
            loader = self._key_loader
            if loader is not None and loader.is_alive():
                return
            self._key_done.clear()
            self._key_load_started = time.monotonic()
            loader = self._key_loader = threading.Thread(
                target=self._load_keys_now, name="agentcore-auth-fleet-key", daemon=True
            )
        loader.start()

    def _load_keys_now(self) -> None:
        try:
            self._keys.get(self._redis)
        except KeyUnavailableError as exc:
            self._failed(exc)
        except self._errors as exc:
            self._failed(exc)
        except Exception as exc:  # noqa: BLE001 - a KMS client's bug: local-only, counted
            self._fault(exc)
        finally:
            self._key_done.set()

    def _op(self, call: Callable[[], T]) -> T:
        """Run one store operation; any store error means local-only for a while.

        On a miss's thread, the operation's time comes off the miss's budget: once it
        is spent, the store counts as down (slow) and the miss goes local-only.
        """
        left = getattr(self._miss, "left", None)
        if left is not None and left <= 0:
            self._counts.add("over_budget")
            self._failed(SlowStoreError(
                f"store and KMS took longer than miss_budget={self._miss_budget:g}s for a miss"
            ))
            raise DownError
        started = time.monotonic()
        try:
            result = call()
        except self._errors as exc:
            self._failed(exc)
            raise DownError from None
        finally:
            elapsed = time.monotonic() - started
            if left is not None:
                self._miss.left = left - elapsed
        if left is not None and elapsed > self._miss_budget / 4:
            # One answer took a quarter of the budget: a store that slow is degraded
            # (this answer is used; the next misses go local-only for a while).
            self._counts.add("over_budget")
            self._failed(SlowStoreError(
                f"the store took {elapsed * 1000:.0f} ms to answer (over miss_budget/4)"
            ))
            return result
        if self._down_since is not None and elapsed < self._miss_budget / 4 and \
                time.monotonic() >= self._down_until:
            self._ok()
        return result

    def _fault(self, exc: BaseException) -> None:
        """A bug or an unexpected error inside the tier: counted, local-only for a while."""
        self._counts.add("faults")
        logger.warning(
            "shared credential cache at %s failed unexpectedly (%s); running local-only",
            self._where,
            type(exc).__name__,
        )
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        self._counts.add("errors")
        now = time.monotonic()
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = now
            self._down_until = now + self._retry_interval
        if first:
            self._counts.add("outages")
            known = (KeyUnavailableError, SlowStoreError)
            reason = str(exc) if isinstance(exc, known) else type(exc).__name__
            logger.warning(
                "shared credential cache at %s unusable (%s): running local-only, "
                "retrying every %.3gs",
                self._where,
                reason,
                self._retry_interval,
            )

    def _ok(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
            pending, self._pending = self._pending, {}
            providers, self._pending_providers = self._pending_providers, set()
        if since is None:
            return
        logger.warning(
            "shared credential cache at %s reachable again after %.1fs", self._where,
            time.monotonic() - since,
        )
        self._replay(pending, providers)

    def _replay(self, pending: dict[tuple[str, str], float], providers: set[str]) -> None:
        """Send what was kept while the store was down (see the notices)."""
        raise NotImplementedError

    def _store_key(self, kind: str, name: str | None = None) -> str:
        """The one place a store key (or channel) name is made: ``<prefix><kind>[:{<name>}]``
        (the name is a Redis Cluster hash tag, see :func:`._names.store_key`).

        ``kind`` is ``v`` (a value), ``l`` (its fetch lock), ``e`` (a provider's drop
        epoch), ``c`` (a consent session), ``dek`` (the wrapped fleet key), ``log`` (the
        notice log) or ``events``.
        """
        return store_key(self._prefix, kind, name)

    def _value_key(self, name: str) -> str:
        return self._store_key("v", name)

    def _lock_key(self, name: str) -> str:
        return self._store_key("l", name)

    def _epoch_key(self, provider: str) -> str:
        return self._store_key("e", provider)


def provider_tag(keys: FleetKeys, provider_name: str) -> str:
    """The fleet-wide name of a credential provider (for its drop epoch).

    Bound to the fleet (through ``keys``), not to a resolver's scope: a drop epoch
    only asks for a refetch and never carries a value, so a rotation one workload
    or source sees refreshes every resolver of the fleet that uses the provider.
    """
    return keys.name("provider", provider_name)


def fleet_name(
    keys: FleetKeys,
    request: CredentialRequest,
    identity: Identity | None,
    scope: BindingScope = UNBOUND,
) -> str:
    """The fleet-wide name of a credential: the fleet (``keys``), the resolver's binding
    ``scope``, the request, plus who asks for user-bound flows (and the request's
    workload when the source has none of its own)."""
    if not request.user_bound:
        if scope.workload_per_request:
            workload = request_workload(identity, runtime_workload_token())
            return keys.name("v2", scope.text, request.cache_key, workload)
        return keys.name("v2", scope.text, request.cache_key)
    if identity is None:
        token = runtime_workload_token()
        identity = Identity(workload_access_token=Secret(token)) if token else Identity()
    return keys.name(
        "v2",
        scope.text,
        request.cache_key,
        identity.user_id,
        identity.user_token.reveal() if identity.user_token is not None else None,
        identity.workload_access_token.reveal()
        if identity.workload_access_token is not None
        else None,
    )


def safe_url(url: str) -> str:
    """``url`` without user name or password, to show in messages."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError("url must be a Redis URL such as redis://localhost:6379/0")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def kms_client(client: Any) -> Any:
    if client is not None:
        return client
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2})
    return boto3.client("kms", config=config)
