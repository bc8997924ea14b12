"""secure_tool() and register_hooks(): agentcore_auth in a CrewAI crew.

CrewAI has no per-call context object and cannot pause a tool, so:

- :func:`register_hooks` registers an execution-start hook that refuses a raw JWT or
  workload access token in ``crew.kickoff(inputs=...)`` before CrewAI records the inputs
  (``CrewKickoffStartedEvent``, traces, checkpoints), a before-tool-call hook that
  enters :func:`agentcore_auth.identity_context` for the caller the inputs name (an
  :class:`~agentcore_auth.IdentityHandle` under ``identity``, or a ``user_id``) and an
  after-tool-call hook that leaves it and scrubs the result text;
- :func:`secure_tool` makes a tool's own result scrubbed where it leaves the function
  (so ``ToolUsageFinishedEvent`` carries no value), turns a needed consent into a tool
  result telling the model to show the user a link, hands that pending link out again
  to the same whole identity only after asking the service whether it was completed
  (:class:`~agentcore_auth.integration.PendingConsents`), and switches CrewAI's tool
  result cache off for the tool (it is keyed by the input only, so shared across users).
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
    HookAborted,
    InterceptionPoint,
    register_after_tool_call_hook,
    register_before_tool_call_hook,
    register_hook,
    unregister_after_tool_call_hook,
    unregister_before_tool_call_hook,
    unregister_hook,
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
    identity_context,
)
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    PendingConsents,
    credential_requirements,
    find_exception,
    identity_from,
    identity_scope,
    scrub_result,
)

__all__ = ["acomplete_consent", "complete_consent", "consent_message", "default_pending",
           "default_sessions", "pending_consents", "register_hooks", "secure_tool"]

logger = logging.getLogger("agentcore_auth.crewai")
_lock = threading.Lock()
_defaults: dict[str, Any] = {}
_WHERE = "crew.kickoff(inputs=...)"
_open: ContextVar[tuple[ExitStack, ...]] = ContextVar("agentcore_auth_crewai_open", default=())


def default_sessions() -> ConsentSessions:
    """The consent sessions :func:`secure_tool` records in when not given its own."""
    with _lock:
        return _defaults.setdefault("sessions", ConsentSessions())  # type: ignore[no-any-return]


def default_pending() -> PendingConsents:
    """The pending links (per whole identity) :func:`secure_tool` keeps when not given its own."""
    with _lock:
        return _defaults.setdefault("pending", PendingConsents())  # type: ignore[no-any-return]


def complete_consent(session_uri: str, *, user_id: str | None = None,
                     user_token: str | Secret | None = None,
                     sessions: ConsentSessions | None = None,
                     pending: PendingConsents | None = None) -> None:
    """Complete a session as the user who started it; the pending consent is then dropped.

    Raises:
        AccessDeniedError: unknown session, or one started for another user.
        CredentialError: the service refused to complete the session.
    """
    (sessions or default_sessions()).complete(session_uri, user_id=user_id,
                                              user_token=user_token)
    _links(pending).forget(session_uri)


async def acomplete_consent(session_uri: str, *, user_id: str | None = None,
                            user_token: str | Secret | None = None,
                            sessions: ConsentSessions | None = None,
                            pending: PendingConsents | None = None) -> None:
    """Async twin of :func:`complete_consent`."""
    await (sessions or default_sessions()).acomplete(session_uri, user_id=user_id,
                                                     user_token=user_token)
    _links(pending).forget(session_uri)


def pending_consents(handle: str | None = None, /, *, user_id: str | None = None,
                     user_token: str | Secret | None = None,
                     workload_access_token: str | Secret | None = None,
                     pending: PendingConsents | None = None) -> list[ConsentRequest]:
    """The links this whole identity was handed and has not completed (to show that user).

    Takes what :func:`agentcore_auth.identity_context` takes: the run's handle, or the
    identity fields.
    """
    with identity_context(handle, user_id=user_id, user_token=user_token,
                          workload_access_token=workload_access_token) as identity:
        return _links(pending).pending_for(identity)


def _links(pending: PendingConsents | None) -> PendingConsents:
    return pending if pending is not None else default_pending()


def register_hooks(*, user_id_key: str = "user_id",
                   user_token_key: str = "user_token",  # noqa: S107 - a key name
                   workload_access_token_key: str = "workload_access_token",  # noqa: S107
                   prefer: Literal["user_id", "user_token"] | None = None,
                   redactor: Redactor | None = None,
                   handle_key: str = "identity") -> Callable[[], None]:
    """Register CrewAI's global hooks; returns a function unregistering them.

    The caller is read from the crew's inputs (``crew.kickoff(inputs=...)``): an
    :class:`~agentcore_auth.IdentityHandle` under ``handle_key``, or a ``user_id``.
    A raw token there (``user_token``, ``workload_access_token``) aborts the kickoff
    before CrewAI records the inputs (``HookAborted`` whose message shows
    :func:`agentcore_auth.identity_handle`). A user id next to a user token is refused
    unless ``prefer=`` decides.
    """
    keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key, handle_key)
    identity_from(prefer=prefer)  # validates prefer=

    def start(ctx: Any) -> None:
        try:
            identity_from(getattr(ctx, "inputs", None), keys=keys, prefer=prefer, where=_WHERE)
        except ConfigurationError as exc:
            if "raw token" not in str(exc):
                return  # other mistakes block the tool call itself, as before
            raise HookAborted(str(exc), source="agentcore_auth") from None

    def before(ctx: ToolCallHookContext) -> bool | None:
        # CrewAI keeps kickoff(inputs=...) on the crew; it has no public accessor.
        inputs = getattr(ctx.crew, "_inputs", None) if ctx.crew is not None else None
        stack = ExitStack()
        _open.set((*_open.get(), stack))  # the after hook runs for blocked calls too
        try:
            stack.enter_context(identity_scope(identity_from(inputs, keys=keys,
                                                             prefer=prefer, where=_WHERE)))
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

    register_hook(InterceptionPoint.EXECUTION_START, start)
    register_before_tool_call_hook(before)
    register_after_tool_call_hook(after)

    def unregister() -> None:
        unregister_hook(InterceptionPoint.EXECUTION_START, start)
        unregister_before_tool_call_hook(before)
        unregister_after_tool_call_hook(after)

    return unregister


def secure_tool(tool: BaseTool, *, sessions: ConsentSessions | None = None,
                redactor: Redactor | None = None,
                pending: PendingConsents | None = None) -> BaseTool:
    """A copy of a CrewAI tool (``@tool`` over a decorated function), secured.

    Its result is scrubbed where it leaves the function; a needed consent becomes a
    tool result with the link for the user, kept per whole identity in ``pending``
    (default :func:`default_pending`) and handed out again only after the service
    says it is still pending; CrewAI's result cache is off for it. Use with
    :func:`register_hooks`.
    """
    func = getattr(tool, "func", None)
    if not callable(func):
        raise ConfigurationError(f"secure_tool() takes a CrewAI @tool over a function, not "
                                 f"{type(tool).__name__}")
    user_bound = [r for r in credential_requirements(func) if r.user_bound]
    secured = copy.copy(tool)

    def run(*args: Any, **kwargs: Any) -> Any:
        links = _links(pending)
        for requirement in user_bound:
            waiting = links.recheck(requirement)  # asks the service: completed elsewhere?
            if waiting is not None:
                return consent_message(waiting)
        try:
            return scrub_result(func(*args, **kwargs), redactor)
        except Exception as exc:
            needed = find_exception(exc, AuthorizationRequiredError)
            if needed is None:
                raise
        (sessions or default_sessions()).remember(needed, current_identity())
        owner = [r for r in user_bound if r.request.provider_name == needed.provider_name]
        request = (links.remember(owner[0], needed) if owner
                   else ConsentRequest.from_error(needed))
        # The model must pass the link on, so it must survive the scrubbing of results.
        (redactor or default_redactor()).unregister(needed.authorization_url)
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
