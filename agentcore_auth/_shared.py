"""The seam between a resolver and an optional shared (fleet-wide) cache tier.

The in-process cache stays first: a hit never reaches this seam. On a local miss
the resolver's leader calls :meth:`SharedAttachment.fetch`, which may answer from
the shared tier, wait for another process's fetch, or call ``source_fetch``
itself. After a local compare-and-invalidate the resolver calls
:meth:`SharedAttachment.invalidated`. An implementation never raises because of
its own store: only ``source_fetch``'s errors come out of ``fetch``.

An attachment may also offer ``fetch_steps`` (the same miss as a generator that
yields a :class:`~agentcore_auth._concurrency.Wait` whenever it must wait for
another process, and returns the credential): the resolver's async path then
awaits those waits on the event loop instead of holding a worker thread.
:class:`agentcore_auth.fleet.RedisSharedCache` is the one this package ships.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ._credential import Credential, CredentialRequest
from ._identity import Identity
from ._secret import Secret

if TYPE_CHECKING:
    from ._cache import CredentialCache

__all__ = ["SharedAttachment", "SharedCache", "SourceFetch"]

SourceFetch = Callable[[CredentialRequest, Identity | None], Credential]


class SharedAttachment(Protocol):
    """One resolver's handle on a shared tier (made by :meth:`SharedCache.attach`)."""

    def fetch(
        self,
        local_key: Hashable,
        request: CredentialRequest,
        identity: Identity | None,
        source_fetch: SourceFetch,
    ) -> Credential:
        """The credential for a local miss: from the shared tier, or fetched once for all."""
        ...

    def invalidated(self, secret: Secret) -> None:
        """``secret`` was refused (a 401): drop it fleet-wide if the tier still holds it."""
        ...

    def invalidated_provider(self, provider_name: str, value: Secret | None) -> None:
        """Every value of ``provider_name`` (or only ``value``) was dropped locally."""
        ...

    def detach(self) -> None:
        """The resolver is closed: stop dropping entries of its cache."""
        ...


@runtime_checkable
class SharedCache(Protocol):
    """A shared cache tier a :class:`~agentcore_auth.CredentialResolver` can use."""

    def attach(
        self, cache: CredentialCache, *, ttl: float, expiry_skew: float
    ) -> SharedAttachment:
        """Bind one resolver's in-process cache (for remote invalidations) and its TTL."""
        ...
