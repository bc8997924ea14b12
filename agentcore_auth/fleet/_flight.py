"""The miss path of RedisSharedCache: the store, the fleet-wide lock, or the source.

A local miss reads the value; if absent it takes the lock (``SET NX PX``) and
fetches, or waits for the holder's notice (no polling), bounded by the lease. A
live holder renews its lease while its fetch runs, so a dead one costs one lease.
The miss is a generator of steps (:meth:`Flights._fetch_steps`): a sync caller
waits on its thread, an async one on its event loop, holding no worker thread.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Generator, Hashable
from typing import Any

from .._concurrency import Wait, Wake
from .._credential import Credential, CredentialRequest
from .._identity import Identity
from .._secret import Secret
from .._shared import SourceFetch
from ._attach import Attachment
from ._base import DownError, fleet_name, logger, provider_tag
from ._crypto import FleetKeys, Record, UndecryptableError
from ._notices import Notices

__all__ = ["CAD_LOCK_SCRIPT", "CAD_VALUE_SCRIPT", "RENEW_LOCK_SCRIPT", "Flights"]

#: Compare-and-delete: drop a value only while it still holds the refused one.
CAD_VALUE_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 16) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: Release a lock only while we still hold it (its lease may have passed to another).
CAD_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: Extend a lock's lease only while we still hold it.
RENEW_LOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class Flights(Notices):
    """Filling local misses through the store (a part of RedisSharedCache)."""

    _cad_value: Any
    _cad_lock: Any
    _renew_lock: Any

    def _fetch(
        self,
        att: Attachment,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Credential:
        """A local miss, for a sync caller: :meth:`_fetch_steps`, waiting on this thread."""
        steps = self._fetch_steps(att, local_key, request, identity, source_fetch)
        while True:
            try:
                wait = next(steps)
            except StopIteration as done:
                credential: Credential = done.value
                return credential
            wait.block()

    def _fetch_steps(
        self,
        att: Attachment,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Generator[Wait, None, Credential]:
        """A local miss: from the store, after another process's fetch, or fetched here.

        A generator of steps: each ``yield`` is a :class:`Wait` for another process's
        fill (its notice, or the end of its lease); the caller blocks on it (sync) or
        awaits it on its event loop (async, holding no worker thread), then resumes
        the steps, possibly on another thread. It returns the credential.

        The tier's one boundary: only ``source_fetch``'s own errors come out. Anything
        else the tier raises (a bug, a client that raises what it should not) is
        counted in ``faults``, makes the process local-only for ``retry_interval``,
        and the miss is answered by the source, once.
        """
        raised: list[BaseException] = []
        got: list[Credential] = []

        def source(req: CredentialRequest, ident: Identity | None) -> Credential:
            try:
                credential = source_fetch(req, ident)
            except BaseException as exc:
                raised.append(exc)
                raise
            got.append(credential)
            return credential

        self._miss.left = self._miss_budget
        try:
            return (yield from self._fetch_through_tier(att, local_key, request, identity,
                                                        source))
        except BaseException as exc:
            if any(exc is e for e in raised) or not isinstance(exc, Exception):
                raise
            self._fault(exc)
        finally:
            self._miss.left = None
        if got:
            return got[0]
        self._counts.add("fallbacks")
        return source_fetch(request, identity)

    def _fetch_through_tier(
        self,
        att: Attachment,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Generator[Wait, None, Credential]:
        keys = self._usable_keys()
        fetched: list[Credential] = []
        if keys is not None:
            name = fleet_name(keys, request, identity, att.scope)
            try:
                return (yield from self._through(
                    att, keys, name, local_key, request, identity, source_fetch, fetched
                ))
            except DownError:
                if fetched:  # we fetched, then lost the store: the value is good
                    return fetched[0]
        self._counts.add("fallbacks")
        self._miss.left = None  # the source's own time is not the tier's
        credential = source_fetch(request, identity)
        keys = self._keys.peek()
        if keys is not None:  # so that a 401 on it still reaches the fleet, late if need be
            att.remember(local_key, fleet_name(keys, request, identity, att.scope),
                         credential.secret)
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
    ) -> Generator[Wait, None, Credential]:
        began = time.monotonic()
        deadline = began + self._wait_timeout
        provider = provider_tag(keys, request.provider_name)
        epoch: list[int] = []  # the provider's drop epoch, read with the value
        waiter = self._add_waiter(name)  # before the first read: no notice slips past
        waited = False
        try:
            while True:
                if not request.force_authentication:
                    found = self._read(att, keys, name, provider, epoch)
                    if found is not None:
                        att.remember(local_key, name, found.secret)
                        return found
                if not waited:
                    self._counts.add("shared_misses")
                token = os.urandom(16).hex()
                if self._op(functools.partial(
                    self._redis.set, self._lock_key(name), token, nx=True, px=self._lease_ms
                )):
                    return self._lead(att, keys, name, provider, token, local_key, request,
                                      identity, source_fetch, fetched)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._counts.add("wait_timeouts")
                    logger.warning(
                        "waited %.1fs for another process to fetch %s; fetching here",
                        self._wait_timeout,
                        request.provider_name,
                    )
                    raise DownError
                if not waited:
                    self._counts.add("lock_waits")
                    waited = True
                lease_ms = self._op(lambda: self._redis.pttl(self._lock_key(name)))
                if lease_ms == -1 or (lease_ms or 0) > self._lease_ms:
                    # No TTL, or longer than any holder of ours would take: not a holder
                    # of this fleet (a squatter, or a bug). Fetch here at once.
                    self._counts.add("foreign_locks")
                    raise DownError
                # Woken by the holder's notice; else when its lease ends (never sooner
                # than a tenth of a lease, so a vanished lock is not polled in a loop).
                # Unsubscribed (the listener reconnecting), look again every 100 ms.
                floor = self._lease_ms / 10_000
                wait = lease_ms / 1000 + 0.005 if lease_ms and lease_ms > 0 else floor
                if not self._subscribed.is_set():
                    wait = min(wait, 0.1)
                # The caller waits (its thread, or its event loop); the wait is not the
                # miss budget's, and the steps may resume on another thread.
                left, self._miss.left = getattr(self._miss, "left", None), None
                yield Wait(waiter, min(remaining, wait))
                self._miss.left = left
                waiter.clear()
                if (self._fetch_failed.get(name) or 0.0) >= began:
                    # The holder's fetch failed (the source throttled or down): fetch here
                    # at once, as without the tier, rather than queue behind each other.
                    raise DownError
        finally:
            self._remove_waiter(name, waiter)

    def _add_waiter(self, name: str) -> Wake:
        """A waiter for ``name``'s notices that an event loop can await too (see Wait)."""
        event = Wake()
        with self._lock:
            self._waiters.setdefault(name, []).append(event)
        return event

    def _lead(
        self,
        att: Attachment,
        keys: FleetKeys,
        name: str,
        provider: str,
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
            epoch: list[int] = []
            if not request.force_authentication:
                found = self._read(att, keys, name, provider, epoch)  # filled meanwhile?
                if found is not None:
                    att.remember(local_key, name, found.secret)
                    return found
            else:
                epoch = [self._epoch_of(provider)]
                self._learn_epoch(provider, epoch[0])
            credential = source_fetch(request, identity)  # its errors reach the caller
            fetched.append(credential)
            notice = "free"
            self._counts.add("source_fetches")
            att.remember(local_key, name, credential.secret)
            try:
                if self._write(att, keys, name, credential, epoch[0]):
                    notice = "fill"
            except DownError:
                pass
            return credential
        finally:
            done.set()
            try:  # off the caller's path, and off its time budget
                self._jobs.submit(self._release, name, token, notice)
            except RuntimeError:  # closed: the lease runs out
                pass

    def _release(self, name: str, token: str, notice: str) -> None:
        """Give the lock back and tell the waiters (in the background)."""
        try:
            self._op(lambda: self._cad_lock(keys=[self._lock_key(name)], args=[token]))
            self._publish(notice, name)
        except DownError:
            pass

    def _renew(self, name: str, token: str, done: threading.Event) -> None:
        """Keep the lease while our fetch runs; a crash stops this, and the lease runs out."""
        renew = functools.partial(
            self._renew_lock, keys=[self._lock_key(name)], args=[token, self._lease_ms]
        )
        # Four times per lease: a renewal may be late when the process is starved.
        while not done.wait(self._lease_ms / 4000):
            try:
                if not self._op(renew):
                    return  # lost (the store restarted): the fetch still completes
            except DownError:
                return

    def _read(
        self, att: Attachment, keys: FleetKeys, name: str, provider: str, epoch: list[int]
    ) -> Credential | None:
        """The value stored under ``name``, if still good; ``epoch`` gets the provider's."""

        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self._value_key(name))
            pipe.get(self._epoch_key(provider))
            return list(pipe.execute())

        blob, raw_epoch = self._op(read)
        epoch[:] = [int(raw_epoch) if raw_epoch is not None else 0]
        self._learn_epoch(provider, epoch[0])
        if blob is None:
            return None
        record = self._open_record(keys, name, blob)
        if record is None:
            return None
        refused_at = self._refused_at(name, keys.tag(record.value))
        if refused_at is not None and record.filled_at <= refused_at:
            # Refused here or by another process, and the drop has not landed yet.
            self._counts.add("refused_reads")
            handle = blob[:16]
            self._op(lambda: self._cad_value(keys=[self._value_key(name)], args=[handle]))
            return None
        if record.epoch != epoch[0]:
            # Fetched before its provider was dropped fleet-wide (a rotation): stale.
            self._counts.add("refused_reads")
            return None
        if record.fresh_until <= time.time():
            return None
        self._counts.add("shared_hits")
        # The local entry expires when the shared one does (the cache subtracts the skew).
        return Credential(
            Secret(record.value, name=record.name), expires_at=record.fresh_until + att.expiry_skew
        )

    def _open_record(self, keys: FleetKeys, name: str, blob: bytes) -> Record | None:
        """Decrypt a stored blob (handle + sealed record); None (counted) if it will not
        (another fleet key, or a record copied from another fleet, scope or name)."""
        try:
            record = keys.open(name, blob[16:])
        except UndecryptableError:
            self._counts.add("undecryptable")
            self._keys.reset(keys)
            return None
        if keys.handle(record.record_id) != blob[:16]:
            self._counts.add("undecryptable")
            return None
        return record

    def _write(
        self, att: Attachment, keys: FleetKeys, name: str, credential: Credential, epoch: int
    ) -> bool:
        now = time.time()
        lifetime = att.ttl
        if credential.expires_at is not None:
            lifetime = min(lifetime, credential.expires_at - now - att.expiry_skew)
        if lifetime <= 0:
            return False
        secret = credential.secret
        record = Record(
            secret.reveal(), secret.name, now, now + lifetime, credential.expires_at, epoch,
            os.urandom(16).hex(),
        )
        blob = keys.handle(record.record_id) + keys.seal(name, record)
        px = max(1, int(lifetime * 1000))
        self._op(lambda: self._redis.set(self._value_key(name), blob, px=px))
        return True
