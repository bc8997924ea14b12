"""secure_tool() and register_hooks(): agentcore_auth in a CrewAI crew.

CrewAI has no per-call context object and cannot pause a tool, so:

- :func:`register_hooks` registers a before-tool-call hook that enters
  :func:`agentcore_auth.identity_context` for the caller named in the crew's inputs
  (``crew.kickoff(inputs={"user_id": ...})``; configurable keys) and an after-tool-call
  hook that leaves it and scrubs the result text;
- :func:`secure_tool` makes a tool's own result scrubbed where it leaves the function
  (so ``ToolUsageFinishedEvent`` carries no value), turns a needed consent into a tool
  result telling the model to show the user a link, reuses that pending consent for the
  same user and provider instead of starting new ones, and switches CrewAI's tool result
  cache off for the tool (it is keyed by the input only, so shared across users).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from contextvars import ContextVar
from typing import Any, Literal

from crewai.hooks import (
    register_after_tool_call_hook,
    register_before_tool_call_hook,
    unregister_after_tool_call_hook,
    unregister_before_tool_call_hook,
)
from crewai.hooks.tool_hooks import ToolCallHookContext
from crewai.tools.base_tool import BaseTool

from agentcore_auth import (
    AuthorizationRequiredError,
    ConfigurationError,
    Redactor,
    Secret,
    current_identity,
    default_redactor,
)
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    credential_requirements,
    find_exception,
    identity_from,
    identity_scope,
    scrub_result,
    user_token_fingerprint,
)

__all__ = ["acomplete_consent", "complete_consent", "consent_message", "default_sessions",
           "pending_consents", "register_hooks", "secure_tool"]

logger = logging.getLogger("agentcore_auth.crewai")
_lock = threading.Lock()
_default_sessions: ConsentSessions | None = None
_pending: dict[tuple[str, str | None], ConsentRequest] = {}  # (who, provider) -> request
_open: ContextVar[tuple[ExitStack, ...]] = ContextVar("agentcore_auth_crewai_open", default=())


def default_sessions() -> ConsentSessions:
    """The consent sessions :func:`secure_tool` records in when not given its own."""
    global _default_sessions  # noqa: PLW0603 - one lazily made process default
    with _lock:
        if _default_sessions is None:
            _default_sessions = ConsentSessions()
        return _default_sessions


def complete_consent(session_uri: str, *, user_id: str | None = None,
                     user_token: str | Secret | None = None,
                     sessions: ConsentSessions | None = None) -> None:
    """Complete a session as the user who started it; the pending consent is then dropped.

    Raises:
        AccessDeniedError: unknown session, or one started for another user.
        CredentialError: the service refused to complete the session.
    """
    (sessions or default_sessions()).complete(session_uri, user_id=user_id,
                                              user_token=user_token)
    _forget(session_uri)


async def acomplete_consent(session_uri: str, *, user_id: str | None = None,
                            user_token: str | Secret | None = None,
                            sessions: ConsentSessions | None = None) -> None:
    """Async twin of :func:`complete_consent`."""
    await (sessions or default_sessions()).acomplete(session_uri, user_id=user_id,
                                                     user_token=user_token)
    _forget(session_uri)


def pending_consents(*, user_id: str | None = None,
                     user_token: str | Secret | None = None) -> list[ConsentRequest]:
    """The consents a user was asked for and has not completed (to show them to that user)."""
    who = ("token:" + user_token_fingerprint(user_token) if user_token is not None
           else "user:" + (user_id or ""))
    with _lock:
        return [r for (w, _), r in _pending.items() if w == who]


def _forget(session_uri: str) -> None:
    with _lock:
        for key in [k for k, r in _pending.items() if r.session_uri == session_uri]:
            del _pending[key]


def register_hooks(*, user_id_key: str = "user_id",
                   user_token_key: str = "user_token",  # noqa: S107 - a key name
                   workload_access_token_key: str = "workload_access_token",  # noqa: S107
                   prefer: Literal["user_id", "user_token"] | None = None,
                   redactor: Redactor | None = None) -> Callable[[], None]:
    """Register CrewAI's global tool-call hooks; returns a function unregistering them.

    The caller is read from the crew's inputs (``crew.kickoff(inputs=...)``) under the
    given keys. A user id next to a user token is refused unless ``prefer=`` decides.
    """
    keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key)
    identity_from(prefer=prefer)  # validates prefer=

    def before(ctx: ToolCallHookContext) -> bool | None:
        # CrewAI keeps kickoff(inputs=...) on the crew; it has no public accessor.
        inputs = getattr(ctx.crew, "_inputs", None) if ctx.crew is not None else None
        stack = ExitStack()
        _open.set((*_open.get(), stack))  # the after hook runs for blocked calls too
        try:
            stack.enter_context(identity_scope(identity_from(inputs, keys=keys,
                                                             prefer=prefer)))
        except ConfigurationError as exc:  # e.g. user_id next to user_token: refused
            logger.error("agentcore_auth: tool %r not run: %s", ctx.tool_name, exc)
            return False  # blocks the call; the model is told it was blocked
        return None

    def after(ctx: ToolCallHookContext) -> str | None:
        stacks = _open.get()
        if stacks:
            _open.set(stacks[:-1])
            stacks[-1].close()
        return scrub_result(ctx.tool_result, redactor) if ctx.tool_result is not None else None

    register_before_tool_call_hook(before)
    register_after_tool_call_hook(after)

    def unregister() -> None:
        unregister_before_tool_call_hook(before)
        unregister_after_tool_call_hook(after)

    return unregister


def secure_tool(tool: BaseTool, *, sessions: ConsentSessions | None = None,
                redactor: Redactor | None = None) -> BaseTool:
    """A copy of a CrewAI tool (``@tool`` over a decorated function), secured.

    Its result is scrubbed where it leaves the function; a needed consent becomes a
    tool result with the link for the user (reused while pending for that user and
    provider); CrewAI's result cache is off for it. Use with :func:`register_hooks`.
    """
    func = getattr(tool, "func", None)
    if not callable(func):
        raise ConfigurationError(f"secure_tool() takes a CrewAI @tool over a function, not "
                                 f"{type(tool).__name__}")
    user_bound = [r.request.provider_name for r in credential_requirements(func)
                  if r.user_bound]
    store = sessions
    secured = copy.copy(tool)

    def run(*args: Any, **kwargs: Any) -> Any:
        who = _who()
        for provider in user_bound:
            with _lock:
                waiting = _pending.get((who, provider))
            if waiting is not None:
                return consent_message(waiting)
        try:
            return scrub_result(func(*args, **kwargs), redactor)
        except Exception as exc:
            pending = find_exception(exc, AuthorizationRequiredError)
            if pending is None:
                raise
            identity = current_identity()
        (store or default_sessions()).remember(pending, identity)
        request = ConsentRequest.from_error(pending)
        with _lock:
            _pending[(who, pending.provider_name)] = request
        # The model must pass the link on, so it must survive the scrubbing of results.
        (redactor or default_redactor()).unregister(pending.authorization_url)
        return consent_message(request)

    secured.func = run  # type: ignore[attr-defined]
    secured.cache_function = _never_cache
    return secured


def consent_message(request: ConsentRequest) -> str:
    """The tool result the model gets when the user must consent."""
    return (f"Authorization required: the user must open this link to grant access to "
            f"{request.provider_name!r}, then ask again: {request.authorization_url}")


def _never_cache(_args: Any = None, _result: Any = None) -> bool:
    return False


def _who() -> str:
    identity = current_identity()
    if identity is None:
        return ""
    if identity.user_token is not None:
        return "token:" + user_token_fingerprint(identity.user_token)
    return "user:" + (identity.user_id or "")
