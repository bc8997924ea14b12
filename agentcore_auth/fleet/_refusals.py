"""Bounded memories of the control plane: refused values, sent refusals, notice nonces.

Each has its own small lock (never the tier's shared lock a miss needs) and a
fixed bound (least recently added go first), so no flood of notices, genuine or
not, makes a miss wait or memory grow. Sealed notices are made and checked here.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from ._crypto import FleetKeys, UndecryptableError

__all__ = [
    "NOTICE_SKEW", "NOTICE_WINDOW", "Lru", "NoticeError", "open_notice", "open_sealed",
    "seal_notice",
]

#: A notice sent longer ago than this (seconds) is refused: replays of old notices.
NOTICE_WINDOW = 60.0
#: A notice sent further in the future than this (clock skew between hosts) is refused.
NOTICE_SKEW = 5.0
_MAGIC = b"n1"


class NoticeError(Exception):
    """A notice that is refused; ``reason`` is ``forged``, ``stale`` or ``replayed``."""

    def __init__(self, reason: str, nonce: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.nonce = nonce  # of a genuine notice refused as ``replayed``


class Lru:
    """A bounded map (least recently added evicted first) with its own lock."""

    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._items: OrderedDict[Hashable, float] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> float | None:
        """The value stored for ``key``, or None."""
        with self._lock:
            return self._items.get(key)

    def pop(self, key: Hashable) -> float | None:
        """Remove ``key``; its value, or None if it was not there."""
        with self._lock:
            return self._items.pop(key, None)

    def add(self, key: Hashable, value: float) -> bool:
        """Store ``key`` (the later ``value`` wins); False if it was there already."""
        with self._lock:
            old = self._items.get(key)
            if old is not None:
                self._items[key] = max(old, value)
                return False
            self._items[key] = value
            while len(self._items) > self._bound:
                self._items.popitem(last=False)
            return True


def seal_notice(keys: FleetKeys, channel: str, kind: str, name: str, **extra: Any) -> bytes:
    """A notice for the fleet: AES-GCM with the fleet key, a nonce and its send time."""
    body = {"k": kind, "n": name, "t": time.time(), "i": os.urandom(12).hex(), **extra}
    return _MAGIC + keys.seal_data(b"notice\x00" + channel.encode(), body)


def open_sealed(keys: FleetKeys, channel: str, data: bytes) -> dict[str, Any]:
    """The body of a genuine notice (sealed with the fleet key, well formed, its send time
    finite and not in the future), whenever it was sent; :class:`NoticeError` otherwise."""
    if not data.startswith(_MAGIC):
        raise NoticeError("forged")
    try:
        body = keys.open_data(b"notice\x00" + channel.encode(), data[len(_MAGIC):])
    except (UndecryptableError, ValueError):
        raise NoticeError("forged") from None
    sent = body.get("t")
    if not isinstance(body.get("k"), str) or not isinstance(body.get("n"), str) or \
            not isinstance(body.get("i"), str):
        raise NoticeError("forged")
    if not isinstance(sent, int | float) or not math.isfinite(sent) or \
            sent > time.time() + NOTICE_SKEW:
        raise NoticeError("stale")
    return body


def open_notice(keys: FleetKeys, channel: str, data: bytes, nonces: Lru) -> dict[str, Any]:
    """The body of a genuine, fresh, first-seen notice; :class:`NoticeError` otherwise."""
    body = open_sealed(keys, channel, data)
    sent = body["t"]
    now = time.time()
    if sent > now + NOTICE_SKEW or sent < now - NOTICE_WINDOW:
        raise NoticeError("stale")
    if not nonces.add(body["i"], sent):
        raise NoticeError("replayed", body["i"])
    return body
