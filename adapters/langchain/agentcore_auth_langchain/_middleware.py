"""AgentCoreAuthMiddleware: agentcore_auth in a LangChain agent or a LangGraph ``ToolNode``.

- ``wrap_tool_call`` / ``awrap_tool_call`` run each tool call with the caller's
  identity set, turn :class:`~agentcore_auth.AuthorizationRequiredError` into a
  LangGraph ``interrupt``, retry once on :class:`~agentcore_auth.CredentialRejectedError`
  and scrub the tool message. The same methods work as
  ``ToolNode(wrap_tool_call=mw.wrap_tool_call, awrap_tool_call=mw.awrap_tool_call)``.
- ``wrap_model_call`` / ``awrap_model_call`` scrub the messages the model is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar, get_args

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.config import get_config
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt

from agentcore_auth import (
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialRejectedError,
    CredentialResolver,
    Redactor,
    Secret,
)
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    find_exception,
    identity_from,
    identity_scope,
    scrub_error,
    scrub_result,
)

from ._consent import CONSENT_INTERRUPT, Answer, parse_answer
from ._side_channels import scrubbed_stream_writer

__all__ = ["AgentCoreAuthMiddleware"]

ToolResult = ToolMessage | Command[Any]
M = TypeVar("M", bound=BaseMessage)
IdentitySource = Literal["context", "configurable", "langgraph_auth"]
_WHERE = {"context": "the run's context=", "configurable": "config['configurable']"}


class AgentCoreAuthMiddleware(AgentMiddleware[AgentState[Any], Any, Any]):
    """Identity, consent and redaction for agentcore_auth tools in LangChain / LangGraph.

    ``create_agent(model, tools, middleware=[AgentCoreAuthMiddleware()],
    checkpointer=InMemorySaver())``; one instance may serve many agents and users.
    Decorate tools with ``@tool`` over :func:`agentcore_auth.requires_api_key` /
    :func:`~agentcore_auth.requires_access_token`.

    The caller is read from one trusted source, ``identity_source``, and set with
    :func:`agentcore_auth.identity_context` while each tool call runs:

    - ``"context"`` (default): the run's ``context=`` object (attributes or keys), which
      LangGraph neither checkpoints nor traces: ``identity`` (an
      :class:`~agentcore_auth.IdentityHandle`), ``user_id``, ``user_token``,
      ``workload_access_token`` (rename them with the ``*_key`` arguments);
    - ``"configurable"``: ``config["configurable"]``, under the same keys; it is copied
      into checkpoint and run metadata, so tokens are refused there: put a handle;
    - ``"langgraph_auth"``: LangGraph Platform's authenticated user, the
      ``langgraph_auth_user_id`` its auth handler writes into ``configurable``; the
      client-sent ``context`` is never read for identity.

    Identity keys found in the other source are refused (:class:`ConfigurationError`),
    so a client-controlled value never fills in or overrides the trusted one; a raw
    token in ``configurable`` is refused wherever identity is read from.

    When a user must consent, the run stops with a LangGraph interrupt (a checkpointer
    is required); read it with :func:`~agentcore_auth_langchain.consent_requests`, show
    the URL, complete the session with :meth:`complete_consent`, and resume with
    ``ConsentRequest.resume()``: the tool runs again as the same user.

    Args:
        resolver: where :meth:`complete_consent` finds its ``bedrock-agentcore`` client;
            default :func:`agentcore_auth.default_resolver`.
        client: a ``bedrock-agentcore`` boto3 client to use instead.
        sessions: a :class:`~agentcore_auth.integration.ConsentSessions` to share
            (e.g. over a shared store); default one of this middleware's own.
        retry_rejected: times to rerun a tool whose credential was refused
            (:class:`CredentialRejectedError`) before the model is told; 0 disables.
        redactor: scrubs tool messages and model input; default the global one.
        user_id_key: context/configurable key of the user id.
        user_token_key: key of the user's JWT.
        workload_access_token_key: key of a workload access token.
        max_sessions: consent sessions remembered (default sessions only).
        prefer: when the caller carries both a user id and a user token, which one
            decides (``"user_token"`` or ``"user_id"``); by default both together are
            refused with :class:`ConfigurationError` (see
            :func:`agentcore_auth.identity_context`).
        identity_source: where the verified identity comes from (see above).
        handle_key: context/configurable key of an identity handle.
    """

    def __init__(
        self,
        resolver: CredentialResolver | None = None,
        *,
        client: Any = None,
        sessions: ConsentSessions | None = None,
        retry_rejected: int = 1,
        redactor: Redactor | None = None,
        user_id_key: str = "user_id",
        user_token_key: str = "user_token",  # noqa: S107 - a key name, not a token
        workload_access_token_key: str = "workload_access_token",  # noqa: S107 - likewise
        max_sessions: int = 10_000,
        prefer: Literal["user_id", "user_token"] | None = None,
        identity_source: IdentitySource = "context",
        handle_key: str = "identity",
    ) -> None:
        if isinstance(retry_rejected, bool) or not isinstance(retry_rejected, int) or (
                retry_rejected < 0):
            raise ConfigurationError("retry_rejected= must be an int >= 0")
        if prefer not in (None, "user_id", "user_token"):
            raise ConfigurationError('prefer= must be None, "user_id" or "user_token"')
        self.tools = []
        self.sessions = sessions or ConsentSessions(resolver, client=client,
                                                    max_sessions=max_sessions)
        self._retry_rejected = retry_rejected
        self._redactor = redactor
        if identity_source not in get_args(IdentitySource):
            raise ConfigurationError('identity_source= must be "context", "configurable" or '
                                     '"langgraph_auth"')
        self._keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key,
                                  handle_key)
        if identity_source == "langgraph_auth":
            self._keys = IdentityKeys("langgraph_auth_user_id", user_token_key,
                                      workload_access_token_key, handle_key)
        self._source: IdentitySource = identity_source
        self._prefer: Literal["user_id", "user_token"] | None = prefer

    @property
    def name(self) -> str:
        """The middleware's name in the agent graph."""
        return "AgentCoreAuthMiddleware"

    # --- tool calls ------------------------------------------------------------------

    def wrap_tool_call(self, request: ToolCallRequest,
                       handler: Callable[[ToolCallRequest], ToolResult]) -> ToolResult:
        """Run the tool call as its caller; consent becomes an interrupt; results scrubbed."""
        identity, answer = self._identity(request), _waiting_answer()
        if answer == "declined":
            return self._declined(request)
        for attempt in range(self._retry_rejected + 1):
            try:
                with identity_scope(identity), scrubbed_stream_writer(
                        request, self._redactor) as scrubbed:
                    return self._scrub_result(handler(scrubbed))
            except GraphBubbleUp:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted out below
                failure = exc
            pending = find_exception(failure, AuthorizationRequiredError)
            if pending is not None:
                self.sessions.remember(pending, identity)
                return self._consent(request, pending, answer)
            if not self._retry(failure, attempt):
                break
        return self._failed(request, failure)

    async def awrap_tool_call(self, request: ToolCallRequest,
                              handler: Callable[[ToolCallRequest], Awaitable[ToolResult]],
                              ) -> ToolResult:
        """Async twin of :meth:`wrap_tool_call`."""
        identity, answer = self._identity(request), _waiting_answer()
        if answer == "declined":
            return self._declined(request)
        for attempt in range(self._retry_rejected + 1):
            try:
                with identity_scope(identity), scrubbed_stream_writer(
                        request, self._redactor) as scrubbed:
                    return self._scrub_result(await handler(scrubbed))
            except GraphBubbleUp:
                raise
            except Exception as exc:  # noqa: BLE001 - sorted out below
                failure = exc
            pending = find_exception(failure, AuthorizationRequiredError)
            if pending is not None:
                await self.sessions.aremember(pending, identity)
                return self._consent(request, pending, answer)
            if not self._retry(failure, attempt):
                break
        return self._failed(request, failure)

    def before_agent(self, state: AgentState[Any], runtime: Any) -> dict[str, Any] | None:
        """Refuse a raw token in ``configurable`` before the model is called."""
        try:
            configurable = get_config().get("configurable")
        except RuntimeError:  # not inside a runnable
            return None
        self._read(getattr(runtime, "context", None), configurable)
        return None

    async def abefore_agent(self, state: AgentState[Any], runtime: Any) -> dict[str, Any] | None:
        """Async twin of :meth:`before_agent`."""
        return self.before_agent(state, runtime)

    def _identity(self, request: ToolCallRequest) -> dict[str, Any]:
        runtime = request.runtime
        if runtime is None:
            return {}
        return self._read(runtime.context, (runtime.config or {}).get("configurable"))

    def _read(self, context: Any, configurable: Any) -> dict[str, Any]:
        """The identity from the trusted source; the other must carry none (and no token)."""
        trusted, other = ((context, configurable) if self._source == "context"
                          else (configurable, context))
        trusted_name = "context" if self._source == "context" else "configurable"
        other_name = "configurable" if trusted_name == "context" else "context"
        # configurable is checkpointed and traced: a raw token there is refused either way.
        found = identity_from(trusted, keys=self._keys, prefer=self._prefer,
                              allow_raw_tokens=trusted_name == "context",
                              where=_WHERE[trusted_name])
        stray = identity_from(other, keys=self._keys, allow_raw_tokens=other_name == "context",
                              where=_WHERE[other_name])
        if stray:
            raise ConfigurationError(
                f"{_WHERE[other_name]} carries identity ({', '.join(sorted(stray))}), but this "
                f"middleware takes identity only from {_WHERE[trusted_name]} "
                f"(identity_source={self._source!r}): a value there never fills in or overrides "
                "the trusted one. Move it, or choose identity_source=")
        return found

    def _consent(self, request: ToolCallRequest, pending: AuthorizationRequiredError,
                 answer: Answer | None) -> ToolMessage:
        if answer is None:
            if _checkpointer() is None:
                raise ConfigurationError(
                    f"tool {request.tool_call['name']!r} needs the user's consent for "
                    f"{pending.provider_name!r}, which pauses the graph with an interrupt: "
                    "compile it with a checkpointer (create_agent(..., checkpointer="
                    "InMemorySaver()) or graph.compile(checkpointer=...))") from None
            # Raises GraphInterrupt: the run stops, the app shows the URL, completes the
            # session and resumes; this tool call then runs again.
            answer = parse_answer(interrupt({
                "type": CONSENT_INTERRUPT, "tool_call_id": request.tool_call.get("id"),
                **ConsentRequest.from_error(pending).to_dict()}))
            if answer == "declined":
                return self._declined(request)
        # Resumed, yet still pending: the user asking again starts a new consent.
        return _message(request, f"The user has not completed the authorization for "
                                 f"{pending.provider_name!r}; ask them to finish it, then "
                                 "try again.")

    def _retry(self, failure: Exception, attempt: int) -> bool:
        rejected = find_exception(failure, CredentialRejectedError)
        # retry_after: the credential backs off (the source returned the refused value
        # again), so a rerun would fail the same way.
        return (rejected is not None and rejected.retry_after is None
                and attempt < self._retry_rejected)

    def _failed(self, request: ToolCallRequest, failure: Exception) -> ToolMessage:
        """A refused credential becomes a tool message; anything else is raised, scrubbed."""
        error = scrub_error(failure, self._redactor)
        if find_exception(failure, CredentialRejectedError) is not None:
            return _message(request, f"The API refused the credential of this tool: {error}")
        if error is failure:
            raise failure
        raise error from None

    def _declined(self, request: ToolCallRequest) -> ToolMessage:
        return _message(request, "The user declined the authorization this tool needs; do "
                                 "not call it again for now.")

    def _scrub_result(self, result: ToolResult) -> ToolResult:
        if isinstance(result, ToolMessage):
            return _scrub_message(result, self._redactor)
        update = result.update
        if isinstance(update, dict) and isinstance(update.get("messages"), list):
            messages = [_scrub_message(m, self._redactor) if isinstance(m, BaseMessage)
                        else scrub_result(m, self._redactor) for m in update["messages"]]
            return Command(graph=result.graph, update={**update, "messages": messages},
                           resume=result.resume, goto=result.goto)
        return result

    # --- model calls -----------------------------------------------------------------

    def wrap_model_call(self, request: ModelRequest[Any],
                        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
                        ) -> ModelResponse[Any]:
        """Send the model scrubbed messages and system message."""
        return handler(self._scrub_request(request))

    async def awrap_model_call(self, request: ModelRequest[Any],
                               handler: Callable[[ModelRequest[Any]],
                                                 Awaitable[ModelResponse[Any]]],
                               ) -> ModelResponse[Any]:
        """Async twin of :meth:`wrap_model_call`."""
        return await handler(self._scrub_request(request))

    def _scrub_request(self, request: ModelRequest[Any]) -> ModelRequest[Any]:
        system = request.system_message
        return request.override(
            messages=[_scrub_message(m, self._redactor) for m in request.messages],
            system_message=_scrub_message(system, self._redactor) if system else None)

    # --- completing consent ----------------------------------------------------------

    def complete_consent(self, session_uri: str, *, user_id: str | None = None,
                         user_token: str | Secret | None = None) -> None:
        """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

        Call it from the app's OAuth2 return URL handler (it receives ``session_id``)
        with exactly one of ``user_id`` or ``user_token`` of the signed-in user, as the
        session was started (see :meth:`ConsentSessions.complete`).

        Raises:
            AccessDeniedError: unknown session, or one started for another user.
            CredentialError: the service refused to complete the session.
        """
        self.sessions.complete(session_uri, user_id=user_id, user_token=user_token)

    async def acomplete_consent(self, session_uri: str, *, user_id: str | None = None,
                                user_token: str | Secret | None = None) -> None:
        """Async twin of :meth:`complete_consent`."""
        await self.sessions.acomplete(session_uri, user_id=user_id, user_token=user_token)


def _waiting_answer() -> Answer | None:
    """Our consent answer waiting for this task (a resumed run), consumed; else None.

    Peeks at LangGraph's per-task resume values so a declined consent does not run
    the tool again; if that internal shape changes, the answer is still read by the
    ``interrupt()`` call after the tool asks for consent again.
    """
    try:
        scratchpad = get_config()["configurable"]["__pregel_scratchpad"]
        value = scratchpad.resume[0] if scratchpad.resume else scratchpad.get_null_resume(False)
    except Exception:  # noqa: BLE001 - best effort, see above
        return None
    answer = parse_answer(value)
    if answer is not None:
        interrupt(None)  # consume it: it answers the interrupt of the interrupted run
    return answer


def _checkpointer() -> Any:
    """The running graph's checkpointer, or None (also outside a graph)."""
    try:
        return get_config().get("configurable", {}).get(CONFIG_KEY_CHECKPOINTER)
    except RuntimeError:  # not inside a runnable
        return None


def _message(request: ToolCallRequest, text: str) -> ToolMessage:
    return ToolMessage(content=text, tool_call_id=str(request.tool_call.get("id")),
                       name=request.tool_call.get("name"), status="error")


def _scrub_message(message: M, redactor: Redactor | None) -> M:
    """A copy of a LangChain message with content, tool-call arguments and artifact scrubbed."""
    update: dict[str, Any] = {}
    for field in ("content", "additional_kwargs", "artifact"):
        value = getattr(message, field, None)
        if value is not None:
            scrubbed = scrub_result(value, redactor)
            if scrubbed != value:
                update[field] = scrubbed
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = [{**call, "args": scrub_result(call["args"], redactor)}
                 for call in message.tool_calls]
        if calls != message.tool_calls:
            update["tool_calls"] = calls
    return message.model_copy(update=update) if update else message
