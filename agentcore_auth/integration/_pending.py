"""Consent links handed out and not completed yet, per whole identity, re-checked with the service.

For frameworks that cannot pause a tool (the link becomes text for the model) or that
ask before the call (approvals): a second call by the same user for the same
credential gets the same link instead of a new session. The record is keyed by the
keyed identity hash the resolver's cache uses (every identity field counts: two
WAT-only callers never share one), and before a link is handed out again the service
is asked (``GetResourceOauth2Token`` with the session URI) whether the user completed
it, in this process or anywhere else.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .._credential import CredentialRequest
from .._exceptions import AccessDeniedError, AuthorizationRequiredError, ConfigurationError
from .._identity import Identity, current_identity, runtime_workload_token
from .._resolver import CredentialResolver, default_resolver
from .._secret import Secret
from ._kit import ConsentRequest, CredentialRequirement
from ._sessions import DEFAULT_SESSION_TTL

__all__ = ["PendingConsents", "identity_key"]


def identity_key(identity: Identity | None = None) -> str | None:
    """The keyed hash of the whole identity (the cache's), or None when there is nobody.

    ``identity`` defaults to the current one, then to the AgentCore Runtime's
    workload access token, as the resolver does.
    """
    identity = identity or current_identity()
    if identity is None:
        token = runtime_workload_token()
        identity = Identity(workload_access_token=Secret(token)) if token else None
    return identity.user_key() if identity is not None else None


@dataclass(frozen=True, slots=True)
class _Record:
    who: str
    request: CredentialRequest
    consent: ConsentRequest
    expires_at: float


class PendingConsents:
    """Pending consent links by (identity hash, credential request), re-checked before reuse.

    Args:
        ttl: seconds a link is remembered (AgentCore's sessions last minutes).
        max_entries: records kept; the oldest is dropped past it.
        clock: monotonic clock (tests pass their own).
    """

    def __init__(self, *, ttl: float = DEFAULT_SESSION_TTL, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ConfigurationError("max_entries= must be an int >= 1")
        self._ttl, self._max, self._clock = float(ttl), max_entries, clock
        self._records: OrderedDict[Hashable, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, requirement: CredentialRequirement, pending: AuthorizationRequiredError,
                 *, slot: Hashable = None) -> ConsentRequest:
        """Record the link ``pending`` carries for the current identity; return it.

        ``slot`` narrows the record further (a tool call id), for frameworks that ask
        per call. With no identity at all, nothing is kept (nothing to bind it to).
        """
        consent = ConsentRequest.from_error(pending)
        who = identity_key()
        if who is None or not pending.session_uri:
            return consent
        request = dataclasses.replace(requirement.request, session_uri=pending.session_uri,
                                      force_authentication=False)
        with self._lock:
            key = (who, requirement.request.cache_key, slot)
            self._records.pop(key, None)
            self._records[key] = _Record(who, request, consent, self._clock() + self._ttl)
            while len(self._records) > self._max:
                self._records.popitem(last=False)
        return consent

    def lookup(self, requirement: CredentialRequirement, *,
               slot: Hashable = None) -> ConsentRequest | None:
        """The link kept for the current identity, without asking the service."""
        record = self._get(identity_key(), requirement, slot)
        return record.consent if record is not None else None

    def recheck(self, requirement: CredentialRequirement, *,
                slot: Hashable = None) -> ConsentRequest | None:
        """The link still pending for the current identity, after asking the service.

        None when none is kept, or when the service says the user completed it (the
        token is then cached: the call that follows finds it), or when the session
        is gone (the call starts a new one).
        """
        who = identity_key()
        record = self._get(who, requirement, slot)
        if record is None:
            return None
        try:
            _resolver(requirement).resolve(record.request)
        except AuthorizationRequiredError as still:
            return self._still(who, requirement, slot, record, still)
        except Exception:  # noqa: BLE001, S110 - an unknown or failed session: start again
            pass
        self._drop(who, requirement, slot)
        return None

    async def arecheck(self, requirement: CredentialRequirement, *,
                       slot: Hashable = None) -> ConsentRequest | None:
        """Async twin of :meth:`recheck`."""
        who = identity_key()
        record = self._get(who, requirement, slot)
        if record is None:
            return None
        try:
            await _resolver(requirement).aresolve(record.request)
        except AuthorizationRequiredError as still:
            return self._still(who, requirement, slot, record, still)
        except Exception:  # noqa: BLE001, S110 - an unknown or failed session: start again
            pass
        self._drop(who, requirement, slot)
        return None

    def pending_for(self, identity: Identity | None = None) -> list[ConsentRequest]:
        """The links kept for ``identity`` (default: the current one), to show that user."""
        who = identity_key(identity)
        now = self._clock()
        with self._lock:
            return [r.consent for r in self._records.values()
                    if who is not None and r.who == who and r.expires_at > now]

    def check_owner(self, session_uri: str, identity: Identity | None = None) -> None:
        """Raise :class:`AccessDeniedError` when ``session_uri`` was handed to another identity."""
        who = identity_key(identity)
        with self._lock:
            owners = {r.who for r in self._records.values()
                      if r.consent.session_uri == session_uri}
        if owners and who not in owners:
            raise AccessDeniedError("this consent link was handed out to another identity")

    def forget(self, session_uri: str) -> None:
        """Drop every record of ``session_uri`` (after completing it)."""
        with self._lock:
            for key in [k for k, r in self._records.items()
                        if r.consent.session_uri == session_uri]:
                del self._records[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def _get(self, who: str | None, requirement: CredentialRequirement,
             slot: Hashable) -> _Record | None:
        if who is None:
            return None
        key = (who, requirement.request.cache_key, slot)
        with self._lock:
            record = self._records.get(key)
            if record is not None and record.expires_at <= self._clock():
                del self._records[key]
                return None
        return record

    def _still(self, who: str | None, requirement: CredentialRequirement, slot: Hashable,
               record: _Record, still: AuthorizationRequiredError) -> ConsentRequest:
        if still.session_uri and still.session_uri != record.consent.session_uri:
            # The service started a new session: hand out that one from now on.
            self._drop(who, requirement, slot)
            return self.remember(requirement, still, slot=slot)
        return record.consent

    def _drop(self, who: str | None, requirement: CredentialRequirement, slot: Hashable) -> None:
        with self._lock:
            self._records.pop((who, requirement.request.cache_key, slot), None)


def _resolver(requirement: CredentialRequirement) -> Any:
    resolver: CredentialResolver = requirement.resolver or default_resolver()
    return resolver
