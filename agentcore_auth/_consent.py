"""Waiting for a user's consent (USER_FEDERATION): when to poll, what to poll, when to stop.

I/O-free: the resolver's sync and async entry points drive it, differing only in
``time.sleep``/``resolve`` versus ``asyncio.sleep``/``aresolve``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ._credential import CredentialRequest
from ._exceptions import AuthorizationRequiredError

__all__ = ["ConsentWait"]


class ConsentWait:
    """One wait for consent, after the service answered with an authorization URL.

    Args:
        request: what was asked for; polls repeat it with the session URI.
        pending: the error carrying the authorization URL and session URI.
        timeout: how long to keep polling, in seconds.
        interval: the first delay between polls; it grows by half each time.
        clock: monotonic clock.
        max_interval: the longest delay between polls.
    """

    def __init__(
        self,
        request: CredentialRequest,
        pending: AuthorizationRequiredError,
        *,
        timeout: float,
        interval: float,
        clock: Callable[[], float],
        max_interval: float = 5.0,
    ) -> None:
        self.pending = pending
        self.timeout = timeout
        #: the request to poll with: the session URI, and no new forced authentication
        self.request = dataclasses.replace(
            request, session_uri=pending.session_uri, force_authentication=False
        )
        self._clock = clock
        self._deadline = clock() + timeout
        self._interval = interval
        self._max_interval = max_interval

    def next_delay(self) -> float | None:
        """Seconds to wait before the next poll, or None when time is up."""
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            return None
        delay = min(self._interval, remaining)
        self._interval = min(self._interval * 1.5, self._max_interval)
        return delay

    def timed_out(self) -> AuthorizationRequiredError:
        """The error to raise when the user did not consent in time."""
        pending = self.pending
        return AuthorizationRequiredError(
            f"the user did not complete consent for provider {pending.provider_name!r} within "
            f"{self.timeout:.0f}s; show the authorization URL again or raise consent_timeout",
            authorization_url=pending.authorization_url,
            session_uri=pending.session_uri,
            provider_name=pending.provider_name,
            source=pending.source,
        )
