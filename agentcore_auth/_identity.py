"""Who a credential is resolved for: the per-request identity context."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from ._exceptions import ConfigurationError
from ._secret import Secret

__all__ = ["Identity", "current_identity", "identity_context", "runtime_workload_token"]

Prefer = Literal["user_id", "user_token"]

_AMBIGUOUS = (
    "a user_id and a user_token were given together, so which user is meant is ambiguous "
    "(a request-supplied user_id next to a verified JWT would let a caller act as any user "
    "who consented): pass only one of them, or opt into a precedence with "
    "identity_context(..., prefer='user_token') (the JWT decides, user_id is ignored) or "
    "prefer='user_id'"
)

# A per-process key, so identity hashes in cache keys cannot be matched across processes.
_HASH_KEY = os.urandom(16)


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller on whose behalf credentials are resolved.

    ``user_id`` or ``user_token`` say which user (one of them: both together are
    refused with :class:`ConfigurationError`, see ``identity_context(prefer=...)``);
    ``workload_access_token`` is what AgentCore Identity accepts for the call.
    Token values are held as :class:`Secret` and never shown.
    """

    workload_access_token: Secret | None = None
    user_id: str | None = None
    user_token: Secret | None = None

    def __post_init__(self) -> None:
        if self.user_id is not None and self.user_token is not None:
            raise ConfigurationError(_AMBIGUOUS)

    def user_key(self) -> str | None:
        """A keyed hash over every field set (never a raw token), or None when none is.

        All fields count, so a token issued for one identity is never served to
        another; a new token for the same user costs one miss, never a leak.
        """
        fields = (
            self.user_id,
            self.user_token.reveal() if self.user_token is not None else None,
            self.workload_access_token.reveal() if self.workload_access_token is not None else None,
        )
        if fields == (None, None, None):
            return None
        # JSON keeps the fields apart: with a separator, user_id="a\x00jwt:b" would
        # collide with user_id="a", user_token="b".
        raw = json.dumps(fields)
        return hashlib.blake2b(raw.encode(), key=_HASH_KEY, digest_size=16).hexdigest()

    def __bool__(self) -> bool:
        return any((self.workload_access_token, self.user_id, self.user_token))


_current: ContextVar[Identity | None] = ContextVar("agentcore_auth_identity", default=None)


def current_identity() -> Identity | None:
    """The identity set by the innermost :func:`identity_context`, if any."""
    return _current.get()


def _as_secret(value: str | Secret | None, name: str) -> Secret | None:
    if value is None or isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"identity_context({name}=...) must be a non-empty string")
    return Secret(value, name=name)


def make_identity(
    *,
    workload_access_token: str | Secret | None = None,
    user_id: str | None = None,
    user_token: str | Secret | None = None,
    prefer: Prefer | None = None,
) -> Identity:
    """Build an Identity from loose arguments, checking their types.

    A ``user_id`` and a ``user_token`` together are refused unless ``prefer`` names
    the one that decides (the other is then dropped).
    """
    if user_id is not None and (not isinstance(user_id, str) or not user_id):
        raise ConfigurationError("user_id must be a non-empty string")
    if prefer is not None and prefer not in ("user_id", "user_token"):
        raise ConfigurationError(f"prefer must be 'user_id' or 'user_token', not {prefer!r}")
    if user_id is not None and user_token is not None:
        if prefer is None:
            raise ConfigurationError(_AMBIGUOUS)
        if prefer == "user_token":
            user_id = None
        else:
            user_token = None
    return Identity(
        workload_access_token=_as_secret(workload_access_token, "workload_access_token"),
        user_id=user_id,
        user_token=_as_secret(user_token, "user_token"),
    )


@contextmanager
def identity_context(
    handle: str | None = None,
    /,
    *,
    workload_access_token: str | Secret | None = None,
    user_id: str | None = None,
    user_token: str | Secret | None = None,
    prefer: Prefer | None = None,
) -> Iterator[Identity]:
    """Set the caller's identity for credential resolution within this block.

    It lives in a contextvar, so it follows ``await`` into asyncio tasks
    created inside the block, and the library copies it into its worker threads.
    Adapters call this around each tool call; apps may too.

    ``user_id`` and ``user_token`` together are refused with
    :class:`ConfigurationError`: an app that passes a request-supplied ``user_id``
    next to its verified JWT would let the caller act as any consented user. To
    accept both on purpose, ``prefer="user_token"`` makes the JWT decide (the
    ``user_id`` is ignored) and ``prefer="user_id"`` the reverse.

    ``handle``: an :class:`~agentcore_auth.IdentityHandle` (from
    :func:`~agentcore_auth.identity_handle`, or its text read back from framework
    state) sets the identity it stands for; no other argument may come with it.

    Example:
        >>> with identity_context(user_id="alice"):
        ...     token = resolver.get_oauth2_token("github", scopes=["repo"],
        ...                                       auth_flow="USER_FEDERATION")
        >>> with identity_context(identity_handle(user_token=jwt)):
        ...     ...
    """
    if handle is not None:
        if (workload_access_token, user_id, user_token, prefer) != (None, None, None, None):
            raise ConfigurationError("identity_context(handle) takes the handle alone: it "
                                     "already carries the whole identity")
        from ._handle import resolve_handle  # _handle builds on this module

        identity = resolve_handle(handle)
    else:
        identity = make_identity(
            workload_access_token=workload_access_token, user_id=user_id,
            user_token=user_token, prefer=prefer,
        )
    if not identity:
        raise ConfigurationError(
            "identity_context() needs one of workload_access_token=, user_id= or user_token="
        )
    reset = _current.set(identity)
    try:
        yield identity
    finally:
        _current.reset(reset)


def runtime_workload_token() -> str | None:
    """The workload access token the AgentCore Runtime set for this request, if any.

    Looked up only when the official SDK's runtime module is already imported (it
    is, on AgentCore Runtime), so it is never a hard dependency or an import cost.
    """
    context_module = sys.modules.get("bedrock_agentcore.runtime.context")
    if context_module is None:
        return None
    try:
        token = context_module.BedrockAgentCoreContext.get_workload_access_token()
    except Exception:  # noqa: BLE001 - a third-party lookup must never break resolution
        return None
    return token if isinstance(token, str) and token else None
