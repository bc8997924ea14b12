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
from ._crypto import FleetKeys
from ._keys import KeyUnavailableError, KmsKeys, LocalKeys
from ._stats import Counters

if TYPE_CHECKING:
    from ._attach import Attachment

__all__ = ["DownError", "StoreBase", "fleet_name", "kms_client", "provider_tag", "safe_url"]

logger = logging.getLogger("agentcore_auth.fleet")
T = TypeVar("T")


class DownError(Exception):
    """A store operation failed (or a wait gave up): go local-only for this call."""


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
    _fetch_failed: dict[str, float]
    _refused: dict[str, dict[str, float]]
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

    def _usable_keys(self) -> FleetKeys | None:
        """The fleet keys, or None while the store (or KMS) is treated as down."""
        if self._down_since is not None and time.monotonic() < self._down_until:
            return None
        try:
            return self._keys.get(self._redis)
        except KeyUnavailableError as exc:
            self._failed(exc)
        except self._errors as exc:
            self._failed(exc)
        return None

    def _op(self, call: Callable[[], T]) -> T:
        """Run one store operation; any store error means local-only for a while."""
        try:
            result = call()
        except self._errors as exc:
            self._failed(exc)
            raise DownError from None
        if self._down_since is not None:
            self._ok()
        return result

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
            reason = str(exc) if isinstance(exc, KeyUnavailableError) else type(exc).__name__
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
        """The one place a store key (or channel) name is made: ``<prefix><kind>[:<name>]``.

        ``kind`` is ``v`` (a value), ``l`` (its fetch lock), ``e`` (a provider's drop
        epoch), ``c`` (a consent session), ``dek`` (the wrapped fleet key) or ``events``.
        """
        return f"{self._prefix}{kind}" if name is None else f"{self._prefix}{kind}:{name}"

    def _value_key(self, name: str) -> str:
        return self._store_key("v", name)

    def _lock_key(self, name: str) -> str:
        return self._store_key("l", name)

    def _epoch_key(self, provider: str) -> str:
        return self._store_key("e", provider)


def provider_tag(keys: FleetKeys, provider_name: str) -> str:
    """The fleet-wide name of a credential provider (for its drop epoch)."""
    return keys.name("provider", provider_name)


def fleet_name(keys: FleetKeys, request: CredentialRequest, identity: Identity | None) -> str:
    """The fleet-wide name of a credential: the request, plus who asks for user-bound flows."""
    if not request.user_bound:
        return keys.name("v1", request.cache_key)
    if identity is None:
        token = runtime_workload_token()
        identity = Identity(workload_access_token=Secret(token)) if token else Identity()
    return keys.name(
        "v1",
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
