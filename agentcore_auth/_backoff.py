"""Back-off after a refused credential that the source keeps returning (no 401 amplification).

Refetch-once-on-401 costs one upstream call per refusal. When the downstream API
refuses a value and the source, asked again, returns that same value, asking
again on every later refusal only spends the AgentCore Identity quota at the
tool-call rate. So the credential (per cache key: provider, scopes and user)
backs off: later refusals of that value within the window fail at once, without
an upstream call. The window starts at ``initial`` seconds and doubles each time
the source returns the refused value again, up to ``maximum`` (the resolver's
TTL); a quiet spell as long as the window starts it over, and a different value
ends it.

Only the refusal paths (decorators, httpx auth) consult it: a cache hit never does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from ._secret import Secret

__all__ = ["RejectionBackoff"]


class _Entry:
    __slots__ = ("value", "until", "window")

    def __init__(self, value: Secret, until: float, window: float) -> None:
        self.value = value
        self.until = until
        self.window = window


class RejectionBackoff:
    """Per-credential back-off windows after the source returned a refused value again.

    Args:
        maximum: the longest window, in seconds (the resolver's TTL).
        initial: the first window, in seconds (capped at ``maximum``).
        timer: monotonic clock (the resolver's, so tests can drive it).
        max_entries: bound on credentials tracked; the oldest go first.
    """

    def __init__(self, *, maximum: float, initial: float = 1.0,
                 timer: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self.maximum = maximum
        self.initial = min(initial, maximum)
        self._timer = timer
        self._max_entries = max_entries
        self._entries: dict[Hashable, _Entry] = {}
        # Values refused and about to be refetched, per key (until a window starts).
        self._refused: dict[Hashable, Secret] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RejectionBackoff(entries={len(self._entries)}, maximum={self.maximum})"

    def remaining(self, secret: Secret) -> float | None:
        """Seconds left in the window of ``secret``'s credential, if it backs off with this value.

        None when there is no window, it has passed, or the credential now holds
        another value (which ends the back-off).
        """
        key = secret._origin
        if key is None or not self._entries:
            return None
        now = self._timer()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.value != secret:
                del self._entries[key]
                return None
            return entry.until - now if now < entry.until else None

    def note_refusal(self, secret: Secret) -> None:
        """``secret`` was refused and is about to be invalidated and refetched."""
        key = secret._origin
        if key is None:
            return
        with self._lock:
            self._refused.pop(key, None)
            self._refused[key] = secret
            while len(self._refused) > self._max_entries:
                del self._refused[next(iter(self._refused))]

    def came_back(self, secret: Secret) -> bool:
        """Whether ``secret`` is another fetch of a value refused since its last window:
        a concurrent caller's refetch returned the refused value again."""
        key = secret._origin
        if key is None or not self._refused:
            return False
        with self._lock:
            prior = self._refused.get(key)
        return prior is not None and prior is not secret and prior == secret

    def record(self, secret: Secret) -> float:
        """The source returned ``secret`` again right after it was refused: start or grow the
        window; returns its length in seconds (0 when the credential is not cached)."""
        key = secret._origin
        if key is None or self.maximum <= 0:
            return 0.0
        now = self._timer()
        with self._lock:
            self._refused.pop(key, None)
            entry = self._entries.pop(key, None)
            if entry is not None and entry.value == secret and now < entry.until:
                # Already backing off (a concurrent refusal recorded it): keep the window.
                self._entries[key] = entry
                return entry.until - now
            if entry is None or entry.value != secret or now >= entry.until + entry.window:
                window = self.initial
            else:
                window = min(max(entry.window * 2, self.initial), self.maximum)
            self._entries[key] = _Entry(secret, now + window, window)
            while len(self._entries) > self._max_entries:
                del self._entries[next(iter(self._entries))]
            return window

    def clear(self, secret: Secret) -> None:
        """A different value arrived for ``secret``'s credential: end its back-off."""
        if (self._entries or self._refused) and secret._origin is not None:
            with self._lock:
                self._entries.pop(secret._origin, None)
                self._refused.pop(secret._origin, None)
