"""Consent sessions shared by the fleet: the integration kit's store protocol on the same store.

A USER_FEDERATION consent started on one instance is completed on whichever
instance the load balancer sends the user's OAuth2 return to; the kit's
``ConsentSessions`` still completes it only for the user who started it (that
check reads the record this store returns). Records are encrypted with the fleet
key (AES-GCM, bound to their name and the fleet) and named by keyed hashes of the
fleet and the session URI,
so the store holds neither user ids nor session URIs in clear, and they expire
with the session (``PX``). While the store is unusable, sessions are kept in
this process too, so an instance still completes what it started.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections import OrderedDict
from typing import Any

from .._exceptions import ConfigurationError
from ._base import DownError
from ._crypto import FleetKeys, UndecryptableError
from ._redis import RedisSharedCache

__all__ = ["RedisConsentSessionStore"]

_FIELDS = ("session_uri", "provider_name", "user_id", "user_token_fingerprint", "expires_at")


class RedisConsentSessionStore:
    """A ``ConsentSessionStore`` (see ``agentcore_auth.integration``) on a RedisSharedCache.

    Args:
        shared: the fleet's :class:`RedisSharedCache` (its store, key and failure handling).
        session_type: the record class to return (default: the kit's ``ConsentSession``).
        max_local: sessions also kept in this process, for when the store is down.

    Example:
        >>> shared = RedisSharedCache(url, kms_key_id="alias/agents-fleet")  # doctest: +SKIP
        >>> sessions = ConsentSessions(resolver, store=RedisConsentSessionStore(shared))
    """

    def __init__(
        self, shared: RedisSharedCache, *, session_type: Any = None, max_local: int = 10_000
    ) -> None:
        if not isinstance(shared, RedisSharedCache):
            raise ConfigurationError(
                "RedisConsentSessionStore needs the fleet's RedisSharedCache(url, data_key=... "
                f"or kms_key_id=...), not {type(shared).__name__}"
            )
        self._shared = shared
        self._session_type = session_type
        self._max_local = max_local
        self._local: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisConsentSessionStore({self._shared!r})"

    def put(self, session: Any) -> None:
        """Remember ``session`` under its ``session_uri`` until its ``expires_at``."""
        self._keep_local(session)
        keys = self._shared._usable_keys()
        if keys is None:
            return
        name = keys.name("consent", session.session_uri)
        ttl_ms = int((float(session.expires_at) - time.time()) * 1000)
        if ttl_ms <= 0:
            return
        blob = _seal(keys, name, {f: getattr(session, f) for f in _FIELDS})
        try:
            self._shared._op(lambda: self._shared._redis.set(self._key(name), blob, px=ttl_ms))
        except DownError:
            pass

    def get(self, session_uri: str) -> Any:
        """The live session under ``session_uri`` (from any instance), or None."""
        keys = self._shared._usable_keys()
        if keys is not None:
            name = keys.name("consent", session_uri)
            try:
                blob = self._shared._op(lambda: self._shared._redis.get(self._key(name)))
            except DownError:
                blob = None
            else:  # the store answered: it is the truth (another instance may have deleted it)
                fields = None
                if blob is not None:
                    try:
                        fields = _open(keys, name, blob)
                    except UndecryptableError:
                        fields = None
                if fields is None or fields["session_uri"] != session_uri:
                    self._forget_local(session_uri)
                    return None
                if fields["expires_at"] <= time.time():
                    return None
                return self._type()(**fields)
        return self._get_local(session_uri)  # the store is down: what this instance started

    def delete(self, session_uri: str) -> None:
        """Forget ``session_uri`` everywhere (no error when unknown)."""
        with self._lock:
            self._local.pop(session_uri, None)
        keys = self._shared._usable_keys()
        if keys is None:
            return
        name = keys.name("consent", session_uri)
        try:
            self._shared._op(lambda: self._shared._redis.delete(self._key(name)))
        except DownError:
            pass

    async def aput(self, session: Any) -> None:
        """Async twin of :meth:`put` (the store call runs in a thread)."""
        await asyncio.to_thread(self.put, session)

    async def aget(self, session_uri: str) -> Any:
        """Async twin of :meth:`get`."""
        return await asyncio.to_thread(self.get, session_uri)

    async def adelete(self, session_uri: str) -> None:
        """Async twin of :meth:`delete`."""
        await asyncio.to_thread(self.delete, session_uri)

    # --- internals ---------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self._shared._store_key("c", name)

    def _type(self) -> Any:
        if self._session_type is None:  # the integration kit's record, on first use
            module = importlib.import_module("agentcore_auth.integration")
            self._session_type = module.ConsentSession
        return self._session_type

    def _keep_local(self, session: Any) -> None:
        with self._lock:
            self._local.pop(session.session_uri, None)
            self._local[session.session_uri] = session
            while len(self._local) > self._max_local:
                self._local.popitem(last=False)

    def _forget_local(self, session_uri: str) -> None:
        with self._lock:
            self._local.pop(session_uri, None)

    def _get_local(self, session_uri: str) -> Any:
        with self._lock:
            session = self._local.get(session_uri)
            if session is not None and session.expires_at <= time.time():
                del self._local[session_uri]
                return None
            return session


def _seal(keys: FleetKeys, name: str, fields: dict[str, Any]) -> bytes:
    return keys.seal_data(b"consent\x00" + name.encode(), fields)


def _open(keys: FleetKeys, name: str, blob: bytes) -> dict[str, Any]:
    return keys.open_data(b"consent\x00" + name.encode(), blob)
