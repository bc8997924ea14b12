"""RedisSharedCache: a fleet-wide tier on Valkey / Redis behind each process's own cache.

Store layout, every name a keyed hash (see :mod:`._crypto`):

- ``<prefix>v:{<name>}``: a value, ``handle (16 bytes: a keyed hash of the record's
  random id) + AES-GCM record``, expiring (``PX``) when every process must stop
  serving it;
- ``<prefix>l:{<name>}``: the fleet-wide fetch lock, a random token with a lease
  (``{<name>}`` is a Redis Cluster hash tag: a credential's keys share a slot);
- ``<prefix>e:{<provider>}``: a provider's drop epoch (``INCR`` on
  ``resolver.invalidate(provider_name)``); a record carries the epoch its fetch
  began under and is refused once it moved;
- ``<prefix>dek:{<fleet digest>}``: with ``kms_key_id``, the fleet's KMS-wrapped key
  (encryption context per fleet; ``<prefix>dek`` is a previous release's, left alone);
- channel ``<prefix>events``: sealed ``fill|free|fail|drop|epoch`` notices (see
  :mod:`._notices`);
- ``<prefix>log``: a stream (``MAXLEN ~ 10000``) of the sealed ``drop|epoch`` notices,
  replayed by a process that was cut off (see :mod:`._log`).

Every name is made by ``StoreBase._store_key``.

A local miss reads the value; if absent it takes the lock and fetches, or waits
for the ``fill`` notice (no polling), bounded by the lease, so a lock holder that
dies only costs one lease (a live holder renews it). If the holder's fetch fails,
its waiters fetch at once, each for itself, as they would without the tier. A 401
compare-and-deletes the record (a Lua script comparing its handle) and publishes
``drop``, and every process compare-and-invalidates its own copy. Any store
error makes the process local-only for ``retry_interval`` seconds, with one
warning per outage and counters.
"""

from __future__ import annotations

import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError
from ._attach import Attachment
from ._base import kms_client as kms_client_factory
from ._base import safe_url
from ._binding import binding_scope
from ._connect import connect, store_errors
from ._flight import CAD_LOCK_SCRIPT, CAD_VALUE_SCRIPT, RENEW_LOCK_SCRIPT, Flights
from ._keys import KeyUnavailableError, KmsKeys, LocalKeys, dek_name
from ._notices import CAD_PUBLISH_SCRIPT
from ._refusals import Lru
from ._stats import Counters, FleetStats

if TYPE_CHECKING:
    from .._cache import CredentialCache
    from .._shared import SharedCache

    def _conforms(cache: RedisSharedCache) -> SharedCache:  # what shared_cache= takes
        return cache

__all__ = ["RedisSharedCache"]


class RedisSharedCache(Flights):
    """A shared credential tier on Valkey / Redis (ElastiCache, MemoryDB) for a fleet.

    Give it to every process's resolver: ``CredentialResolver(source,
    shared_cache=RedisSharedCache(url, kms_key_id=...))``. The in-process cache
    stays first (a hit never touches the network); a local miss is answered from
    the store, or fetched by exactly one process of the fleet while the others wait
    for it; ``resolver.invalidate(secret)`` after a 401 drops the value fleet-wide.
    Values are encrypted (AES-256-GCM) and named by keyed hashes: the store never
    holds a value, token, user id or cache key in clear. If the store is down or
    slow, every process carries on local-only (one warning per outage, counted in
    :attr:`stats`); a tool call never fails because of this tier.

    Args:
        url: ``redis://``, ``rediss://`` (TLS, as ElastiCache with in-transit
            encryption) or ``unix://``; credentials in the URL are never logged.
        data_key: a 32-byte key, for development and tests.
        kms_key_id: a KMS key id or ARN whose data key encrypts the values
            (production); needs ``kms:GenerateDataKey`` and ``kms:Decrypt``.
        kms_client: a boto3 KMS client (default: ``boto3.client("kms")``).
        prefix: prepended to every store name; give fleets sharing a store their own.
        fleet: the fleet's name (default: the prefix without its trailing ``:``, e.g.
            ``agentcore-auth``). It is bound into every store name and every record's
            AES-GCM associated data, and with ``kms_key_id`` it is the KMS encryption
            context's ``agentcore-auth:fleet`` (each fleet its own data key, which KMS
            opens for no other fleet). Within a fleet, each resolver's names are also
            bound to its source's kind, workload, Region and (where known) account
            (see ``docs/fleet-security.md``).
        lock_lease: seconds after which the fleet-wide fetch lock of a process that
            stopped renewing it (crashed, or cut off) passes to another.
        wait_timeout: longest a process waits for other processes' fetches before
            fetching itself (default 30 s). A holder renews its lease while its fetch
            runs, so a slow upstream is waited for, and a dead holder costs one lease.
        op_timeout: socket timeout of each store operation, in seconds.
        connect_timeout: connection timeout, in seconds.
        retry_interval: after a store error, seconds of local-only operation before
            the store is tried again.
        miss_budget: the most time one local miss spends on the store and KMS
            together (waiting for another process's fetch aside); past it, or when
            one answer takes over a quarter of it, the store counts as down (slow)
            for ``retry_interval`` and misses go local-only.
        client: a ready ``redis.Redis`` (or ``redis.RedisCluster``) client instead of
            ``url`` options (its timeouts are then yours to bound).
        cluster: True for a Redis Cluster (ElastiCache / MemoryDB cluster mode
            enabled; ``url`` is the configuration endpoint or any node): a
            ``redis.RedisCluster``, made on first use. Each credential's keys share
            a slot (its name is their hash tag); notices use cluster-wide pub/sub.
        credential_provider: a ``redis.CredentialProvider`` asked for the user name
            and password at each new connection, e.g.
            :class:`~agentcore_auth.fleet.ElastiCacheIAMAuth` for ElastiCache IAM
            authentication (then no password in ``url``).

    A fork is detected (``os.register_at_fork``): in the child the listener, the
    background jobs and the key loader start again, so a cache made before a
    pre-fork server forks its workers keeps working in each of them.
    """

    def __init__(
        self,
        url: str,
        *,
        data_key: bytes | None = None,
        kms_key_id: str | None = None,
        kms_client: Any = None,
        prefix: str = "agentcore-auth:",
        fleet: str | None = None,
        lock_lease: float = 10.0,
        wait_timeout: float | None = None,
        op_timeout: float = 0.25,
        connect_timeout: float = 0.5,
        retry_interval: float = 5.0,
        miss_budget: float = 0.6,
        client: Any = None,
        cluster: bool = False,
        credential_provider: Any = None,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "RedisSharedCache needs redis-py and cryptography: "
                "pip install 'agentcore-auth[redis]'"
            ) from None
        if (data_key is None) == (kms_key_id is None):
            raise ConfigurationError(
                "RedisSharedCache needs exactly one of data_key= (32 bytes, for development) "
                "or kms_key_id= (a KMS key whose data key encrypts the shared values)"
            )
        if data_key is not None and (not isinstance(data_key, bytes) or len(data_key) != 32):
            raise ConfigurationError(
                "data_key must be 32 random bytes (e.g. os.urandom(32)), the same in every "
                "process of the fleet"
            )
        if kms_key_id is not None and (not isinstance(kms_key_id, str) or not kms_key_id):
            raise ConfigurationError("kms_key_id must be a KMS key id, ARN or alias")
        for what, value in (
            ("lock_lease", lock_lease),
            ("op_timeout", op_timeout),
            ("connect_timeout", connect_timeout),
            ("retry_interval", retry_interval),
            ("miss_budget", miss_budget),
            ("wait_timeout", 30.0 if wait_timeout is None else wait_timeout),
        ):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not value > 0:
                raise ConfigurationError(f"{what} must be a number of seconds > 0, not {value!r}")
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string, e.g. 'agentcore-auth:'")
        if cluster and ("{" in prefix or "}" in prefix):
            raise ConfigurationError(
                f"prefix {prefix!r} holds a brace: on a Redis Cluster each credential's name is "
                "its keys' hash tag ({...}), so the prefix must have none"
            )
        # --- fleet binding (issue 26c) ---
        if fleet is None:
            fleet = prefix.rstrip(":") or "agentcore-auth"
        if not isinstance(fleet, str) or not fleet or len(fleet) > 256:
            raise ConfigurationError(
                "fleet must be a non-empty name of at most 256 characters, e.g. 'checkout-agents'"
            )
        self._fleet = fleet
        self._counts = Counters()
        self._where = safe_url(url)
        if client is None:
            client = connect(
                url,
                where=self._where,
                cluster=cluster,
                op_timeout=op_timeout,
                connect_timeout=connect_timeout,
                credential_provider=credential_provider,
            )
        elif credential_provider is not None or cluster:
            raise ConfigurationError(
                "client= is a ready redis-py client: give cluster= and credential_provider= "
                "to it, or give them here without client="
            )
        self._redis = client
        self._errors: tuple[type[BaseException], ...] = store_errors()
        self._lost = redis.exceptions.ConnectionError
        self._prefix = prefix
        self._channel = self._store_key("events")
        self._lease_ms = max(1, int(lock_lease * 1000))
        self._wait_timeout = 30.0 if wait_timeout is None else wait_timeout
        self._retry_interval = retry_interval
        self._keys: LocalKeys | KmsKeys
        if data_key is not None:
            self._keys = LocalKeys(data_key, fleet)
        else:
            assert kms_key_id is not None
            try:  # made now (botocore's set-up is slow), not on a miss or in the loader
                kms = kms_client_factory(kms_client)
            except Exception:  # noqa: BLE001 - e.g. no Region yet: made (and said) on first use
                kms = None
            self._keys = KmsKeys(
                kms_key_id,
                dek_name(prefix, fleet),
                (lambda: kms) if kms is not None else (lambda: kms_client_factory(kms_client)),
                fleet=fleet,
                legacy_name=self._store_key("dek"),
                counts=self._counts,
            )
        self._cad_value = client.register_script(CAD_VALUE_SCRIPT)
        self._cad_publish = client.register_script(CAD_PUBLISH_SCRIPT)
        self._cad_lock = client.register_script(CAD_LOCK_SCRIPT)
        self._renew_lock = client.register_script(RENEW_LOCK_SCRIPT)
        self._lock = threading.Lock()
        self._attached: list[Attachment] = []
        self._waiters: dict[str, list[threading.Event]] = {}
        self._fetch_failed = Lru(10_000)  # name -> when a holder's fetch failed (monotonic)
        self._refusals = Lru(10_000)  # (name, value tag) -> when refused
        self._sent_fills = Lru(10_000)  # refusals sent from here, one per fill
        self._nonces = Lru(100_000)  # notices acted on (replays are refused)
        self._pending: dict[tuple[str, str], float] = {}  # drops to send once back
        self._pending_providers: set[str] = set()  # provider drops to send once back
        self._epochs: dict[str, int] = {}  # provider tag -> its drop epoch, as last seen
        # The notice log (see _log): its key, the listener's place in it, nonces met on it.
        self._log_key = self._store_key("log")
        self._log_cursor: tuple[bytes, bytes] | None = None
        self._log_seen = Lru(100_000)
        self._log_first = Lru(10_000)
        self._down_until = 0.0
        self._down_since: float | None = None
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._first_try = threading.Event()  # the listener tried once (either way)
        self._listener: threading.Thread | None = None
        self._jobs = ThreadPoolExecutor(1, "agentcore-auth-fleet")
        self._miss_budget = float(miss_budget)
        self._miss = threading.local()  # .left: what a miss on this thread may still spend
        self._key_done = threading.Event()
        self._key_loader: threading.Thread | None = None
        self._key_load_started = 0.0
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def after_fork_in_child() -> None:
                cache = ref()
                if cache is not None:
                    cache._after_fork()

            os.register_at_fork(after_in_child=after_fork_in_child)

    def __repr__(self) -> str:
        state = "down" if self._down_since is not None else "up"
        return (
            f"RedisSharedCache({self._where!r}, prefix={self._prefix!r}, "
            f"fleet={self._fleet!r}, {state})"
        )

    @property
    def stats(self) -> FleetStats:
        """Counters since this object was made (a snapshot)."""
        return self._counts.snapshot()

    @property
    def fleet(self) -> str:
        """The fleet's name (bound into every name, record and the KMS encryption context)."""
        return self._fleet

    @property
    def available(self) -> bool:
        """False while the store is treated as down (local-only operation)."""
        return self._down_since is None

    def check(self) -> None:
        """Reach the store and get the fleet key now, or raise a ConfigurationError saying why.

        For start-up checks; resolution itself never raises because of this tier.
        """
        try:
            self._redis.ping()
            self._keys.get(self._redis)
        except KeyUnavailableError as exc:
            raise ConfigurationError(str(exc)) from None
        except self._errors as exc:
            raise ConfigurationError(
                f"the shared cache at {self._where} is unreachable ({type(exc).__name__}): "
                "check the URL, the security group / network path and the server"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a client's bug still gets a clear error
            raise ConfigurationError(
                f"the shared cache at {self._where} failed its check with "
                f"{type(exc).__name__}: see the chained exception"
            ) from exc
        self._ok()

    async def acheck(self) -> None:
        """Async twin of :meth:`check` (runs it in a thread)."""
        import asyncio

        await asyncio.to_thread(self.check)

    def close(self) -> None:
        """Stop the listener thread and close the connections."""
        self._stop.set()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=2.0)
        self._jobs.shutdown(wait=True)
        try:
            self._redis.close()
        except self._errors:
            pass

    async def aclose(self) -> None:
        """Async twin of :meth:`close` (runs it in a thread)."""
        import asyncio

        await asyncio.to_thread(self.close)

    def __enter__(self) -> RedisSharedCache:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- SharedCache protocol ----------------------------------------------------------

    def attach(
        self, cache: CredentialCache, *, ttl: float, expiry_skew: float, source: Any = None
    ) -> Attachment:
        """Bind a resolver's cache (see :class:`agentcore_auth._shared.SharedCache`).

        ``source`` is the resolver's credential source: its names and records are bound
        to its kind, workload, Region and account (:func:`._binding.binding_scope`), so
        a resolver over another source or workload is never served its values.
        """
        attachment = Attachment(self, cache, ttl=ttl, expiry_skew=expiry_skew)
        attachment.scope = binding_scope(source)
        self._load_keys()  # a KMS data key: in the background, never on a miss's path
        with self._lock:
            self._attached.append(attachment)
            start = self._listener is None
            if start:
                self._listener = threading.Thread(
                    target=self._listen, name="agentcore-auth-fleet-listener", daemon=True
                )
        if start:
            assert self._listener is not None
            self._listener.start()
            # A cold start stampedes at once: be subscribed before the first wait
            # (a store that is down fails this quickly; a silent one costs a timeout).
            self._first_try.wait(timeout=2.0)
        return attachment

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, jobs and listener (threads do not survive a fork)."""
        self._lock = threading.Lock()
        self._waiters = {}
        self._jobs = ThreadPoolExecutor(1, "agentcore-auth-fleet")
        self._miss = threading.local()
        self._key_loader = None
        self._subscribed = threading.Event()
        self._first_try = threading.Event()
        self._listener = None
        # A lock another thread held at fork time stays held in the child: new ones.
        for owner in (self._counts, *self._attached, self._refusals, self._sent_fills,
                      self._nonces, self._fetch_failed, self._keys, self._log_seen,
                      self._log_first):
            if hasattr(owner, "_lock"):
                owner._lock = threading.Lock()
        self._counts.add("forks")
        if self._attached and not self._stop.is_set():
            self._listener = threading.Thread(
                target=self._listen, name="agentcore-auth-fleet-listener", daemon=True
            )
            self._listener.start()

    def _detach(self, attachment: Attachment) -> None:
        with self._lock:
            if attachment in self._attached:
                self._attached.remove(attachment)
