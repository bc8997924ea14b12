"""The notice log: drops on a Redis Stream that a process cut off replays, else revalidation.

Every ``drop`` and ``epoch`` notice is appended (``XADD <prefix>log MAXLEN ~ 10000``)
before it is published, sealed exactly as on the channel (one key: one slot on a
Redis Cluster). Pub/sub stays the fast path. The listener reads the log from the
last entry it has seen (its *cursor*) after every (re)subscription and every few
seconds, and applies the entries pub/sub did not deliver (``notices_replayed``).

A log entry is refused (``forged_notices``) unless it is sealed with the fleet key
and is a ``drop`` or ``epoch``; and (``replayed_notices``) when the time in the id
the store gave it is more than :data:`LOG_SKEW` from the time it was sealed (a
captured entry added again later), or when its nonce was met on the log before.

When the cursor's entry is gone (the store restarted empty or lost data, the log
was trimmed past it or deleted), the process cannot know what it missed
(``log_gaps``). It applies what the log still holds, then compares each local entry
it got through the tier with the store (pipelined reads): a value the store still
holds, fresh and unrefused, is kept (``revalidated``); every other one is *marked
for revalidation* (``revalidations``; :meth:`CredentialCache.mark_stale`): its next
use fetches it again through the tier (from the store when another process has put
it back, else one upstream call for the whole fleet, under the fleet lock), and
while the source is throttled or down the held value is served. A value known to
be refused (a drop that did arrive, a provider epoch that moved) is removed.
"""

from __future__ import annotations

import functools
import hmac
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._base import DownError, StoreBase, logger, provider_tag
from ._refusals import Lru, NoticeError, open_sealed

if TYPE_CHECKING:
    from ._crypto import FleetKeys, Record

__all__ = ["LOG_LENGTH", "LOG_SKEW", "LogRefusedError", "NoticeLog"]

#: About how many entries the log keeps (``MAXLEN ~``): a process cut off for longer
#: than it takes the fleet to send this many drops revalidates instead of replaying.
LOG_LENGTH = 10_000
#: Most seconds between sealing a notice and the store's time in its log entry's id.
LOG_SKEW = 10.0
_PAGE = 500  # entries per XRANGE
_PAGES = 20  # pages per catch-up (a flood is read on, at the next one)
_LOGGED = ("drop", "epoch")
T = TypeVar("T")


class LogRefusedError(Exception):
    """The store refuses the log's commands (an ACL without them, a key of another type)."""


class _Refused:
    """A refusal handed back through ``_op`` (which would count any error as an outage)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _refusal(exc: BaseException) -> bool:
    """Whether a store error is a refusal of the log's commands, not an outage."""
    import redis

    if isinstance(exc, redis.exceptions.NoPermissionError):
        return True
    if type(exc) is not redis.exceptions.ResponseError:
        return False  # a cluster going down, a read-only replica...: the store's own state
    text = str(exc)
    return text.startswith("WRONGTYPE") or "unknown command" in text


def _id_time(entry_id: bytes | str) -> float:
    """The store's time (epoch seconds) in a stream entry id ``<ms>-<seq>``."""
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0]) / 1000


class NoticeLog(StoreBase):
    """Appending to and catching up from the notice log (a part of RedisSharedCache)."""

    _log_key: str
    _log_cursor: tuple[bytes, bytes] | None  # (id, content) of the last entry seen
    _log_seen: Lru  # nonces met on the log
    _log_first: Lru  # nonces the log delivered before pub/sub did
    _nonces: Lru
    _log_warned = False  # the log refused warning is given once per process
    _revalidate_due = False  # news may have been missed: revalidate at the next catch-up

    def _log_op(self, call: Callable[[], T]) -> T:
        """A log operation through ``_op``; a store refusing the log's commands is no outage:
        warned once, then :class:`LogRefusedError` (pub/sub carries on without the log)."""

        def guarded() -> T | _Refused:
            try:
                return call()
            except self._errors as exc:
                if _refusal(exc):
                    return _Refused(exc)
                raise

        result = self._op(guarded)
        if isinstance(result, _Refused):
            if not self._log_warned:
                self._log_warned = True
                logger.warning(
                    "the shared cache at %s refuses the notice log %s (%s): notices go on "
                    "pub/sub only and a process revalidates what it holds after each "
                    "reconnection; allow XADD XRANGE XREVRANGE on it",
                    self._where, self._log_key, str(result.exc).split(" ", 1)[0],
                )
            raise LogRefusedError
        return result

    # --- sending -----------------------------------------------------------------------------

    def _append(self, notice: bytes) -> None:
        """Add a sealed notice to the log (a store error raises DownError; a store that
        refuses the log leaves it out, warned once).

        An id far in the future (someone added one by hand: every later id would be
        later still, and refused) makes the sender reset the log once.
        """

        def add() -> Any:
            return self._redis.xadd(
                self._log_key, {b"n": notice}, maxlen=LOG_LENGTH, approximate=True
            )

        try:
            entry_id = self._log_op(add)
            if _id_time(entry_id) > time.time() + LOG_SKEW:
                logger.warning("the shared cache's notice log held ids from the future; "
                               "reset it")
                self._counts.add("log_resets")
                self._log_op(lambda: self._redis.delete(self._log_key))
                self._log_op(add)
        except LogRefusedError:
            pass

    # --- catching up ---------------------------------------------------------------------------

    def _catch_up(self, subscribed: bool = False) -> None:
        """Apply what the log holds past the cursor; a gap (or no cursor yet) revalidates.

        Runs on the listener's thread only (the cursor is its own), ``subscribed`` just
        after a (re)subscription. A store error leaves the cursor as it was: the next
        catch-up tries again. A store refusing the log: revalidate at each subscription.
        """
        keys = self._keys.peek()
        if keys is None:
            return
        try:
            if self._log_cursor is None:
                self._start_log()
            else:
                self._read_on(keys)
        except DownError:
            return
        except LogRefusedError:
            self._log_cursor = None
            if subscribed and self._holds_entries():
                self._revalidate_due = True
        if self._revalidate_due:
            self._revalidate_due = False
            try:
                self._revalidate(keys)
            except DownError:  # the store cannot confirm anything now: the next catch-up
                self._revalidate_due = True

    def _start_log(self) -> None:
        """Take the log's last entry (or a new mark) as the cursor; entries this process
        already holds were got with no place in the log, so they are revalidated."""
        last = self._log_op(lambda: self._redis.xrevrange(self._log_key, "+", "-", count=1))
        if last:
            entry_id, fields = last[0]
            self._log_cursor = (entry_id, _content(fields))
        else:
            self._log_cursor = self._mark()
        if self._holds_entries():
            self._revalidate_due = True

    def _mark(self) -> tuple[bytes, bytes]:
        """Add a mark (a place in an empty log, not a notice) and return it as a cursor."""
        mark = os.urandom(8)
        entry_id = self._log_op(lambda: self._redis.xadd(
            self._log_key, {b"m": mark}, maxlen=LOG_LENGTH, approximate=True
        ))
        return (entry_id if isinstance(entry_id, bytes) else str(entry_id).encode(), mark)

    def _read_on(self, keys: FleetKeys) -> None:
        assert self._log_cursor is not None
        cursor_id, content = self._log_cursor
        page = self._log_op(lambda: self._redis.xrange(self._log_key, cursor_id, "+", count=_PAGE))
        gap = not page or page[0][0] != cursor_id or _content(page[0][1]) != content
        if gap:
            # Not where we left it: apply all the log still holds, revalidate the rest.
            self._counts.add("log_gaps")
            self._revalidate_due = True
            page = self._log_op(lambda: self._redis.xrange(self._log_key, "-", "+", count=_PAGE))
            if not page:
                self._log_cursor = self._mark()
        full = len(page) == _PAGE
        if not gap:
            page = page[1:]
        pages = 1
        while page:
            for entry_id, fields in page:
                self._log_cursor = (entry_id, _content(fields))
                self._apply_logged(keys, entry_id, fields)
            if not full or pages >= _PAGES:
                break
            after = b"(" + self._log_cursor[0]
            page = self._log_op(functools.partial(
                self._redis.xrange, self._log_key, after, "+", count=_PAGE
            ))
            full = len(page) == _PAGE
            pages += 1

    def _apply_logged(self, keys: FleetKeys, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        """Act on one log entry: a genuine drop/epoch notice not yet acted on."""
        data = fields.get(b"n")
        if data is None:
            if b"m" not in fields:
                self._counts.add("forged_notices")
            return
        try:
            body = open_sealed(keys, self._channel, data)
        except NoticeError:
            self._counts.add("forged_notices")
            return
        if body["k"] not in _LOGGED:
            self._counts.add("forged_notices")
            return
        sent = float(body["t"])
        nonce = body["i"]
        if abs(_id_time(entry_id) - sent) > LOG_SKEW or not self._log_seen.add(nonce, sent):
            self._counts.add("replayed_notices")  # sealed then, added to the log again later
            return
        if not self._nonces.add(nonce, sent):
            return  # pub/sub delivered it already
        self._log_first.add(nonce, sent)  # its pub/sub copy, if late, is not a replay
        self._counts.add("notices_replayed")
        self._act(body)

    def _act(self, body: dict[str, Any]) -> None:
        """Implemented by the notices (what a genuine notice does)."""
        raise NotImplementedError

    # --- revalidation ----------------------------------------------------------------------------

    def _holds_entries(self) -> bool:
        with self._lock:
            attached = list(self._attached)
        return any(att.held() for att in attached)

    def _revalidate(self, keys: FleetKeys) -> None:
        """News may have been missed: keep the entries the store confirms, mark the rest.

        A store that cannot be read raises DownError and marks nothing: marked entries
        would each be fetched upstream, local-only, by every process; the entries stay
        as they are until the store answers (the next catch-up tries again).
        """
        with self._lock:
            attached = list(self._attached)
        held = [(att, entry) for att in attached for entry in att.held()]
        if not held:
            return
        good = self._good_values(keys, sorted({entry[1] for _, entry in held}))
        kept = marked = 0
        for att, (local_key, name, secret) in held:
            value = good.get(name)
            if value is not None and hmac.compare_digest(value.encode(), secret.reveal().encode()):
                kept += 1
            else:
                marked += int(att.mark_stale(local_key, secret))
        if kept:
            self._counts.add("revalidated", kept)
        if marked:
            self._counts.add("revalidations", marked)

    def _good_values(self, keys: FleetKeys, names: list[str]) -> dict[str, str]:
        """The values the store holds for ``names`` that are fresh, unrefused and of the
        provider's current epoch (a store error raises DownError)."""
        records: dict[str, Record] = {}
        for start in range(0, len(names), _PAGE):
            chunk = names[start:start + _PAGE]

            def read(chunk: list[str] = chunk) -> list[Any]:
                pipe = self._redis.pipeline(transaction=False)
                for name in chunk:
                    pipe.get(self._value_key(name))
                return list(pipe.execute())

            for name, blob in zip(chunk, self._op(read), strict=True):
                record = self._open_record(keys, name, blob) if blob is not None else None
                if record is None or record.fresh_until <= time.time():
                    continue
                refused_at = self._refused_at(name, keys.tag(record.value))
                if refused_at is not None and record.filled_at <= refused_at:
                    continue
                records[name] = record
        providers = sorted({provider_tag(keys, r.name) for r in records.values() if r.name})

        def epochs() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for provider in providers:
                pipe.get(self._epoch_key(provider))
            return list(pipe.execute())

        current = {p: int(raw) if raw is not None else 0
                   for p, raw in zip(providers, self._op(epochs) if providers else [],
                                     strict=True)}
        return {
            name: record.value for name, record in records.items()
            if record.name is None or record.epoch == current.get(provider_tag(keys, record.name))
        }

    def _open_record(self, keys: Any, name: str, blob: bytes) -> Any:
        """Implemented by the miss path (the record format lives there)."""
        raise NotImplementedError

    def _refused_at(self, name: str, tag: str) -> float | None:
        """Implemented by the notices: when ``tag`` of ``name`` was last refused."""
        raise NotImplementedError


def _content(fields: dict[bytes, bytes]) -> bytes:
    """What identifies a log entry besides its id (its sealed notice, or a mark)."""
    return fields.get(b"n") or fields.get(b"m") or b""

