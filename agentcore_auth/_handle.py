"""IdentityHandle: a run's identity as an opaque reference, safe to put in framework state.

Frameworks persist, trace and broadcast whatever an app puts in their run objects
(checkpoints, run states, event buses, stream events). A user's JWT or a workload
access token put there is copied everywhere. A handle is what goes there instead: a
random reference (a ``str``, so every serializer accepts it) to an :class:`Identity`
kept in this process's memory for a bounded time. Its ``str``, ``repr``, JSON,
pickle and copies are the reference alone; anywhere else, or after its time, it
resolves to nothing.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ._exceptions import ConfigurationError
from ._identity import Identity, Prefer, make_identity
from ._secret import Secret

__all__ = ["DEFAULT_HANDLE_TTL", "IdentityHandle", "identity_handle", "resolve_handle"]

DEFAULT_HANDLE_TTL = 3600.0
"""Seconds a handle resolves after it was made: long enough for a run and its consent."""

_PREFIX = "agentcore-auth-identity:"
_MAX_HANDLES = 100_000

_NOT_HERE = (
    "this identity handle does not resolve: it expired, was revoked, or was made in another "
    "process (handles live only in the process that made them, for their ttl). Make a new "
    "one for each run with agentcore_auth.identity_handle(user_token=jwt) (or user_id=, "
    "workload_access_token=) and pass it again when resuming"
)


class IdentityHandle(str):
    """An opaque, process-local reference to an :class:`Identity`; made by :func:`identity_handle`.

    Put it where a framework carries per-run data (``context=``, ``invocation_state``,
    ``ctx.store``, ...) instead of the JWT or workload access token: the framework
    records only ``agentcore-auth-identity:<random>``. It is a ``str`` (so JSON,
    pickle, ``copy`` and every framework serializer keep it as that text) and
    :meth:`identity` turns it back into the identity, in this process, until it
    expires. A handle read back as a plain ``str`` (from a checkpoint, a saved run
    state) still resolves through :func:`resolve_handle`.
    """

    __slots__ = ()

    def identity(self) -> Identity:
        """The identity it stands for.

        Raises:
            ConfigurationError: it expired, was revoked, or comes from another process.
        """
        return _registry.get(self)

    def revoke(self) -> None:
        """Forget the identity now (e.g. when the run ends); later lookups fail."""
        _registry.delete(self)

    def __repr__(self) -> str:
        return f"IdentityHandle({str.__repr__(self)})"


def is_handle(value: object) -> bool:
    """True for an :class:`IdentityHandle` or its text (a ``str`` with the handle prefix)."""
    return isinstance(value, str) and value.startswith(_PREFIX)


def identity_handle(
    *,
    user_id: str | None = None,
    user_token: str | Secret | None = None,
    workload_access_token: str | Secret | None = None,
    prefer: Prefer | None = None,
    ttl: float = DEFAULT_HANDLE_TTL,
) -> IdentityHandle:
    """A handle for this identity, to give a framework run instead of the tokens.

    Takes what :func:`~agentcore_auth.identity_context` takes (one of ``user_id`` /
    ``user_token``, unless ``prefer`` says which decides; a ``workload_access_token``)
    and keeps it in this process for ``ttl`` seconds.

    Example:
        >>> handle = identity_handle(user_token=verified_jwt)
        >>> agent.invoke(inputs, config, context={"identity": handle})
    """
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigurationError("identity_handle(ttl=...) must be a number of seconds > 0")
    identity = make_identity(workload_access_token=workload_access_token, user_id=user_id,
                             user_token=user_token, prefer=prefer)
    if not identity:
        raise ConfigurationError(
            "identity_handle() needs one of user_id=, user_token= or workload_access_token=")
    handle = IdentityHandle(_PREFIX + secrets.token_urlsafe(18))
    _registry.put(handle, identity, float(ttl))
    return handle


def resolve_handle(value: str) -> Identity:
    """The identity a handle (or its text, read back from framework state) stands for.

    Raises:
        ConfigurationError: not a handle, or one that no longer resolves here.
    """
    if not is_handle(value):
        raise ConfigurationError("not an identity handle: make one with "
                                 "agentcore_auth.identity_handle(...)")
    return _registry.get(value)


class _Registry:
    """Handle text -> (identity, expiry), bounded, expiring; a lock around dict operations."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, handle: str, identity: Identity, ttl: float) -> None:
        now = self._clock()
        with self._lock:
            self._items[str.__str__(handle)] = (identity, now + ttl)
            while len(self._items) > _MAX_HANDLES:
                self._items.popitem(last=False)
            # Drop a few expired ones from the front (insertion order; ttls differ a little).
            for key in list(self._items)[:8]:
                if self._items[key][1] <= now:
                    del self._items[key]

    def get(self, handle: str) -> Identity:
        key = str.__str__(handle)
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[1] <= self._clock():
                del self._items[key]
                found = None
        if found is None:
            raise ConfigurationError(_NOT_HERE)
        return found[0]

    def delete(self, handle: str) -> None:
        with self._lock:
            self._items.pop(str.__str__(handle), None)


_registry = _Registry()
