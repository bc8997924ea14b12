"""secure(): agentcore_auth around the function tools of an OpenAI Agents SDK agent graph.

Through public SDK APIs only: each ``FunctionTool`` is copied with

- ``on_invoke_tool`` wrapped: the call runs in the caller's ``identity_context`` (an
  :class:`~agentcore_auth.IdentityHandle` or a user id read from the run's
  ``context=``), and its result (or the SDK's error text) is scrubbed before the SDK
  records it in the function span or sends it to the model;
- ``needs_approval`` wrapped: for USER_FEDERATION tools the credential is resolved ahead
  of the call, as that user; when the user must consent the call asks for approval.
  The link is kept with the run (its context wrapper, by call id) and, per whole
  identity, in :class:`~agentcore_auth.integration.PendingConsents`, re-checked with the
  service before it is handed out again.

Handoff targets are secured too (recursively; cycles are safe), so a target's tools run
as the same user and ask for consent as that user.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents import Agent, FunctionTool, Handoff, RunContextWrapper
from agents.run_config import CallModelData, ModelInputData
from agents.tool_context import ToolContext

from agentcore_auth import AuthorizationRequiredError, Redactor, Secret
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    PendingConsents,
    credential_requirements,
    identity_scope,
    scrub_result,
)

from ._identity import check_on_start, read_identity

__all__ = ["acomplete_consent", "complete_consent", "default_pending", "default_sessions",
           "pending_consent", "scrub_model_input", "secure"]

T = TypeVar("T", Agent[Any], FunctionTool)
Approval = Callable[[RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]]

_lock = threading.Lock()
_defaults: dict[str, Any] = {}
# Consents asked for, kept with the run: run context wrapper -> call id -> request.
_runs: weakref.WeakKeyDictionary[Any, dict[str, ConsentRequest]] = weakref.WeakKeyDictionary()


def default_sessions() -> ConsentSessions:
    """The consent sessions :func:`secure` records in when not given its own."""
    with _lock:
        return _defaults.setdefault("sessions", ConsentSessions())  # type: ignore[no-any-return]


def default_pending() -> PendingConsents:
    """The pending links (per whole identity) :func:`secure` keeps when not given its own."""
    with _lock:
        return _defaults.setdefault("pending", PendingConsents())  # type: ignore[no-any-return]


def complete_consent(session_uri: str, *, user_id: str | None = None,
                     user_token: str | Secret | None = None,
                     sessions: ConsentSessions | None = None) -> None:
    """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

    Call it from the app's OAuth2 return URL handler (it receives ``session_id``) with
    exactly one of ``user_id`` or ``user_token`` of the signed-in user, and the
    ``sessions`` given to :func:`secure` (default :func:`default_sessions`).

    Raises:
        AccessDeniedError: unknown session, or one started for another user.
        CredentialError: the service refused to complete the session.
    """
    (sessions or default_sessions()).complete(session_uri, user_id=user_id,
                                              user_token=user_token)


async def acomplete_consent(session_uri: str, *, user_id: str | None = None,
                            user_token: str | Secret | None = None,
                            sessions: ConsentSessions | None = None) -> None:
    """Async twin of :func:`complete_consent`."""
    await (sessions or default_sessions()).acomplete(session_uri, user_id=user_id,
                                                     user_token=user_token)


def secure(agent_or_tool: T, *, sessions: ConsentSessions | None = None,
           redactor: Redactor | None = None, user_id_key: str = "user_id",
           user_token_key: str = "user_token",  # noqa: S107 - a key name, not a token
           workload_access_token_key: str = "workload_access_token",  # noqa: S107 - likewise
           handle_key: str = "identity", pending: PendingConsents | None = None) -> T:
    """A copy of an ``Agent`` (its function tools and handoff targets) or of one tool, secured.

    The caller is read from ``Runner.run(..., context=...)`` (attribute or key
    ``identity``: an :class:`~agentcore_auth.IdentityHandle`; or ``user_id``). A raw
    JWT or workload access token there (``user_token``, ``workload_access_token``) is
    refused with :class:`~agentcore_auth.ConfigurationError`: the SDK writes the
    context into ``result.to_state()``. Rename the keys with the ``*_key`` arguments.
    Handoff targets (agents or ``handoff()`` objects) are secured the same way,
    recursively. Tools other than function tools are left as they are.

    Args:
        sessions: where consent sessions are recorded, for
            :func:`~agentcore_auth_openai_agents.complete_consent`; default
            :func:`default_sessions`.
        redactor: scrubs results and errors; default the global one.
        handle_key: context key of the identity handle.
        pending: pending links per whole identity; default :func:`default_pending`.
    """
    keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key, handle_key)
    options = (keys, sessions, redactor, pending)
    if isinstance(agent_or_tool, FunctionTool):
        return _secure_tool(agent_or_tool, *options)  # type: ignore[return-value]
    if isinstance(agent_or_tool, Agent):
        return _secure_agent(agent_or_tool, options, {})
    raise TypeError(f"secure() takes an agents.Agent or a FunctionTool, not "
                    f"{type(agent_or_tool).__name__}")


def _secure_agent(agent: Agent[Any], options: tuple[Any, ...],
                  done: dict[int, Agent[Any]]) -> Agent[Any]:
    if id(agent) in done:
        return done[id(agent)]
    tools = [_secure_tool(t, *options) if isinstance(t, FunctionTool) else t
             for t in agent.tools]
    secured = agent.clone(tools=tools, hooks=check_on_start(agent, options[0]))
    done[id(agent)] = secured  # before the handoffs: a cycle finds it
    secured.handoffs = [_secure_handoff(h, options, done) for h in agent.handoffs]
    return secured


def _secure_handoff(item: Any, options: tuple[Any, ...], done: dict[int, Agent[Any]]) -> Any:
    if isinstance(item, Agent):
        return _secure_agent(item, options, done)
    if not isinstance(item, Handoff):
        return item
    target = item._agent_ref() if item._agent_ref is not None else None  # noqa: SLF001
    if isinstance(target, Agent):
        target = _secure_agent(target, options, done)
    invoke = item.on_invoke_handoff

    async def on_invoke_handoff(ctx: RunContextWrapper[Any], arguments: str) -> Any:
        chosen = await invoke(ctx, arguments)  # the app's on_handoff runs as before
        return _secure_agent(chosen, options, done) if isinstance(chosen, Agent) else chosen

    secured = dataclasses.replace(item, on_invoke_handoff=on_invoke_handoff)
    if isinstance(target, Agent):
        secured._agent_ref = weakref.ref(target)  # noqa: SLF001 - what handoff() sets
    return secured


def _secure_tool(tool: FunctionTool, keys: IdentityKeys, sessions: ConsentSessions | None,
                 redactor: Redactor | None, pending: PendingConsents | None) -> FunctionTool:
    if getattr(tool.on_invoke_tool, "__agentcore_auth_secured__", False):
        return tool
    try:
        function = tool.__wrapped__
    except AttributeError:
        function = None
    needs_consent = [r for r in credential_requirements(function) if r.user_bound]
    invoke, approval = tool.on_invoke_tool, tool.needs_approval
    secured = copy.copy(tool)

    async def on_invoke_tool(ctx: ToolContext[Any], arguments: str) -> Any:
        with identity_scope(read_identity(ctx.context, keys)):
            result = await invoke(ctx, arguments)
        return scrub_result(result, redactor)

    async def needs_approval(ctx: RunContextWrapper[Any], params: dict[str, Any],
                             call_id: str) -> bool:
        identity = read_identity(ctx.context, keys)
        links = pending if pending is not None else default_pending()
        with identity_scope(identity):
            for requirement in needs_consent:
                request = await links.arecheck(requirement)  # asks the service first
                if request is None:
                    try:
                        await requirement.aresolve()
                    except AuthorizationRequiredError as needed:
                        await (sessions or default_sessions()).aremember(needed, identity)
                        request = links.remember(requirement, needed)
                    except Exception:  # noqa: BLE001, S112 - the call reports it, scrubbed
                        continue
                if request is not None:
                    with _lock:
                        _runs.setdefault(ctx, {})[call_id] = request
                    return True
        if callable(approval):
            result = approval(ctx, params, call_id)
            return bool(await result if inspect.isawaitable(result) else result)
        return bool(approval)

    on_invoke_tool.__agentcore_auth_secured__ = True  # type: ignore[attr-defined]
    secured.on_invoke_tool = on_invoke_tool
    if needs_consent:
        secured.needs_approval = needs_approval
    return secured


def pending_consent(result: Any, call_id: str) -> ConsentRequest | None:
    """The consent a tool call of this run (a result or its ``context_wrapper``) asked for."""
    wrapper = getattr(result, "context_wrapper", result)
    with _lock:
        try:
            return _runs.get(wrapper, {}).get(call_id)
        except TypeError:  # not a run object
            return None


def scrub_model_input(data: CallModelData[Any]) -> ModelInputData:
    """A ``RunConfig(call_model_input_filter=scrub_model_input)``: the model gets no value.

    Scrubs every input item and the instructions (registered values become
    ``[REDACTED:...]``).
    """
    instructions = data.model_data.instructions
    return ModelInputData(
        input=scrub_result(list(data.model_data.input)),
        instructions=scrub_result(instructions) if instructions is not None else None)
