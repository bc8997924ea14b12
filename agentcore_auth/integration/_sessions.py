"""Consent sessions bound to the user who started them, behind a small store interface.

When a USER_FEDERATION tool needs consent, an adapter records who it was for
(:meth:`ConsentSessions.remember`); when the app's OAuth2 return URL is hit, it
completes the session (``CompleteResourceTokenAuth``) only for that same user
(:meth:`ConsentSessions.complete`). The records live in a
:class:`ConsentSessionStore`: :class:`InMemoryConsentSessionStore` by default
(bounded, expiring); a shared store (Redis, ...) implements the same protocol.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._exceptions import (
    AccessDeniedError,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialError,
)
from .._identity import Identity, current_identity
from .._resolver import CredentialResolver, default_resolver
from .._secret import Secret

__all__ = [
    "ConsentSession",
    "ConsentSessionStore",
    "ConsentSessions",
    "InMemoryConsentSessionStore",
    "user_token_fingerprint",
]

DEFAULT_SESSION_TTL = 900.0
"""Seconds a consent session is remembered: AgentCore's sessions last minutes."""


def user_token_fingerprint(user_token: str | Secret) -> str:
    """A stable SHA-256 fingerprint of a user's JWT, to compare without keeping the token.

    Stable across processes (a shared store compares it anywhere); a JWT carries far
    too much entropy for the hash to be reversed by guessing.
    """
    token = user_token.reveal() if isinstance(user_token, Secret) else user_token
    return hashlib.sha256(b"agentcore-auth/consent/" + token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ConsentSession:
    """Who started a USER_FEDERATION consent session, and for which provider.

    Attributes:
        session_uri: the AgentCore session (the store's key).
        provider_name: the credential provider the user is asked to consent to.
        user_id: the user id it was started for, if it was started with one.
        user_token_fingerprint: :func:`user_token_fingerprint` of the user's JWT, if it
            was started with one (the token itself is never stored).
        expires_at: wall-clock time (``time.time()``) after which it is forgotten.
    """

    session_uri: str
    provider_name: str | None
    user_id: str | None
    user_token_fingerprint: str | None
    expires_at: float

    def started_by(self, *, user_id: str | None, user_token: str | Secret | None) -> bool:
        """True when exactly one of ``user_id``/``user_token`` is given and it started this."""
        if (user_id is None) == (user_token is None):
            return False
        if user_id is not None:
            return self.user_id is not None and hmac.compare_digest(user_id, self.user_id)
        assert user_token is not None  # noqa: S101 - narrowed by the check above
        return self.user_token_fingerprint is not None and hmac.compare_digest(
            user_token_fingerprint(user_token), self.user_token_fingerprint)


@runtime_checkable
class ConsentSessionStore(Protocol):
    """Where consent sessions are kept: sync and async, bounded, expiring.

    ``get`` never returns a session past its ``expires_at``. The async twins must
    not block the event loop.
    """

    def put(self, session: ConsentSession) -> None:
        """Remember ``session`` under its ``session_uri`` (replacing any older one)."""
        ...

    def get(self, session_uri: str) -> ConsentSession | None:
        """The live session under ``session_uri``, or None."""
        ...

    def delete(self, session_uri: str) -> None:
        """Forget ``session_uri`` (no error when unknown)."""
        ...

    async def aput(self, session: ConsentSession) -> None:
        """Async twin of :meth:`put`."""
        ...

    async def aget(self, session_uri: str) -> ConsentSession | None:
        """Async twin of :meth:`get`."""
        ...

    async def adelete(self, session_uri: str) -> None:
        """Async twin of :meth:`delete`."""
        ...


class InMemoryConsentSessionStore:
    """The in-process :class:`ConsentSessionStore`: at most ``max_sessions``, oldest dropped.

    Args:
        max_sessions: sessions kept; the oldest is forgotten past it.
        clock: wall clock, ``time.time`` by default (tests pass their own).
    """

    def __init__(self, max_sessions: int = 10_000, *,
                 clock: Callable[[], float] = time.time) -> None:
        if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or (
                max_sessions < 1):
            raise ConfigurationError("max_sessions= must be an int >= 1")
        self._max = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, ConsentSession] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._sessions)

    def put(self, session: ConsentSession) -> None:
        """Remember ``session``; drop expired ones and the oldest past the bound."""
        with self._lock:
            self._expire(self._clock())
            self._sessions.pop(session.session_uri, None)
            self._sessions[session.session_uri] = session
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)

    def get(self, session_uri: str) -> ConsentSession | None:
        """The live session under ``session_uri``, or None."""
        with self._lock:
            session = self._sessions.get(session_uri)
            if session is not None and session.expires_at <= self._clock():
                del self._sessions[session_uri]
                return None
            return session

    def delete(self, session_uri: str) -> None:
        """Forget ``session_uri``."""
        with self._lock:
            self._sessions.pop(session_uri, None)

    # A lock held for a dict operation: cheap enough to take on the event loop.
    async def aput(self, session: ConsentSession) -> None:
        """Async twin of :meth:`put`."""
        self.put(session)

    async def aget(self, session_uri: str) -> ConsentSession | None:
        """Async twin of :meth:`get`."""
        return self.get(session_uri)

    async def adelete(self, session_uri: str) -> None:
        """Async twin of :meth:`delete`."""
        self.delete(session_uri)

    def _expire(self, now: float) -> None:
        # Insertion order is expiry order for one TTL; stop at the first live one.
        while self._sessions:
            uri, oldest = next(iter(self._sessions.items()))
            if oldest.expires_at > now:
                return
            del self._sessions[uri]


class ConsentSessions:
    """The consent sessions an adapter started, completed only as the user who started them.

    Args:
        resolver: where :meth:`complete` finds its ``bedrock-agentcore`` client (its
            source's ``client``); default :func:`agentcore_auth.default_resolver`.
        client: a ``bedrock-agentcore`` boto3 client to use instead.
        store: where sessions are kept; default an :class:`InMemoryConsentSessionStore`.
        ttl: seconds a session is remembered.
        max_sessions: the default store's bound.
        clock: wall clock for expiry.
    """

    def __init__(self, resolver: CredentialResolver | None = None, *, client: Any = None,
                 store: ConsentSessionStore | None = None, ttl: float = DEFAULT_SESSION_TTL,
                 max_sessions: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ConfigurationError("ttl= must be a number of seconds > 0")
        if store is not None and not isinstance(store, ConsentSessionStore):
            raise ConfigurationError("store= must implement ConsentSessionStore (put, get, "
                                     "delete and their async twins)")
        self.store: ConsentSessionStore = store or InMemoryConsentSessionStore(
            max_sessions, clock=clock)
        self._resolver = resolver
        self._client = client
        self._ttl = float(ttl)
        self._clock = clock

    # --- remembering -------------------------------------------------------------------

    def session_for(self, pending: AuthorizationRequiredError,
                    identity: Identity | Mapping[str, Any] | None = None) -> ConsentSession | None:
        """The record :meth:`remember` stores, or None when there is no session URI.

        The user is read from ``identity`` (an :class:`Identity` or a mapping with
        ``user_id``/``user_token``), falling back to :func:`current_identity`.
        """
        if not pending.session_uri:
            return None
        user_id, token = _user_of(identity)
        if user_id is None and token is None:  # the ambient user, never a mix of the two
            ambient = current_identity()
            if ambient is not None:
                user_id, token = ambient.user_id, ambient.user_token
        return ConsentSession(
            pending.session_uri, pending.provider_name, user_id,
            user_token_fingerprint(token) if token else None, self._clock() + self._ttl)

    def remember(self, pending: AuthorizationRequiredError,
                 identity: Identity | Mapping[str, Any] | None = None) -> ConsentSession | None:
        """Record that ``pending``'s session was started for this user; return the record."""
        session = self.session_for(pending, identity)
        if session is not None:
            self.store.put(session)
        return session

    async def aremember(self, pending: AuthorizationRequiredError,
                        identity: Identity | Mapping[str, Any] | None = None,
                        ) -> ConsentSession | None:
        """Async twin of :meth:`remember`."""
        session = self.session_for(pending, identity)
        if session is not None:
            await self.store.aput(session)
        return session

    # --- completing --------------------------------------------------------------------

    def complete(self, session_uri: str, *, user_id: str | None = None,
                 user_token: str | Secret | None = None) -> None:
        """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

        Call it from the app's OAuth2 return URL handler (it receives ``session_id``)
        with the identity of the user signed in to the app: exactly one of
        ``user_id`` or ``user_token``, as the session was started. Anything else is
        refused before the service is called.

        Raises:
            AccessDeniedError: unknown or expired session, or one started for another user.
            CredentialError: the service refused to complete the session.
        """
        session = self._check(self.store.get(session_uri), user_id, user_token)
        self._call(session, _identifier(user_id, user_token))
        self.store.delete(session_uri)

    async def acomplete(self, session_uri: str, *, user_id: str | None = None,
                        user_token: str | Secret | None = None) -> None:
        """Async twin of :meth:`complete` (the boto3 call runs in a worker thread)."""
        session = self._check(await self.store.aget(session_uri), user_id, user_token)
        await asyncio.to_thread(self._call, session, _identifier(user_id, user_token))
        await self.store.adelete(session_uri)

    def _check(self, session: ConsentSession | None, user_id: str | None,
               user_token: str | Secret | None) -> ConsentSession:
        if session is None:
            raise AccessDeniedError("this consent session was not started here, was already "
                                    "completed, or expired; ask again")
        if session.user_id is None and session.user_token_fingerprint is None:
            raise AccessDeniedError(
                "the consent session was started without a user_id or user_token, so it is "
                "bound to no user; pass the user's identity when invoking the agent",
                provider_name=session.provider_name)
        if not session.started_by(user_id=user_id, user_token=user_token):
            raise AccessDeniedError(
                "the consent session was started for another user (pass exactly one of "
                "user_id= or user_token=, as it was started)", provider_name=session.provider_name)
        return session

    def _call(self, session: ConsentSession, identifier: dict[str, str]) -> None:
        try:
            self._data_client().complete_resource_token_auth(userIdentifier=identifier,
                                                             sessionUri=session.session_uri)
        except Exception as exc:  # botocore's errors share no base we can name
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise CredentialError(f"CompleteResourceTokenAuth failed ({code}); start the "
                                  "consent again", provider_name=session.provider_name) from exc

    def _data_client(self) -> Any:
        if self._client is not None:
            return self._client
        client = getattr((self._resolver or default_resolver()).source, "client", None)
        if client is None:
            raise ConfigurationError("completing consent needs a bedrock-agentcore client: pass "
                                     "client= or a resolver over AgentCoreIdentitySource")
        return client


def _user_of(identity: Identity | Mapping[str, Any] | None) -> tuple[str | None,
                                                                      str | Secret | None]:
    if identity is None:
        return None, None
    if isinstance(identity, Identity):
        return identity.user_id, identity.user_token
    user_id, token = identity.get("user_id"), identity.get("user_token")
    return (user_id if isinstance(user_id, str) and user_id else None,
            token if isinstance(token, str | Secret) and token else None)


def _identifier(user_id: str | None, user_token: str | Secret | None) -> dict[str, str]:
    if user_id is not None:
        return {"userId": user_id}
    token = user_token.reveal() if isinstance(user_token, Secret) else user_token
    return {"userToken": token or ""}
