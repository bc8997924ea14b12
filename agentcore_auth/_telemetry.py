"""The resolver's telemetry hook: nothing runs unless an observer is installed.

:mod:`agentcore_auth.otel` installs one (``instrument()``); the core never imports
OpenTelemetry. While :data:`observer` is ``None`` the resolver takes its usual
paths; when set, each resolution runs inside ``observer.resolution(...)``, and
the :class:`Resolution` it yields is filled in with the cache outcome and, for
the caller that fetched, the upstream latency.
"""

from __future__ import annotations

from types import TracebackType
from typing import Literal, Protocol

from ._credential import CredentialRequest

__all__ = ["Observer", "Outcome", "Resolution", "observer"]

Outcome = Literal["hit", "miss", "coalesced", "stale"]


class Resolution(Protocol):
    """One resolution under observation; the resolver sets these as it learns them."""

    outcome: Outcome | None
    upstream_s: float | None  # the fetch's own duration, for the caller that fetched

    def __enter__(self) -> Resolution: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class Observer(Protocol):
    """What ``agentcore_auth.otel`` installs as :data:`observer`."""

    def resolution(self, request: CredentialRequest, source: str | None) -> Resolution:
        """A context manager around one resolution (entered before the cache lookup)."""
        ...

    def invalidated(self, provider_name: str | None, count: int) -> None:
        """``count`` cache entries were dropped by ``invalidate``."""
        ...


observer: Observer | None = None
"""The installed observer, or None (the default: no telemetry, no cost)."""
