"""Counters of the shared tier."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

__all__ = ["Counters", "FleetStats"]


@dataclass(frozen=True, slots=True)
class FleetStats:
    """What one process's shared tier did since it was made (a snapshot).

    Attributes:
        shared_hits: local misses answered from the shared tier.
        shared_misses: lookups that found nothing usable there.
        source_fetches: upstream calls this process made as the fleet's lock holder.
        lock_waits: local misses that waited for another process's fetch.
        wait_timeouts: waits that gave up (``wait_timeout``) and fetched alone.
        foreign_locks: fetch locks with no TTL or a TTL longer than ``lock_lease``
            (not a holder of this fleet): fetched here at once instead of waiting.
        fallbacks: upstream calls made local-only, the shared tier being unusable.
        invalidations_sent: refused values this process dropped fleet-wide.
        invalidations_received: drop notices received from the fleet.
        local_drops: local entries dropped because another process saw them refused
            (or dropped their provider).
        provider_drops_sent: ``resolver.invalidate(provider_name)`` drops sent fleet-wide.
        provider_drops_received: provider drops applied here (from a notice, or an
            epoch found moved in the store).
        refused_reads: shared values ignored because they had been refused (or their
            provider dropped since they were fetched).
        forged_notices: notices ignored as not sealed with the fleet key, malformed,
            or sent outside the time window (``inf``, the future, too long ago).
        replayed_notices: genuine notices ignored because they were seen before.
        undecryptable: shared records that did not open with this fleet key (another
            key, or a record copied from another fleet, binding scope or name).
        legacy_keys: fleet keys of a release before fleet binding (wrapped under the
            constant KMS encryption context) found in the store, and left unopened.
        errors: store operations that failed (timeouts, connection errors).
        faults: unexpected errors inside the tier (a bug, a client raising what it
            should not): each made the process local-only for a while, failing nothing.
        over_budget: misses that used up ``miss_budget`` on the store and KMS (a slow
            store counts as down).
        outages: times the store became unusable (each logged once, as a warning).
        replayed: invalidations sent late, once the store was back.
        resyncs: reconnections of the notice listener (each followed by a catch-up
            from the notice log).
        forks: forks this process was made by (the listener was restarted in it).
        notices_replayed: drop / provider-drop notices applied from the notice log
            because pub/sub had not delivered them (this process was cut off).
        log_gaps: catch-ups that found the notice log had lost this process's place
            (the store restarted empty or lost data, the log was trimmed or deleted).
        revalidations: local entries marked for revalidation after a log gap: still
            served (stale, if the source fails), fetched again on their next use.
        revalidated: local entries the store confirmed after a log gap (kept as they were).
        log_resets: times this process reset a notice log holding ids from the future.
    """

    shared_hits: int = 0
    shared_misses: int = 0
    source_fetches: int = 0
    lock_waits: int = 0
    wait_timeouts: int = 0
    foreign_locks: int = 0
    fallbacks: int = 0
    invalidations_sent: int = 0
    invalidations_received: int = 0
    local_drops: int = 0
    provider_drops_sent: int = 0
    provider_drops_received: int = 0
    refused_reads: int = 0
    forged_notices: int = 0
    replayed_notices: int = 0
    undecryptable: int = 0
    legacy_keys: int = 0
    errors: int = 0
    faults: int = 0
    over_budget: int = 0
    outages: int = 0
    replayed: int = 0
    resyncs: int = 0
    forks: int = 0
    notices_replayed: int = 0
    log_gaps: int = 0
    revalidations: int = 0
    revalidated: int = 0
    log_resets: int = 0


class Counters:
    """Thread-safe counters behind :class:`FleetStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(FleetStats)), 0)

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> FleetStats:
        """The counters now."""
        with self._lock:
            return FleetStats(**self._counts)
