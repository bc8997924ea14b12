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

The resolver passes its credential source to ``attach`` as ``source=`` when the
implementation's ``attach`` takes that keyword (or ``**kwargs``), so the tier can
bind its names to the source's kind, workload, Region and account; an ``attach``
without it keeps working unchanged.
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

__all__ = ["SharedAttachment", "SharedCache", "SourceFetch", "accepts_source"]

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
        """Bind one resolver's in-process cache (for remote invalidations) and its TTL.

        An implementation may also take ``source=`` (the resolver's credential source,
        keyword only, default None) to bind what it stores to that source.
        """
        ...


def accepts_source(shared: object) -> bool:
    """Whether ``shared.attach`` takes the optional ``source=`` keyword."""
    import inspect

    try:
        parameters = inspect.signature(shared.attach).parameters.values()  # type: ignore[attr-defined]
    except (TypeError, ValueError, AttributeError):
        return False
    return any(
        p.kind is p.VAR_KEYWORD or (p.name == "source" and p.kind is not p.POSITIONAL_ONLY)
        for p in parameters
    )
