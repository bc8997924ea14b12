"""Memory: bytes per cached credential, and ``max_entries`` bounding them.

A resolver over a tiny in-benchmark source (the ``CredentialSource`` protocol:
``fetch(request, identity)`` returning ``Credential(Secret(...))``) caches one
USER_FEDERATION token per distinct user, as an agent serving many users would.
Memory is measured two ways: bytes traced by ``tracemalloc`` (exact, Python
allocations only), and the resident set size delta from ``/proc/self/statm``
(what the OS sees; allocator reuse makes it noisy and it can be 0 when freed
pages are reused). Values are 64-character tokens; every fetched value is also
registered with the global redactor (bounded by its own ``max_values``), which
is part of the cost. The floor is a plain ``dict`` of the same keys and values.

Then a resolver with ``max_entries=M`` is filled with 2M users: it must hold M
entries and its traced memory must stay flat between M and 2M.
"""

from __future__ import annotations

import gc
import hashlib
import os
import tracemalloc
from collections.abc import Callable

from ._harness import Row, set_target

SCENARIO = "memory"
PROVIDER = "memory-bench"


class TokenVault:
    """A CredentialSource minting a distinct 64-character token per user, without I/O."""

    name = "token-vault"

    def __init__(self) -> None:
        self.fetches = 0
        self._salt = os.urandom(8).hex()  # values unique to this vault (the redactor dedupes)

    def fetch(self, request: object, identity: object) -> object:
        from agentcore_auth import Credential, Secret

        self.fetches += 1
        user = getattr(identity, "user_id", None) or "anonymous"
        token = hashlib.sha256(f"{self._salt}:{user}:{self.fetches}".encode()).hexdigest()
        return Credential(Secret(token))


def _rss() -> int:
    """Resident set size in bytes (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _filler(resolver: object) -> Callable[[int, int], None]:
    get = resolver.get_oauth2_token  # type: ignore[attr-defined]

    def fill(first: int, last: int) -> None:
        for i in range(first, last):
            get(PROVIDER, scopes=["read"], auth_flow="USER_FEDERATION", user_id=f"user-{i:07d}")

    return fill


def _redactor_bytes(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot) -> int:
    """Growth allocated by ``agentcore_auth/_redact.py`` and ``_encodings.py`` (the
    redactor's share: its registry and the patterns of each value)."""
    files = tuple(os.path.join("agentcore_auth", f) for f in ("_redact.py", "_encodings.py"))
    return sum(
        stat.size_diff
        for stat in after.compare_to(before, "filename")
        if stat.traceback[0].filename.endswith(files)
    )


def _traced(action: Callable[[], object]) -> tuple[int, int, object]:
    """(bytes still allocated after ``action``, the redactor's share, its result)."""
    gc.collect()
    tracemalloc.start()
    try:
        first = tracemalloc.take_snapshot()
        before = tracemalloc.get_traced_memory()[0]
        result = action()
        gc.collect()
        total = tracemalloc.get_traced_memory()[0] - before
        return total, _redactor_bytes(first, tracemalloc.take_snapshot()), result
    finally:
        tracemalloc.stop()


def run(bench: object = None, quick: bool = False) -> list[Row]:
    """Per-entry memory and the max_entries bound."""
    from agentcore_auth import CredentialResolver

    count = 500 if quick else 10_000
    per = 10_000
    rows: list[Row] = []

    resolver = CredentialResolver(TokenVault(), redact_logs=False, max_entries=count * 4)
    gc.collect()
    rss_before = _rss()
    _filler(resolver)(0, count)
    gc.collect()
    rss_delta = _rss() - rss_before
    resolver.close()
    del resolver

    resolver = CredentialResolver(TokenVault(), redact_logs=False, max_entries=count * 4)
    fill = _filler(resolver)
    traced, redactor, _ = _traced(lambda: fill(0, count))
    floor, _, _keep = _traced(
        lambda: {
            hashlib.blake2b(f"user-{i}".encode(), digest_size=16).hexdigest(): hashlib.sha256(
                str(i).encode()
            ).hexdigest()
            for i in range(count)
        }
    )
    scale = per / count
    rows.append(
        {
            "scenario": SCENARIO,
            "case": f"{per:,} cached USER_FEDERATION tokens (traced)",
            "value": round(traced * scale),
            "unit": "B",
            "bytes_per_entry": round(traced / count),
            "redactor_bytes_per_entry": round(redactor / count),
            "rss_delta_bytes_per_10k": round(rss_delta * scale),
            "entries_filled": count,
            "baseline": "plain dict of the same keys/values",
            "baseline_value": round(floor * scale),
            "note": f"{traced / count:,.0f} B/entry traced, of which redactor "
            f"{redactor / count:,.0f}; RSS delta {rss_delta * scale / 1e6:.2f} MB per "
            f"{per:,}; dict floor {floor / count:,.0f} B/entry"
            + (f" (measured on {count:,}, scaled)" if count != per else ""),
        }
    )
    resolver.close()
    _keep.clear()

    rows.append(_bound(count))
    return rows


def _bound(bound: int) -> Row:
    """Fill a max_entries=M resolver with 2M users; the global redactor capped at M/2.

    The redactor keeps every value a cache entry holds (at most M here) plus up
    to its own ``max_values`` (default 10,000) others, the values evicted from
    the cache; so for this test ``max_values`` is M/2 (restored after): from
    1.5M users on it holds M pinned and M/2 aged values, and memory must be flat.
    """
    from agentcore_auth import CredentialResolver, default_redactor

    redactor = default_redactor()
    cap = redactor.max_values
    redactor.max_values = bound // 2
    try:
        resolver = CredentialResolver(TokenVault(), redact_logs=False, max_entries=bound)
        fill = _filler(resolver)

        def fill_twice() -> list[int]:
            marks = []
            for first, last in ((0, bound), (bound, bound * 3 // 2), (bound * 3 // 2, 2 * bound)):
                fill(first, last)
                gc.collect()
                marks.append(tracemalloc.get_traced_memory()[0])
            return marks

        _, _, marks = _traced(fill_twice)
        entries = len(resolver._cache)  # no public size; the cache's own __len__
        resolver.close()
    finally:
        redactor.max_values = cap
    at_bound, at_half, at_double = marks  # type: ignore[misc]
    growth, steady = at_double - at_bound, at_double - at_half
    row: Row = {
        "scenario": SCENARIO,
        "case": f"max_entries={bound:,}, filled with {2 * bound:,} users",
        "value": entries,
        "unit": "entries",
        "max_entries": bound,
        "traced_bytes": {"M": at_bound, "1.5M": at_half, "2M": at_double},
        "note": f"traced {at_bound / 1e6:.2f} MB at M users, {growth / 1e3:+,.0f} kB at 2M "
        f"({steady / 1e3:+,.1f} kB from 1.5M to 2M; the rest is one-off container "
        f"growth); global redactor: the M cached values pinned, plus at most M/2 "
        f"others for the test (default {cap:,})",
    }
    # "Flat": from 1.5M to 2M users (past one-off dict/heap resizes) under 1% growth.
    return set_target(
        row,
        "entries == max_entries, memory flat",
        entries == bound and steady < 0.01 * max(at_bound, 1),
    )
