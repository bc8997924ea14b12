"""AgentCoreAuthPlugin: agentcore_auth in a Strands agent, on :mod:`agentcore_auth.integration`.

Registered in :meth:`AgentCoreAuthPlugin.init_agent`, with public Strands APIs only:
``ExecuteToolStage`` middleware (identity around each tool call; consent as an
interrupt; scrubs streamed ``ToolStreamEvent`` data), ``InvokeModelStage.Input``
middleware (scrubs model input) and an ``AfterToolCallEvent`` hook (scrubs results;
retries a refused credential).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any, Literal

from strands.hooks import AfterToolCallEvent, BeforeInvocationEvent
from strands.middleware import (
    ExecuteToolContext,
    ExecuteToolStage,
    InvokeModelContext,
    InvokeModelStage,
    MiddlewareNext,
    ToolResultEvent,
    TypedEvent,
)
from strands.plugins import Plugin
from strands.types.tools import ToolResult

from agentcore_auth import (
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialRejectedError,
    CredentialResolver,
    Redactor,
    Secret,
    StreamScrubber,
    default_redactor,
)
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    IdentityKeys,
    find_exception,
    identity_from,
    identity_scope,
    scrub_result,
)

if TYPE_CHECKING:
    from strands import Agent

from ._consent import CONSENT_INTERRUPT

__all__ = ["AgentCoreAuthPlugin"]

_UNASKED = object()  # stands for "no answer": interrupt() returns it instead of raising


class AgentCoreAuthPlugin(Plugin):
    """Identity, consent and redaction for agentcore_auth tools in a Strands agent.

    Attach it with ``Agent(plugins=[AgentCoreAuthPlugin()])``; one instance may serve
    many agents. Decorate tools with ``@tool`` over
    :func:`agentcore_auth.requires_api_key` / :func:`~agentcore_auth.requires_access_token`.

    The caller's identity comes from one source, the invocation state: an
    :class:`~agentcore_auth.IdentityHandle` under ``identity``, e.g.
    ``agent(prompt, invocation_state={"identity": identity_handle(user_token=jwt)})``,
    or a plain ``user_id`` (rename the keys with the ``*_key`` arguments), set with
    :func:`agentcore_auth.identity_context` while each tool call runs. With none, an
    identity the caller set around the agent call applies, and on AgentCore Runtime
    the request's workload access token (the core library reads it). Strands spreads
    the invocation state into its init event and every model text delta (so into
    ``callback_handler`` and ``stream_async`` events): a raw ``user_token`` or
    ``workload_access_token`` there is refused before the agent starts, with a
    :class:`ConfigurationError` showing the handle, and a handle next to other
    identity keys is refused too (nothing fills in or overrides it).

    Subclass and override :meth:`consent_result` to change what the model is told in
    ``consent="tool_result"`` mode.

    Args:
        resolver: where :meth:`complete_consent` finds its ``bedrock-agentcore`` client
            (its source's ``client``); default :func:`agentcore_auth.default_resolver`.
        client: a ``bedrock-agentcore`` boto3 client to use instead.
        consent: ``"interrupt"`` (default) raises a Strands interrupt carrying the
            authorization URL; ``"tool_result"`` gives the model a tool result with
            the link to pass on to the user. The link is sensitive (anyone holding it
            can try to consent into the session), so in that mode it goes through
            the model and its provider: prefer interrupts.
        retry_rejected: times to rerun a tool whose credential was refused
            (:class:`CredentialRejectedError`) through Strands' tool retry, before the
            model sees the failure; 0 disables. A refusal whose credential backs off
            (``retry_after`` set: the source keeps returning the refused value) is
            not rerun.
        redactor: scrubs tool results and model input; default the global one, which
            every resolver registers its values with.
        user_id_key: invocation-state key of the user id.
        user_token_key: invocation-state key of the user's JWT.
        workload_access_token_key: invocation-state key of a workload access token.
        max_sessions: consent sessions remembered for :meth:`complete_consent`
            (:attr:`sessions`; forgotten after
            :data:`~agentcore_auth.integration.DEFAULT_SESSION_TTL` seconds).
        prefer: when the invocation state holds both a user id and a user token, which
            one decides (``"user_token"`` or ``"user_id"``); by default both together
            are refused with :class:`ConfigurationError` (see
            :func:`agentcore_auth.identity_context`).
        handle_key: invocation-state key of an identity handle.
        allow_raw_tokens: accept raw tokens in the invocation state (the old way;
            Strands then broadcasts them in its events: do not).
    """

    def __init__(
        self,
        resolver: CredentialResolver | None = None,
        *,
        client: Any = None,
        consent: Literal["interrupt", "tool_result"] = "interrupt",
        retry_rejected: int = 1,
        redactor: Redactor | None = None,
        user_id_key: str = "user_id",
        user_token_key: str = "user_token",  # noqa: S107 - a key name, not a token
        workload_access_token_key: str = "workload_access_token",  # noqa: S107 - likewise
        max_sessions: int = 10_000,
        prefer: Literal["user_id", "user_token"] | None = None,
        handle_key: str = "identity",
        allow_raw_tokens: bool = False,
    ) -> None:
        if consent not in ("interrupt", "tool_result"):
            raise ConfigurationError('consent= must be "interrupt" or "tool_result"')
        if not isinstance(retry_rejected, int) or retry_rejected < 0:
            raise ConfigurationError("retry_rejected= must be an int >= 0")
        if prefer not in (None, "user_id", "user_token"):
            raise ConfigurationError('prefer= must be None, "user_id" or "user_token"')
        super().__init__()
        self._consent = consent
        self._retry_rejected = retry_rejected
        self._redactor = redactor
        self._keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key,
                                  handle_key)
        self._allow_raw = allow_raw_tokens
        self.sessions = ConsentSessions(resolver, client=client, max_sessions=max_sessions)
        """The consent sessions this plugin started (see :class:`ConsentSessions`)."""
        self._prefer = prefer
        self._attempts: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The plugin's name in the agent's plugin registry."""
        return "agentcore-auth"

    def init_agent(self, agent: Agent) -> None:
        """Register the middleware and the hook with ``agent``."""
        agent.add_hook(self._check_identity, BeforeInvocationEvent)
        agent.add_hook(self._after_tool_call, AfterToolCallEvent)
        agent.add_middleware(ExecuteToolStage, self._execute_tool)
        agent.add_middleware(InvokeModelStage.Input, self._scrub_model_input)

    def _check_identity(self, event: BeforeInvocationEvent) -> None:
        """Refuse a raw token in the invocation state before Strands emits any event."""
        self._identity(event.invocation_state)

    def _identity(self, state: Any) -> dict[str, Any]:
        return identity_from(state, keys=self._keys, prefer=self._prefer,
                             allow_raw_tokens=self._allow_raw, where="invocation_state")

    def _scrub_model_input(self, ctx: InvokeModelContext) -> InvokeModelContext:
        return ctx.replace(messages=scrub_result(ctx.messages, self._redactor),
                           system_prompt=scrub_result(ctx.system_prompt, self._redactor))

    def _scrub_stream_event(self, event: TypedEvent,
                            stream: StreamScrubber) -> list[TypedEvent]:
        """The events to pass on for a streamed item (``{"tool_stream_event": {"data": ...}}``).

        Decorated tools already yield scrubbed items; this covers any other tool, with
        the core's :class:`StreamScrubber` so a value split across items is caught
        (a held tail comes out with the next item, or at the end via ``stream.finish``).
        The event is matched by its payload, as ``ToolStreamEvent`` is not public.
        """
        payload = event.get("tool_stream_event")
        if not isinstance(payload, dict) or "data" not in payload:
            return [event]
        pieces = stream.push(payload["data"])
        if not pieces:
            return []
        *first, payload["data"] = pieces
        return [*(_restream(event, piece) for piece in first), event]

    def _after_tool_call(self, event: AfterToolCallEvent) -> None:
        """Scrub the result; retry a call whose credential was refused."""
        event.result = scrub_result(event.result, self._redactor)
        key = (id(event.agent), str(event.tool_use.get("toolUseId")))
        with self._lock:
            attempts = self._attempts.pop(key, 0)
            rejected = find_exception(event.exception, CredentialRejectedError)
            # retry_after: the source keeps returning the refused value, so a rerun would fail
            # the same way (and, before the back-off, cost another AgentCore Identity call).
            if rejected and rejected.retry_after is None and attempts < self._retry_rejected:
                self._attempts[key] = attempts + 1
                event.retry = True

    async def _execute_tool(self, ctx: ExecuteToolContext,
                            next_fn: MiddlewareNext[ExecuteToolContext, TypedEvent],
                            ) -> AsyncGenerator[TypedEvent, None]:
        # The answer to this call's consent interrupt, when the agent was resumed with one
        # (a preset response makes interrupt() return instead of raise).
        answer = ctx.interrupt(CONSENT_INTERRUPT, response=_UNASKED).response
        if answer is False or answer == "declined":
            yield ToolResultEvent(_error(ctx, "The user declined the authorization this tool "
                                              "needs; do not call it again for now."))
            return
        identity = self._identity(ctx.invocation_state)
        events = next_fn(ctx)
        result: ToolResultEvent | None = None
        stream, last = StreamScrubber(self._redactor), None
        try:
            while True:
                # Set around each step only: the tool's code runs inside these awaits (and
                # asyncio.to_thread copies the context for sync tools), while nothing leaks
                # to the executor, the event loop or concurrently running tools.
                with identity_scope(identity):
                    try:
                        event = await events.__anext__()
                    except StopAsyncIteration:
                        break
                if isinstance(event, ToolResultEvent):
                    result = event  # held back: it may become an interrupt
                else:
                    for out in self._scrub_stream_event(event, stream):
                        last = out
                        yield out
        finally:
            await events.aclose()
        tail = stream.finish()
        if tail and last is not None:  # the held tail, as one more stream event
            yield _restream(last, tail[0])
        pending = find_exception(result.exception, AuthorizationRequiredError) if result else None
        if result is None or pending is None:
            if result is not None:
                yield result
            return
        await self.sessions.aremember(pending, identity)
        if self._consent == "tool_result":
            # The core treats authorization URLs as secrets; this mode shows it to the model
            # on purpose, so it must survive the scrubbing of tool results and model input.
            (self._redactor or default_redactor()).unregister(pending.authorization_url)
            yield ToolResultEvent(self.consent_result(ctx, pending), exception=result.exception)
            return
        if answer is _UNASKED:
            # Raises InterruptException: the agent stops, the app shows the URL, then
            # resumes with ConsentRequest.respond() and this tool call runs again.
            ctx.interrupt(CONSENT_INTERRUPT, reason=ConsentRequest.from_error(pending).to_dict())
        # Resumed, yet still pending: the user asking again starts a new consent.
        yield ToolResultEvent(_error(ctx, f"The user has not completed the authorization for "
                                          f"{pending.provider_name!r}; ask them to finish it, "
                                          "then try again."), exception=result.exception)

    def consent_result(self, ctx: ExecuteToolContext,
                       pending: AuthorizationRequiredError) -> ToolResult:
        """The tool result the model gets in ``consent="tool_result"`` mode."""
        return _error(ctx, f"Authorization required: the user must open this link to grant "
                           f"access to {pending.provider_name!r}, then ask again: "
                           f"{pending.authorization_url}")

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
        """Async twin of :meth:`complete_consent` (the boto3 call runs in a thread)."""
        await self.sessions.acomplete(session_uri, user_id=user_id, user_token=user_token)


def _restream(event: TypedEvent, data: Any) -> TypedEvent:
    """A stream event like ``event`` (a ``ToolStreamEvent``) carrying ``data``."""
    made: TypedEvent = type(event)(event["tool_stream_event"].get("tool_use"), data)  # type: ignore[call-arg]
    return made


def _error(ctx: ExecuteToolContext, text: str) -> ToolResult:
    return {"toolUseId": str(ctx.tool_use.get("toolUseId")), "status": "error",
            "content": [{"text": text}]}
