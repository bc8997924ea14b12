"""Notices between the fleet's processes: drops after a 401, fills, and the listener.

One pub/sub channel (``<prefix>events``) carries ``fill|free|fail <name>`` (a
holder's fetch is over: waiters look again, or fetch themselves after ``fail``)
and ``drop <name> <tag> <time>`` (a value was refused: every process
compare-and-invalidates its copy and ignores that value in the store from then).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .._secret import Secret
from ._base import DownError, StoreBase, logger, provider_tag

__all__ = ["CAD_PUBLISH_SCRIPT", "Notices"]

#: Compare-and-delete a refused value, then tell the fleet, in one round trip.
CAD_PUBLISH_SCRIPT = """
local v = redis.call('GET', KEYS[1])
local dropped = 0
if v and string.sub(v, 1, 16) == ARGV[1] then dropped = redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return dropped
"""
#: How long a refused value is remembered (longer than any value can live in the store).
_REFUSAL_MEMORY = 600.0
_MAX_REFUSALS = 10_000
#: How often the listener compares the provider epochs it knows with the store's
#: (a pub/sub notice can be lost; the epoch in the store cannot).
_EPOCH_POLL = 2.0



class Notices(StoreBase):
    """Sending and receiving notices (a part of RedisSharedCache)."""

    _cad_publish: Any

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
                raise DownError
            notice = f"drop {name} {tag} {when}"
            self._op(
                lambda: self._cad_publish(
                    keys=[self._value_key(name)], args=[bytes.fromhex(tag), self._channel, notice]
                )
            )
            self._counts.add("invalidations_sent")
        except DownError:
            with self._lock:
                self._pending[(name, tag)] = when

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
            self._op(lambda: self._redis.publish(self._channel, f"epoch {provider} {epoch}"))
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
        self._counts.add("provider_drops_received")
        keys = self._keys.peek()
        if keys is None:
            return
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
                self._check_epochs()  # provider drops sent while we were not listening
                polled = time.monotonic()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.25)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["data"])
                    if time.monotonic() - polled >= _EPOCH_POLL:
                        self._check_epochs()
                        polled = time.monotonic()
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
        elif len(parts) == 3 and parts[0] == "epoch":
            self._on_epoch(parts[1])
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
