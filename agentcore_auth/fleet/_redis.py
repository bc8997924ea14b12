"""RedisSharedCache: a fleet-wide tier on Valkey / Redis behind each process's own cache.

Store layout, every name a keyed hash (see :mod:`._crypto`):

- ``<prefix>v:<name>``: a value, ``tag (16 bytes) + AES-GCM record``, expiring
  (``PX``) when every process must stop serving it;
- ``<prefix>l:<name>``: the fleet-wide fetch lock, a random token with a lease;
- ``<prefix>dek``: with ``kms_key_id``, the KMS-wrapped fleet key;
- channel ``<prefix>events``: ``fill|free|fail|drop <name> [<tag> <time>]`` notices.

A local miss reads the value; if absent it takes the lock and fetches, or waits
for the ``fill`` notice (no polling), bounded by the lease, so a lock holder that
dies only costs one lease (a live holder renews it). If the holder's fetch fails,
its waiters fetch at once, each for itself, as they would without the tier. A 401
compare-and-deletes the value (a Lua script comparing the tag) and publishes
``drop``, and every process compare-and-invalidates its own copy. Any store
error makes the process local-only for ``retry_interval`` seconds, with one
warning per outage and counters.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from .._credential import Credential, CredentialRequest
from .._exceptions import ConfigurationError
from .._identity import Identity, runtime_workload_token
from .._secret import Secret
from .._shared import SourceFetch
from ._attach import Attachment
from ._crypto import FleetKeys, Record, UndecryptableError
from ._keys import KeyUnavailableError, KmsKeys, LocalKeys
from ._stats import Counters, FleetStats

if TYPE_CHECKING:
    from .._cache import CredentialCache

__all__ = ["RedisSharedCache"]

if TYPE_CHECKING:  # RedisSharedCache is what CredentialResolver(shared_cache=...) takes
    from .._shared import SharedCache

    def _conforms(cache: RedisSharedCache) -> SharedCache:
        return cache

logger = logging.getLogger("agentcore_auth.fleet")
T = TypeVar("T")

#: Compare-and-delete: drop a value only while it still holds the refused one.
_CAD_VALUE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 16) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: The same, then tell the fleet, in one round trip.
_CAD_VALUE_PUBLISH = """
local v = redis.call('GET', KEYS[1])
local dropped = 0
if v and string.sub(v, 1, 16) == ARGV[1] then dropped = redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return dropped
"""
#: Release a lock only while we still hold it (its lease may have passed to another).
_CAD_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: Extend a lock's lease only while we still hold it.
_RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
#: How long a refused value is remembered (longer than any value can live in the store).
_REFUSAL_MEMORY = 600.0
_MAX_REFUSALS = 10_000


class _DownError(Exception):
    """A store operation failed: go local-only."""


class RedisSharedCache:
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
        lock_lease: seconds after which the fleet-wide fetch lock of a process that
            stopped renewing it (crashed, or cut off) passes to another.
        wait_timeout: longest a process waits for other processes' fetches before
            fetching itself (default 30 s). A holder renews its lease while its fetch
            runs, so a slow upstream is waited for, and a dead holder costs one lease.
        op_timeout: socket timeout of each store operation, in seconds.
        connect_timeout: connection timeout, in seconds.
        retry_interval: after a store error, seconds of local-only operation before
            the store is tried again.
        client: a ready ``redis.Redis`` client instead of ``url`` options (its
            timeouts are then yours to bound), e.g. with a ``credential_provider``
            for ElastiCache IAM authentication.

    Make it after forking (a pre-fork server's ``post_fork`` hook): its listener
    thread does not survive a fork.
    """

    def __init__(
        self,
        url: str,
        *,
        data_key: bytes | None = None,
        kms_key_id: str | None = None,
        kms_client: Any = None,
        prefix: str = "agentcore-auth:",
        lock_lease: float = 10.0,
        wait_timeout: float | None = None,
        op_timeout: float = 0.25,
        connect_timeout: float = 0.5,
        retry_interval: float = 5.0,
        client: Any = None,
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
            ("wait_timeout", 30.0 if wait_timeout is None else wait_timeout),
        ):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not value > 0:
                raise ConfigurationError(f"{what} must be a number of seconds > 0, not {value!r}")
        if not isinstance(prefix, str):
            raise ConfigurationError("prefix must be a string, e.g. 'agentcore-auth:'")
        self._where = _safe_url(url)
        if client is None:
            try:
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=op_timeout,
                    socket_connect_timeout=connect_timeout,
                    retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
                    health_check_interval=30,
                )
            except ValueError as exc:
                raise ConfigurationError(
                    f"url {self._where!r} is not a Redis URL: use redis://host:6379/0, "
                    f"rediss://host:6379/0 or unix:///path/to/socket ({exc})"
                ) from None
        self._redis = client
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self._lost = redis.exceptions.ConnectionError
        self._prefix = prefix
        self._channel = prefix + "events"
        self._lease_ms = max(1, int(lock_lease * 1000))
        self._wait_timeout = 30.0 if wait_timeout is None else wait_timeout
        self._retry_interval = retry_interval
        self._keys: LocalKeys | KmsKeys
        if data_key is not None:
            self._keys = LocalKeys(data_key)
        else:
            assert kms_key_id is not None
            self._keys = KmsKeys(kms_key_id, prefix + "dek", lambda: _kms(kms_client))
        self._cad_value = client.register_script(_CAD_VALUE)
        self._cad_publish = client.register_script(_CAD_VALUE_PUBLISH)
        self._cad_lock = client.register_script(_CAD_LOCK)
        self._renew_lock = client.register_script(_RENEW_LOCK)
        self._counts = Counters()
        self._lock = threading.Lock()
        self._attached: list[Attachment] = []
        self._waiters: dict[str, list[threading.Event]] = {}
        self._fetch_failed: dict[str, float] = {}  # name -> when a holder's fetch failed
        self._refused: dict[str, dict[str, float]] = {}  # name -> tag -> epoch refused
        self._pending: dict[tuple[str, str], float] = {}  # drops to send once back
        self._down_until = 0.0
        self._down_since: float | None = None
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._first_try = threading.Event()  # the listener tried once (either way)
        self._listener: threading.Thread | None = None
        self._jobs = ThreadPoolExecutor(1, "agentcore-auth-fleet")

    def __repr__(self) -> str:
        state = "down" if self._down_since is not None else "up"
        return f"RedisSharedCache({self._where!r}, prefix={self._prefix!r}, {state})"

    @property
    def stats(self) -> FleetStats:
        """Counters since this object was made (a snapshot)."""
        return self._counts.snapshot()

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

    def attach(self, cache: CredentialCache, *, ttl: float, expiry_skew: float) -> Attachment:
        """Bind a resolver's cache (see :class:`agentcore_auth._shared.SharedCache`)."""
        attachment = Attachment(self, cache, ttl=ttl, expiry_skew=expiry_skew)
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

    def _detach(self, attachment: Attachment) -> None:
        with self._lock:
            if attachment in self._attached:
                self._attached.remove(attachment)

    # --- the miss path ---------------------------------------------------------------------

    def _fetch(
        self,
        att: Attachment,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Credential:
        """A local miss: from the store, after another process's fetch, or fetched here."""
        keys = self._usable_keys()
        fetched: list[Credential] = []
        if keys is not None:
            name = _name(keys, request, identity)
            try:
                return self._through(
                    att, keys, name, local_key, request, identity, source_fetch, fetched
                )
            except _DownError:
                if fetched:  # we fetched, then lost the store: the value is good
                    return fetched[0]
        self._counts.add("fallbacks")
        credential = source_fetch(request, identity)
        keys = self._keys.peek()
        if keys is not None:  # so that a 401 on it still reaches the fleet, late if need be
            att.remember(local_key, _name(keys, request, identity), credential.secret)
        return credential

    def _through(
        self,
        att: Attachment,
        keys: FleetKeys,
        name: str,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
        fetched: list[Credential],
    ) -> Credential:
        began = time.monotonic()
        deadline = began + self._wait_timeout
        waiter = self._add_waiter(name)  # before the first read: no notice slips past
        waited = False
        try:
            while True:
                if not request.force_authentication:
                    found = self._read(att, keys, name)
                    if found is not None:
                        att.remember(local_key, name, found.secret)
                        return found
                if not waited:
                    self._counts.add("shared_misses")
                token = os.urandom(16).hex()
                if self._op(functools.partial(
                    self._redis.set, self._lock_key(name), token, nx=True, px=self._lease_ms
                )):
                    return self._lead(att, keys, name, token, local_key, request, identity,
                                      source_fetch, fetched)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._counts.add("wait_timeouts")
                    logger.warning(
                        "waited %.1fs for another process to fetch %s; fetching here",
                        self._wait_timeout,
                        request.provider_name,
                    )
                    raise _DownError
                if not waited:
                    self._counts.add("lock_waits")
                    waited = True
                lease_ms = self._op(lambda: self._redis.pttl(self._lock_key(name)))
                # Woken by the holder's notice; else when its lease ends. Unsubscribed
                # (the listener reconnecting), look again every 100 ms.
                wait = lease_ms / 1000 + 0.005 if lease_ms and lease_ms > 0 else 0.005
                if not self._subscribed.is_set():
                    wait = min(wait, 0.1)
                waiter.wait(min(remaining, wait))
                waiter.clear()
                if self._fetch_failed.get(name, 0.0) >= began:
                    # The holder's fetch failed (the source throttled or down): fetch here
                    # at once, as without the tier, rather than queue behind each other.
                    raise _DownError
        finally:
            self._remove_waiter(name, waiter)

    def _lead(
        self,
        att: Attachment,
        keys: FleetKeys,
        name: str,
        token: str,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
        fetched: list[Credential],
    ) -> Credential:
        """We hold the fleet's lock: fetch once, store it, let the others go."""
        notice = "fail"
        done = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(name, token, done), name="agentcore-auth-fleet-lease",
            daemon=True,
        )
        renewer.start()
        try:
            if not request.force_authentication:
                found = self._read(att, keys, name)  # filled between our read and our lock
                if found is not None:
                    att.remember(local_key, name, found.secret)
                    return found
            credential = source_fetch(request, identity)  # its errors reach the caller
            fetched.append(credential)
            notice = "free"
            self._counts.add("source_fetches")
            att.remember(local_key, name, credential.secret)
            try:
                if self._write(att, keys, name, credential):
                    notice = "fill"
            except _DownError:
                pass
            return credential
        finally:
            done.set()
            try:
                self._op(lambda: self._cad_lock(keys=[self._lock_key(name)], args=[token]))
                self._op(lambda: self._redis.publish(self._channel, f"{notice} {name}"))
            except _DownError:
                pass

    def _renew(self, name: str, token: str, done: threading.Event) -> None:
        """Keep the lease while our fetch runs; a crash stops this, and the lease runs out."""
        renew = functools.partial(
            self._renew_lock, keys=[self._lock_key(name)], args=[token, self._lease_ms]
        )
        while not done.wait(self._lease_ms / 3000):
            try:
                if not self._op(renew):
                    return  # lost (the store restarted): the fetch still completes
            except _DownError:
                return

    def _read(self, att: Attachment, keys: FleetKeys, name: str) -> Credential | None:
        blob = self._op(lambda: self._redis.get(self._value_key(name)))
        if blob is None:
            return None
        tag, sealed = blob[:16], blob[16:]
        try:
            record = keys.open(name, sealed)
        except UndecryptableError:
            self._counts.add("undecryptable")
            self._keys.reset(keys)
            return None
        refused_at = self._refused.get(name, {}).get(tag.hex())
        if refused_at is not None and record.filled_at <= refused_at:
            # Refused here or by another process, and the drop has not landed yet.
            self._counts.add("refused_reads")
            self._op(lambda: self._cad_value(keys=[self._value_key(name)], args=[tag]))
            return None
        if record.fresh_until <= time.time():
            return None
        self._counts.add("shared_hits")
        # The local entry expires when the shared one does (the cache subtracts the skew).
        return Credential(
            Secret(record.value, name=record.name), expires_at=record.fresh_until + att.expiry_skew
        )

    def _write(self, att: Attachment, keys: FleetKeys, name: str, credential: Credential) -> bool:
        now = time.time()
        lifetime = att.ttl
        if credential.expires_at is not None:
            lifetime = min(lifetime, credential.expires_at - now - att.expiry_skew)
        if lifetime <= 0:
            return False
        secret = credential.secret
        record = Record(secret.reveal(), secret.name, now, now + lifetime, credential.expires_at)
        blob = bytes.fromhex(keys.tag(secret.reveal())) + keys.seal(name, record)
        px = max(1, int(lifetime * 1000))
        self._op(lambda: self._redis.set(self._value_key(name), blob, px=px))
        return True

    # --- invalidation ----------------------------------------------------------------------

    def _refused_here(self, name: str, secret: Secret) -> None:
        """A value this process got through the tier was refused: drop it fleet-wide."""
        keys = self._keys.peek()
        if keys is None:
            return
        tag = keys.tag(secret.reveal())
        now = time.time()
        if not self._refuse(name, tag, now):
            return  # already refused: one compare-and-delete and one notice per value
        try:
            self._jobs.submit(self._send_drop, name, tag, now)
        except RuntimeError:  # closed
            pass

    def _refuse(self, name: str, tag: str, when: float) -> bool:
        """Remember a refused value; False if it already was."""
        with self._lock:
            tags = self._refused.setdefault(name, {})
            if tag in tags:
                return False
            tags[tag] = when
            if len(self._refused) > _MAX_REFUSALS:
                horizon = time.time() - _REFUSAL_MEMORY
                for key in [k for k, v in self._refused.items() if max(v.values()) < horizon]:
                    del self._refused[key]
            return True

    def _send_drop(self, name: str, tag: str, when: float) -> None:
        """Compare-and-delete a refused value and tell the fleet; kept for later when down."""
        try:
            if self._down_since is not None and time.monotonic() < self._down_until:
                raise _DownError
            notice = f"drop {name} {tag} {when}"
            self._op(
                lambda: self._cad_publish(
                    keys=[self._value_key(name)], args=[bytes.fromhex(tag), self._channel, notice]
                )
            )
            self._counts.add("invalidations_sent")
        except _DownError:
            with self._lock:
                self._pending[(name, tag)] = when

    def _on_drop(self, name: str, tag: str, when: float) -> None:
        self._counts.add("invalidations_received")
        self._refuse(name, tag, when)
        keys = self._keys.peek()
        if keys is None:
            return
        with self._lock:
            attached = list(self._attached)
        dropped = sum(att.drop(name, tag, keys) for att in attached)
        if dropped:
            self._counts.add("local_drops", dropped)

    # --- the listener ----------------------------------------------------------------------

    def _listen(self) -> None:
        """Receive fill/free/drop notices; reconnect after errors, every ``retry_interval``.

        Notices published while this process was not subscribed are lost, so after
        every reconnection it drops the local entries it got through the store: they
        are read again (from the store, which the missed drops have already cleaned).
        """
        subscribed_before = False
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self._redis.pubsub()
                pubsub.subscribe(self._channel)
                confirmed = pubsub.get_message(timeout=1.0)  # the server's confirmation
                if confirmed is None or confirmed.get("type") != "subscribe":
                    raise self._lost("no subscription confirmation")
                self._subscribed.set()
                self._first_try.set()
                if subscribed_before:
                    self._resync()
                subscribed_before = True
                self._ok()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.25)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["data"])
            except self._errors as exc:
                if not self._stop.is_set():
                    self._failed(exc)
            except Exception:  # a bug here must not kill the listener for good
                logger.exception("the shared cache listener failed; restarting it")
            finally:
                self._first_try.set()
                self._subscribed.clear()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except self._errors:
                        pass
            self._stop.wait(min(self._retry_interval, 1.0))

    def _resync(self) -> None:
        with self._lock:
            attached = list(self._attached)
        dropped = sum(att.drop_all() for att in attached)
        self._counts.add("resyncs")
        if dropped:
            self._counts.add("local_drops", dropped)

    def _dispatch(self, data: bytes) -> None:
        parts = data.decode("ascii", "replace").split()
        if len(parts) >= 2 and parts[0] in ("fill", "free", "fail"):
            if parts[0] == "fail":
                self._fetch_failed[parts[1]] = time.monotonic()
                if len(self._fetch_failed) > _MAX_REFUSALS:
                    self._fetch_failed.clear()
            with self._lock:
                waiters = list(self._waiters.get(parts[1], ()))
            for event in waiters:
                event.set()
        elif len(parts) == 4 and parts[0] == "drop":
            try:
                when = float(parts[3])
            except ValueError:
                return
            self._on_drop(parts[1], parts[2], when)

    def _add_waiter(self, name: str) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(name, []).append(event)
        return event

    def _remove_waiter(self, name: str, event: threading.Event) -> None:
        with self._lock:
            events = self._waiters.get(name)
            if events is not None:
                events.remove(event)
                if not events:
                    del self._waiters[name]

    # --- availability ------------------------------------------------------------------------

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
            raise _DownError from None
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
        if since is None:
            return
        logger.warning(
            "shared credential cache at %s reachable again after %.1fs", self._where,
            time.monotonic() - since,
        )
        for (name, tag), when in pending.items():
            self._counts.add("replayed")
            try:
                self._jobs.submit(self._send_drop, name, tag, when)
            except RuntimeError:
                break

    def _value_key(self, name: str) -> str:
        return f"{self._prefix}v:{name}"

    def _lock_key(self, name: str) -> str:
        return f"{self._prefix}l:{name}"


def _name(keys: FleetKeys, request: CredentialRequest, identity: Identity | None) -> str:
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


def _safe_url(url: str) -> str:
    """``url`` without user name or password, to show in messages."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError("url must be a Redis URL such as redis://localhost:6379/0")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _kms(client: Any) -> Any:
    if client is not None:
        return client
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2})
    return boto3.client("kms", config=config)
