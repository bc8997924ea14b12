"""Notices between the fleet's processes: drops after a 401, fills, and the listener.

One pub/sub channel (``<prefix>events``) carries sealed notices (AES-GCM with the
fleet key, a nonce and the send time; see :mod:`._refusals`): ``fill|free|fail``
of a name (a holder's fetch is over: waiters look again, or fetch themselves
after ``fail``), ``drop`` of a name and a value digest (a value was refused:
every process compare-and-invalidates its copy and ignores that value in the
store from then) and ``epoch`` of a provider (dropped for every user).
Forged, stale (``inf``, future, older than the window) and replayed notices are
counted and ignored. ``drop`` and ``epoch`` also go on the notice log (see
:mod:`._log`), which a process replays after it was cut off.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from .._secret import Secret
from ._base import DownError, provider_tag
from ._log import NoticeLog
from ._refusals import Lru, NoticeError, open_notice, seal_notice

__all__ = ["CAD_PUBLISH_SCRIPT", "Notices"]

#: Compare-and-delete a refused value, then tell the fleet, in one round trip.
CAD_PUBLISH_SCRIPT = """
local v = redis.call('GET', KEYS[1])
local dropped = 0
if v and string.sub(v, 1, 16) == ARGV[1] then dropped = redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return dropped
"""
#: How often the listener compares the provider epochs it knows with the store's
#: (a pub/sub notice can be lost; the epoch in the store cannot).
_EPOCH_POLL = 2.0



class Notices(NoticeLog):
    """Sending and receiving notices (a part of RedisSharedCache)."""

    _cad_publish: Any
    _refusals: Lru  # (name, value tag) -> when refused (epoch s)
    _sent_fills: Lru  # (name, fill id) of refusals sent from here
    _nonces: Lru  # nonces of notices already acted on
    _fetch_failed: Lru  # name -> when a holder's fetch failed (monotonic)

    # --- invalidation ----------------------------------------------------------------------

    def _refused_here(self, name: str, secret: Secret, fill: bytes) -> None:
        """A value this process handed out was refused: drop it fleet-wide.

        Sent once per fill (100 callers meeting one 401 send one notice), but every
        fill is honoured: a value refused, fetched again and refused again (a
        spurious 401, then a real rotation) is dropped again everywhere.
        """
        keys = self._keys.peek()
        if keys is None:
            return
        if not self._sent_fills.add((name, fill), time.time()):
            return  # this fill's refusal is already on its way
        tag = keys.tag(secret.reveal())
        now = time.time()
        self._refusals.add((name, tag), now)
        try:
            self._jobs.submit(self._send_drop, name, tag, now)
        except RuntimeError:  # closed
            pass

    def _refused_at(self, name: str, tag: str) -> float | None:
        """When the value ``tag`` of ``name`` was last refused (here or elsewhere), or None."""
        return self._refusals.get((name, tag))

    def _send_drop(self, name: str, tag: str, when: float) -> None:
        """Compare-and-delete a refused value and tell the fleet; kept for later when down.

        The store's record is opened here to see whether it holds the refused value
        (the clear prefix is a random record id, not a digest of the value).
        """
        try:
            if self._is_down():
                raise DownError
            keys = self._keys.peek()
            if keys is None:
                raise DownError
            record_id = b""
            blob = self._op(lambda: self._redis.get(self._value_key(name)))
            if blob is not None:
                record = self._open_record(keys, name, blob)
                if record is not None and keys.tag(record.value) == tag and \
                        record.filled_at <= when:
                    record_id = blob[:16]
            notice = seal_notice(keys, self._channel, "drop", name, d=tag, w=when)
            self._append(notice)  # on the log first: whatever is published is replayable
            self._op(
                lambda: self._cad_publish(
                    keys=[self._value_key(name)], args=[record_id, self._channel, notice]
                )
            )
            self._counts.add("invalidations_sent")
        except DownError:
            with self._lock:
                self._pending[(name, tag)] = when

    def _open_record(self, keys: Any, name: str, blob: bytes) -> Any:
        """Implemented by the miss path (the record format lives there)."""
        raise NotImplementedError

    def _publish(self, kind: str, name: str, *, logged: bool = False, **extra: Any) -> None:
        """Send a sealed notice, ``logged`` on the notice log too (a store error raises
        DownError)."""
        keys = self._keys.peek()
        if keys is None:
            raise DownError
        notice = seal_notice(keys, self._channel, kind, name, **extra)
        if logged:
            self._append(notice)
        self._op(lambda: self._redis.publish(self._channel, notice))

    # --- provider drops (every user's value of one provider, in every process) --------------

    def _drop_provider(self, provider_name: str) -> None:
        """Move the provider's drop epoch in the store and tell the fleet (in the background).

        Every record carries the epoch its fetch began under and is refused once the
        epoch moved; every process drops its entries of that provider on the notice,
        or at the latest when its listener next compares the epochs it knows with
        the store's (every ``_EPOCH_POLL`` seconds, and after each reconnection).
        """
        try:
            self._jobs.submit(self._send_provider_drop, provider_name)
        except RuntimeError:  # closed
            pass

    def _send_provider_drop(self, provider_name: str) -> None:
        keys = self._usable_keys()
        if keys is None:
            with self._lock:
                self._pending_providers.add(provider_name)
            return
        provider = provider_tag(keys, provider_name)
        try:
            epoch = int(self._op(lambda: self._redis.incr(self._epoch_key(provider))))
            with self._lock:
                self._epochs[provider] = epoch
            self._publish("epoch", provider, logged=True, e=epoch)
            self._counts.add("provider_drops_sent")
        except DownError:
            with self._lock:
                self._pending_providers.add(provider_name)

    def _epoch_of(self, provider: str) -> int:
        """The provider's drop epoch in the store (a store error raises DownError)."""
        raw = self._op(lambda: self._redis.get(self._epoch_key(provider)))
        return int(raw) if raw is not None else 0

    def _on_epoch(self, provider: str) -> None:
        """A provider-drop notice: believe the store, not the notice, then drop locally."""
        try:
            epoch = self._epoch_of(provider)
        except DownError:
            return
        self._apply_epoch(provider, epoch)

    def _apply_epoch(self, provider: str, epoch: int) -> None:
        with self._lock:
            known = self._epochs.get(provider)
            self._epochs[provider] = epoch
            attached = list(self._attached)
        if known == epoch:
            return
        keys = self._keys.peek()
        if keys is None:
            return
        if known is not None and epoch < known:
            # An epoch only moves on: the store lost it (an empty restart), which is no
            # drop. What was missed meanwhile is on the log; the listener revalidates
            # (never on a miss's thread, which may be the one that read this epoch).
            self._revalidate_due = True
            return
        self._counts.add("provider_drops_received")
        dropped = sum(att.drop_provider(provider, keys) for att in attached)
        if dropped:
            self._counts.add("local_drops", dropped)

    def _learn_epoch(self, provider: str, epoch: int) -> None:
        """An epoch read with a record: remembered, and applied if it moved unseen."""
        with self._lock:
            known = self._epochs.get(provider)
            if known is None:
                self._epochs[provider] = epoch
                return
        if known != epoch:
            self._apply_epoch(provider, epoch)

    def _check_epochs(self) -> None:
        """Compare every provider epoch this process knows with the store's (one round trip)."""
        with self._lock:
            providers = list(self._epochs)
        if not providers:
            return

        def read() -> list[Any]:
            pipe = self._redis.pipeline(transaction=False)
            for provider in providers:
                pipe.get(self._epoch_key(provider))
            return list(pipe.execute())

        try:
            values = self._op(read)
        except DownError:
            return
        for provider, raw in zip(providers, values, strict=True):
            self._apply_epoch(provider, int(raw) if raw is not None else 0)

    def _on_drop(self, name: str, tag: str, when: float) -> None:
        self._counts.add("invalidations_received")
        self._refusals.add((name, tag), when)
        keys = self._keys.peek()
        if keys is None:
            return
        with self._lock:
            attached = list(self._attached)
        dropped = sum(att.drop(name, tag, keys, when) for att in attached)
        if dropped:
            self._counts.add("local_drops", dropped)

    # --- the listener ----------------------------------------------------------------------

    def _listen(self) -> None:
        """Receive fill/free/drop notices; reconnect after errors, every ``retry_interval``.

        Notices published while this process was not subscribed are not delivered, so
        after every (re)subscription, and every ``_EPOCH_POLL`` seconds, it catches up
        from the notice log (replaying what it missed, or revalidating what it holds
        when the log lost its place; see :mod:`._log`).
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
                    self._counts.add("resyncs")
                subscribed_before = True
                # Back up only once an outage's retry_interval has passed: a subscription
                # does not prove the store sound (a fault, a slow store) any sooner.
                self._probe()
                self._check_epochs()  # provider drops sent while we were not listening
                self._catch_up(subscribed=True)  # and drops (from the notice log)
                polled = time.monotonic()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.25)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["data"])
                    self._probe()
                    if time.monotonic() - polled >= _EPOCH_POLL:
                        self._check_epochs()
                        self._catch_up()
                        polled = time.monotonic()
            except self._errors as exc:
                if not self._stop.is_set():
                    self._failed(exc)
            except Exception as exc:  # a bug here must not kill the listener for good
                if not self._stop.is_set():
                    self._fault(exc)  # counted, local-only for a while; restarted below
            finally:
                self._first_try.set()
                self._subscribed.clear()
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except self._errors:
                        pass
            self._stop.wait(min(self._retry_interval, 1.0))

    def _probe(self) -> None:
        """Still marked down though subscribed (e.g. part of a cluster came back first):
        once ``retry_interval`` has passed, one PING; success sends what was kept."""
        if self._down_since is None or time.monotonic() < self._down_until:
            return
        try:
            self._op(self._redis.ping)
        except DownError:
            pass

    def _dispatch(self, data: bytes) -> None:
        """Act on one notice: only genuine (fleet key), fresh and first-seen ones."""
        keys = self._keys.peek()
        if keys is None:
            return
        try:
            body = open_notice(keys, self._channel, data, self._nonces)
        except NoticeError as refused:
            if refused.reason != "replayed":
                self._counts.add("forged_notices")
            elif refused.nonce is None or self._log_first.pop(refused.nonce) is None:
                self._counts.add("replayed_notices")  # (else: the log delivered it first)
            return
        self._act(body)

    def _act(self, body: dict[str, Any]) -> None:
        """What a genuine, first-seen notice (from the channel or the log) does."""
        kind, name = body["k"], body["n"]
        if kind in ("fill", "free", "fail"):
            if kind == "fail":
                self._fetch_failed.add(name, time.monotonic())
            with self._lock:
                waiters = list(self._waiters.get(name, ()))
            for event in waiters:
                event.set()
        elif kind == "epoch":
            self._on_epoch(name)
        elif kind == "drop":
            when, tag = body.get("w"), body.get("d")
            if not isinstance(when, int | float) or not math.isfinite(when) or \
                    when > float(body["t"]) or not isinstance(tag, str):
                self._counts.add("forged_notices")
                return
            self._on_drop(name, tag, float(when))

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

    def _replay(self, pending: dict[tuple[str, str], float], providers: set[str]) -> None:
        """Send the drops kept while the store was down."""
        try:
            for (name, tag), when in pending.items():
                self._counts.add("replayed")
                self._jobs.submit(self._send_drop, name, tag, when)
            for provider_name in providers:
                self._counts.add("replayed")
                self._jobs.submit(self._send_provider_drop, provider_name)
        except RuntimeError:  # closed
            pass
