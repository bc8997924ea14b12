"""secure(): agentcore_auth around the function tools of an OpenAI Agents SDK agent.

Through public SDK APIs only: each ``FunctionTool`` is copied with

- ``on_invoke_tool`` wrapped: the call runs in the caller's ``identity_context`` (read
  from the run's ``context=``), and its result (or the SDK's error text) is scrubbed
  before the SDK records it in the function span or sends it to the model;
- ``needs_approval`` wrapped: for USER_FEDERATION tools the credential is resolved ahead
  of the call, as that user; when the user must consent the call asks for approval and
  the authorization URL is kept by call id (see :func:`consent_requests`).
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents import Agent, FunctionTool, RunContextWrapper
from agents.run_config import CallModelData, ModelInputData
from agents.tool_context import ToolContext

from agentcore_auth import AuthorizationRequiredError, Redactor, Secret
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    credential_requirements,
    identity_from,
    identity_scope,
    scrub_result,
)

__all__ = ["acomplete_consent", "complete_consent", "default_sessions", "pending_consent",
           "scrub_model_input", "secure"]

T = TypeVar("T", Agent[Any], FunctionTool)
Approval = Callable[[RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]]

_MAX_PENDING = 10_000
_pending: OrderedDict[str, ConsentRequest] = OrderedDict()
_lock = threading.Lock()
_default_sessions: ConsentSessions | None = None


def default_sessions() -> ConsentSessions:
    """The consent sessions :func:`secure` records in when not given its own."""
    global _default_sessions  # noqa: PLW0603 - one lazily made process default
    with _lock:
        if _default_sessions is None:
            _default_sessions = ConsentSessions()
        return _default_sessions


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
           ) -> T:
    """A copy of an ``Agent`` (its function tools) or of one ``FunctionTool``, secured.

    The caller is read from ``Runner.run(..., context=...)`` (attributes or keys
    ``user_id``, ``user_token``, ``workload_access_token``; rename them with the
    ``*_key`` arguments). Tools other than function tools are left as they are.

    Args:
        sessions: where consent sessions are recorded, for
            :func:`~agentcore_auth_openai_agents.complete_consent`; default
            :func:`default_sessions`.
        redactor: scrubs results and errors; default the global one.
    """
    keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key)
    if isinstance(agent_or_tool, FunctionTool):
        return _secure_tool(agent_or_tool, keys, sessions, redactor)  # type: ignore[return-value]
    if isinstance(agent_or_tool, Agent):
        tools = [_secure_tool(t, keys, sessions, redactor) if isinstance(t, FunctionTool) else t
                 for t in agent_or_tool.tools]
        return agent_or_tool.clone(tools=tools)
    raise TypeError(f"secure() takes an agents.Agent or a FunctionTool, not "
                    f"{type(agent_or_tool).__name__}")


def _secure_tool(tool: FunctionTool, keys: IdentityKeys, sessions: ConsentSessions | None,
                 redactor: Redactor | None) -> FunctionTool:
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
        with identity_scope(identity_from(ctx.context, keys=keys)):
            result = await invoke(ctx, arguments)
        return scrub_result(result, redactor)

    async def needs_approval(ctx: RunContextWrapper[Any], params: dict[str, Any],
                             call_id: str) -> bool:
        identity = identity_from(ctx.context, keys=keys)
        with identity_scope(identity):
            for requirement in needs_consent:
                try:
                    await requirement.aresolve()
                except AuthorizationRequiredError as pending:
                    await (sessions or default_sessions()).aremember(pending, identity)
                    _keep(call_id, ConsentRequest.from_error(pending))
                    return True
                except Exception:  # noqa: BLE001, S112 - the call itself reports it, scrubbed
                    continue
        if callable(approval):
            result = approval(ctx, params, call_id)
            return bool(await result if inspect.isawaitable(result) else result)
        return bool(approval)

    on_invoke_tool.__agentcore_auth_secured__ = True  # type: ignore[attr-defined]
    secured.on_invoke_tool = on_invoke_tool
    if needs_consent:
        secured.needs_approval = needs_approval
    return secured


def _keep(call_id: str, request: ConsentRequest) -> None:
    with _lock:
        _pending.pop(call_id, None)
        _pending[call_id] = request
        while len(_pending) > _MAX_PENDING:
            _pending.popitem(last=False)


def pending_consent(call_id: str) -> ConsentRequest | None:
    """The consent a tool call asked approval for, by its call id; None if it asked none."""
    with _lock:
        return _pending.get(call_id)


def scrub_model_input(data: CallModelData[Any]) -> ModelInputData:
    """A ``RunConfig(call_model_input_filter=scrub_model_input)``: the model gets no value.

    Scrubs every input item and the instructions (registered values become
    ``[REDACTED:...]``).
    """
    instructions = data.model_data.instructions
    return ModelInputData(
        input=scrub_result(list(data.model_data.input)),
        instructions=scrub_result(instructions) if instructions is not None else None)
