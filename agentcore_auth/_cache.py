"""The credential cache: TTL and expiry-aware entries, single-flight, compare-and-invalidate.

Everything here is I/O-free and clock-injected: it decides (is it fresh, who
fetches, may a stale value be served) and never fetches. The resolver does the
fetching, sync or async, and reports back through :meth:`CredentialCache.complete`
or :meth:`CredentialCache.fail`.

Concurrency follows cachetools' ``_condition`` discipline: one lock, held only
while dicts are read or updated, never during a fetch. Concurrent misses for one
key share one :class:`concurrent.futures.Future`, which sync waiters block on
and async waiters await, from any thread or event loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, fields

from cachetools import TLRUCache

from ._credential import Credential
from ._exceptions import SourceUnavailableError
from ._secret import Secret

__all__ = ["CacheEntry", "CacheStats", "CredentialCache", "Flight"]

logger = logging.getLogger("agentcore_auth")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the resolver was made (a snapshot; read ``resolver.stats`` again).

    Attributes:
        hits: answered from the cache.
        misses: lookups that started an upstream fetch.
        upstream_calls: fetches that reached the source (successful or not).
        coalesced_waits: lookups that joined a fetch already under way.
        invalidations: entries dropped by ``invalidate``.
        stale_serves: expired values served because the source was unavailable.
        errors: fetches that ended in an error (served stale or not).
    """

    hits: int = 0
    misses: int = 0
    upstream_calls: int = 0
    coalesced_waits: int = 0
    invalidations: int = 0
    stale_serves: int = 0
    errors: int = 0


class CacheEntry:
    """A cached secret with the monotonic times it is fresh until and servable-stale until."""

    __slots__ = ("secret", "fresh_until", "stale_until")

    def __init__(self, secret: Secret, fresh_until: float, stale_until: float) -> None:
        self.secret = secret
        self.fresh_until = fresh_until
        self.stale_until = stale_until

    def __repr__(self) -> str:
        return (
            f"CacheEntry(secret={self.secret!r}, fresh_until={self.fresh_until:.3f}, "
            f"stale_until={self.stale_until:.3f})"
        )


class Flight:
    """One upstream fetch under way: the leader's handle to report its outcome."""

    __slots__ = ("key", "future", "stale", "served_stale", "upstream_s")

    def __init__(self, key: Hashable, stale: CacheEntry | None) -> None:
        self.key = key
        self.future: Future[Secret] = Future()
        self.stale = stale
        self.served_stale = False  # the fetch failed and ``stale`` was served instead
        self.upstream_s: float | None = None  # how long the source took (telemetry)

    def __repr__(self) -> str:
        return f"Flight(done={self.future.done()})"


class _Store(TLRUCache[Hashable, CacheEntry]):
    """cachetools' TLRU cache that reports every removal, to keep the hit-path index in step."""

    def __init__(
        self, maxsize: int, timer: Callable[[], float], on_remove: Callable[[Hashable], object]
    ) -> None:
        super().__init__(maxsize, ttu=lambda _k, entry, _now: entry.stale_until, timer=timer)
        self._on_remove = on_remove

    def popitem(self) -> tuple[Hashable, CacheEntry]:
        key, entry = super().popitem()
        self._on_remove(key)
        return key, entry

    def expire(self, time: float | None = None) -> list[tuple[Hashable, CacheEntry]]:
        expired: list[tuple[Hashable, CacheEntry]] = list(super().expire(time) or ())
        for key, _ in expired:
            self._on_remove(key)
        return expired


class CredentialCache:
    """A bounded TLRU cache of secrets with single-flight misses.

    Args:
        ttl: how long a value is fresh, in seconds; a token's own expiry (minus
            ``expiry_skew``) shortens it.
        max_entries: bound on cached credentials; the least recently used go first.
        stale_if_error: how long after expiry a value may still be served when the
            source is unavailable (``SourceUnavailableError``); 0 disables.
        expiry_skew: refresh tokens this many seconds before they expire.
        retry_after: after serving stale, wait this long before asking upstream again.
        timer: monotonic clock (injected by tests).
        wall_clock: epoch clock, to compare with token expiry times.
        pin: called ``pin(secret, True)`` when an entry starts holding a value and
            ``pin(secret, False)`` when it stops (replaced, evicted, expired,
            invalidated, cleared), under the cache's lock; the resolver keeps
            cached values registered for redaction with it.
    """

    def __init__(
        self,
        *,
        ttl: float,
        max_entries: int,
        stale_if_error: float,
        expiry_skew: float = 30.0,
        retry_after: float = 1.0,
        timer: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        pin: Callable[[Secret, bool], object] | None = None,
    ) -> None:
        self.ttl = ttl
        self.stale_if_error = stale_if_error
        self.expiry_skew = expiry_skew
        self.retry_after = retry_after
        self._timer = timer
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        # The bounded, expiring store is cachetools' TLRU cache. Hits read ``_index``,
        # a plain dict mirror of it, because TLRU's own lookup costs microseconds; so
        # eviction order is by last refresh rather than last read (every entry is
        # refreshed at least once per TTL anyway).
        self._index: dict[Hashable, CacheEntry] = {}
        self._pin = pin
        self._store = _Store(max_entries, timer, self._unindex)
        self._inflight: dict[Hashable, Flight] = {}
        self._counts = dict.fromkeys((f.name for f in fields(CacheStats)), 0)

    def __repr__(self) -> str:
        return (
            f"CredentialCache(entries={len(self._store)}, inflight={len(self._inflight)}, "
            f"ttl={self.ttl}, stale_if_error={self.stale_if_error})"
        )

    def __len__(self) -> int:
        with self._lock:
            self._store.expire()
            return len(self._index)

    @property
    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            return CacheStats(**self._counts)

    def lookup(
        self, key: Hashable, *, force: bool = False
    ) -> tuple[Secret | None, Future[Secret] | None, Flight | None]:
        """The hot path: a fresh secret, or a future to wait on (and a Flight if you lead).

        Returns ``(secret, None, None)`` on a hit; ``(None, future, None)`` when a
        fetch is under way (wait on it); ``(None, future, flight)`` when the caller
        must fetch and then call :meth:`complete` or :meth:`fail` with the flight.
        With ``force``, a fresh entry is ignored (a fetch is joined or started).
        """
        now = self._timer()
        counts = self._counts
        with self._lock:
            entry = self._index.get(key)
            if entry is not None and now < entry.fresh_until and not force:
                counts["hits"] += 1
                return entry.secret, None, None
            flight = self._inflight.get(key)
            if flight is not None:
                counts["coalesced_waits"] += 1
                return None, flight.future, None
            counts["misses"] += 1
            flight = self._inflight[key] = Flight(key, entry)
        return None, flight.future, flight

    def hit(self, key: Hashable) -> Secret | None:
        """The decorators' hot path: the fresh secret under ``key``, or None (then call
        :meth:`lookup`). No tuple, no flight; only the hit counter takes the lock."""
        entry = self._index.get(key)  # one atomic dict read; the index is only replaced whole
        if entry is None or self._timer() >= entry.fresh_until:
            return None
        with self._lock:
            self._counts["hits"] += 1
        return entry.secret

    def complete(self, flight: Flight, credential: Credential) -> None:
        """Store a fetched credential and hand it to every waiter."""
        now = self._timer()
        lifetime = self.ttl
        fresh_until = now + lifetime
        stale_until = fresh_until + self.stale_if_error
        if credential.expires_at is not None:
            left = credential.expires_at - self._wall_clock()
            fresh_until = now + (left - self.expiry_skew if credential.until_expiry
                                 else min(lifetime, left - self.expiry_skew))
            stale_until = fresh_until + self.stale_if_error
            if credential.until_expiry:  # a signed token is never served stale past its expiry
                stale_until = max(fresh_until, min(stale_until, now + left - 1.0))
            lifetime = fresh_until - now
        entry = CacheEntry(credential.secret, fresh_until, stale_until)
        with self._lock:
            self._counts["upstream_calls"] += 1
            if self._inflight.get(flight.key) is flight:
                del self._inflight[flight.key]
                if lifetime > 0:
                    self._store[flight.key] = entry
                    self._reindex(flight.key, entry)
                else:
                    self._drop(flight.key)
        flight.future.set_result(credential.secret)

    def fail(self, flight: Flight, error: BaseException, *, reached_source: bool = True) -> None:
        """Report a failed fetch: serve a stale value if allowed, else the error, to every waiter.

        Failures are never cached as values. After a stale serve the entry counts
        as fresh for ``retry_after`` seconds so an outage is not hammered. A flight
        detached by :meth:`invalidate` or :meth:`clear` while under way does not
        fall back to its stale value: that value was just declared bad (a 401).
        """
        now = self._timer()
        stale = flight.stale
        serve_stale = (
            isinstance(error, SourceUnavailableError)
            and stale is not None
            and now < stale.stale_until
        )
        expired_ago = now - stale.fresh_until if stale is not None else 0.0
        with self._lock:
            counts = self._counts
            counts["errors"] += 1
            counts["upstream_calls"] += int(reached_source)
            if self._inflight.get(flight.key) is flight:
                del self._inflight[flight.key]
                if serve_stale:
                    assert stale is not None
                    stale.fresh_until = min(now + self.retry_after, stale.stale_until)
            else:
                serve_stale = False
            if serve_stale:
                counts["stale_serves"] += 1
        if serve_stale:
            assert stale is not None
            flight.served_stale = True
            logger.warning(
                "serving a stale credential (%s, expired %.1fs ago) because the source is "
                "unavailable: %s",
                stale.secret.name,
                expired_ago,
                error,
            )
            flight.future.set_result(stale.secret)
        else:
            flight.future.set_exception(error)

    def invalidate(self, key: Hashable, *, if_value: Secret | None = None) -> bool:
        """Drop one entry; with ``if_value``, only if it still holds that value.

        Compare-and-invalidate is what refetch-on-401 uses: of 100 callers that
        saw a 401 with one stale value, the first drops it and the rest find the
        fresh one already there. A fetch under way for that key is detached, so
        callers after the invalidation start a new fetch instead of joining one
        that may return the rejected value.
        """
        with self._lock:
            entry = self._index.get(key)
            if entry is None or (if_value is not None and entry.secret != if_value):
                return False
            self._drop(key)
            self._inflight.pop(key, None)
            self._counts["invalidations"] += 1
            return True

    def mark_stale(self, key: Hashable, *, if_value: Secret) -> bool:
        """Make the entry under ``key`` due now, while it still holds ``if_value``.

        Unlike :meth:`invalidate` the value stays: the next lookup fetches again
        (single-flight), and if the source is unavailable the value is served stale,
        at least until it would have stopped being fresh. The fleet tier uses this
        when it may have missed news about a value, not when the value was refused.
        """
        now = self._timer()
        with self._lock:
            entry = self._index.get(key)
            if entry is None or entry.secret != if_value or entry.fresh_until <= now:
                return False
            entry.stale_until = max(entry.stale_until, entry.fresh_until)
            entry.fresh_until = now
            return True

    def refetched_same(self, secret: Secret) -> bool:
        """Whether the entry ``secret`` came from now holds another fetch of the same value.

        A caller refused with ``secret`` then knows the source has answered that value
        again since (a concurrent caller's refetch): refetching once more is pointless.
        """
        key = secret._origin
        if key is None:
            return False
        with self._lock:
            entry = self._index.get(key)
        return entry is not None and entry.secret is not secret and entry.secret == secret

    def invalidate_where(self, predicate: Callable[[Secret], bool]) -> int:
        """Drop every entry whose secret satisfies ``predicate``; return how many."""
        with self._lock:
            doomed = [k for k, e in self._index.items() if predicate(e.secret)]
            for key in doomed:
                self._drop(key)
                self._inflight.pop(key, None)
            self._counts["invalidations"] += len(doomed)
            return len(doomed)

    def clear(self) -> None:
        """Drop every entry (fetches under way still complete for their waiters)."""
        with self._lock:
            self._store.clear()
            for key in list(self._index):
                self._unindex(key)
            self._inflight.clear()

    def _drop(self, key: Hashable) -> None:
        """Remove ``key`` from the store and the index (lock held)."""
        self._store.pop(key, None)
        self._unindex(key)

    def _reindex(self, key: Hashable, entry: CacheEntry) -> None:
        """Point the hit-path index at ``entry``, pinning its value (lock held)."""
        old = self._index.get(key)
        self._index[key] = entry
        if self._pin is not None:
            self._pin(entry.secret, True)
            if old is not None and old is not entry:
                self._pin(old.secret, False)

    def _unindex(self, key: Hashable) -> None:
        """Drop ``key`` from the index, unpinning its value (lock held)."""
        old = self._index.pop(key, None)
        if old is not None and self._pin is not None:
            self._pin(old.secret, False)
