"""One resolver's binding to the shared tier: which local entries hold which shared names."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Hashable
from typing import TYPE_CHECKING

from .._credential import Credential, CredentialRequest
from .._identity import Identity
from .._secret import Secret
from .._shared import SourceFetch
from ._binding import UNBOUND, BindingScope

if TYPE_CHECKING:
    from .._cache import CredentialCache
    from .._concurrency import Wait
    from ._crypto import FleetKeys
    from ._redis import RedisSharedCache

__all__ = ["Attachment"]


class Attachment:
    """Implements :class:`agentcore_auth._shared.SharedAttachment` for one resolver.

    It remembers, for each local entry filled through the shared tier, the shared
    name and the value handed out (bounded, least recently filled go first), so a
    drop notice from the fleet can compare-and-invalidate exactly those entries.
    """

    def __init__(
        self,
        owner: RedisSharedCache,
        cache: CredentialCache,
        *,
        ttl: float,
        expiry_skew: float,
        max_entries: int = 10_000,
    ) -> None:
        self.owner = owner
        self.ttl = ttl
        self.expiry_skew = expiry_skew
        #: What this resolver's names and records are bound to (set by ``attach``).
        self.scope: BindingScope = UNBOUND
        self._cache: CredentialCache | None = cache
        self._max = max_entries
        self._lock = threading.Lock()
        # local key -> (shared name, value handed out, fill id, when filled (epoch s))
        self._local: OrderedDict[Hashable, tuple[str, Secret, bytes, float]] = OrderedDict()
        self._by_name: dict[str, set[Hashable]] = {}

    def __repr__(self) -> str:
        return f"Attachment(entries={len(self._local)}, ttl={self.ttl})"

    # --- the SharedAttachment protocol -------------------------------------------------

    def fetch(
        self,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Credential:
        """See :meth:`RedisSharedCache._fetch`."""
        return self.owner._fetch(self, local_key, request, identity, source_fetch)

    def fetch_steps(
        self,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Generator[Wait, None, Credential]:
        """:meth:`fetch` as steps, for async callers (see :meth:`RedisSharedCache._fetch_steps`)."""
        return self.owner._fetch_steps(self, local_key, request, identity, source_fetch)

    def invalidated(self, secret: Secret) -> None:
        """Drop ``secret`` fleet-wide (in the background) if it came through the tier."""
        try:
            with self._lock:
                known = self._local.get(secret._origin)
            if known is not None and known[1] == secret:
                self.owner._refused_here(known[0], secret, known[2])
        except Exception as exc:  # noqa: BLE001 - the tier never fails a call
            self.owner._fault(exc)

    def invalidated_provider(self, provider_name: str, value: Secret | None) -> None:
        """Drop fleet-wide every value of ``provider_name`` (or only ``value``).

        Without ``value`` (``resolver.invalidate(provider_name)``, as the
        RotationWatcher calls it), the provider's drop epoch moves in the store and
        every process drops all its entries of that provider, for every user,
        however it got them (see :meth:`RedisSharedCache._drop_provider`).
        """
        try:
            if value is None:
                self.owner._drop_provider(provider_name)
                return
            with self._lock:
                doomed = [
                    (name, secret, fill)
                    for name, secret, fill, _ in self._local.values()
                    if secret.name == provider_name and secret == value
                ]
            for name, secret, fill in doomed:
                self.owner._refused_here(name, secret, fill)
        except Exception as exc:  # noqa: BLE001 - the tier never fails a call
            self.owner._fault(exc)

    def detach(self) -> None:
        """Forget the resolver's cache; the owner stops sending it drops."""
        with self._lock:
            self._cache = None
            self._local.clear()
            self._by_name.clear()
        self.owner._detach(self)

    # --- used by the owner ---------------------------------------------------------------

    def remember(self, local_key: Hashable, name: str, secret: Secret) -> None:
        """``local_key`` is being filled with ``secret``, known fleet-wide as ``name``.

        Each fill gets its own id: a refusal of this fill is sent once however many
        callers meet it, and a later fill of the same value is refused anew.
        """
        with self._lock:
            old = self._local.pop(local_key, None)
            if old is not None:
                self._forget_name(old[0], local_key)
            self._local[local_key] = (name, secret, os.urandom(8), time.time())
            self._by_name.setdefault(name, set()).add(local_key)
            while len(self._local) > self._max:
                key, (old_name, *_) = self._local.popitem(last=False)
                self._forget_name(old_name, key)

    def drop(self, name: str, tag: str, keys: FleetKeys, refused_at: float) -> int:
        """Compare-and-invalidate the local entries of ``name`` holding the value ``tag``
        that were filled before it was refused (a later fill of it is another's refusal)."""
        with self._lock:
            cache = self._cache
            held = [
                (k, self._local[k][1])
                for k in self._by_name.get(name, ())
                if self._local[k][3] <= refused_at
            ]
        if cache is None:
            return 0
        dropped = 0
        for local_key, secret in held:
            if keys.tag(secret.reveal()) == tag:
                dropped += int(cache.invalidate(local_key, if_value=secret))
        return dropped

    def drop_provider(self, provider: str, keys: FleetKeys) -> int:
        """Invalidate every entry of the provider whose fleet tag is ``provider`` (all users)."""
        from ._base import provider_tag

        with self._lock:
            cache = self._cache
        if cache is None:
            return 0
        tags: dict[str, bool] = {}

        def doomed(secret: Secret) -> bool:
            if secret.name is None:
                return False
            if secret.name not in tags:
                tags[secret.name] = provider_tag(keys, secret.name) == provider
            return tags[secret.name]

        return cache.invalidate_where(doomed)

    def held(self) -> list[tuple[Hashable, str, Secret]]:
        """``(local key, shared name, value)`` of every local entry filled through the tier."""
        with self._lock:
            return [(k, entry[0], entry[1]) for k, entry in self._local.items()]

    def mark_stale(self, local_key: Hashable, secret: Secret) -> bool:
        """Mark one entry, while it still holds ``secret``, for revalidation: still servable
        (stale, if the source fails), fetched again through the tier on its next use."""
        with self._lock:
            cache = self._cache
        return cache is not None and cache.mark_stale(local_key, if_value=secret)

    def _forget_name(self, name: str, local_key: Hashable) -> None:
        keys = self._by_name.get(name)
        if keys is not None:
            keys.discard(local_key)
            if not keys:
                del self._by_name[name]

