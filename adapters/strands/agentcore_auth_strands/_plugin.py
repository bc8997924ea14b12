"""AgentCoreAuthPlugin: agentcore_auth wired into a Strands agent with public Strands APIs only.

Three attachment points, all registered in :meth:`AgentCoreAuthPlugin.init_agent`:

- ``ExecuteToolStage`` middleware (Wrap) runs each tool call with the caller's
  identity set and turns :class:`~agentcore_auth.AuthorizationRequiredError` into an
  interrupt (or a tool result carrying the link);
- ``InvokeModelStage.Input`` middleware scrubs the messages and system prompt the
  model is sent (a copy: Strands hands middleware defensive copies);
- an ``AfterToolCallEvent`` hook scrubs every tool result before it enters the
  history, and asks Strands to retry a call refused with
  :class:`~agentcore_auth.CredentialRejectedError`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from strands.hooks import AfterToolCallEvent
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
    AccessDeniedError,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialError,
    CredentialRejectedError,
    CredentialResolver,
    Redactor,
    Secret,
    current_identity,
    default_redactor,
    default_resolver,
    identity_context,
)

if TYPE_CHECKING:
    from strands import Agent
    from strands.agent import AgentResult

__all__ = ["CONSENT_INTERRUPT", "AgentCoreAuthPlugin", "ConsentRequest", "consent_requests"]

CONSENT_INTERRUPT = "agentcore_auth.consent"
"""The ``name`` of the consent interrupts the plugin raises (one per tool call)."""

_UNASKED = object()  # stands for "no answer": interrupt() returns it instead of raising

E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A pending OAuth2 consent, read from an interrupted :class:`~strands.agent.AgentResult`.

    Attributes:
        interrupt_id: the Strands interrupt to answer.
        provider_name: the credential provider that needs the user's consent.
        authorization_url: the URL to show the user. Sensitive (it carries a session
            reference): show it to that user only.
        session_uri: the AgentCore session, for :meth:`AgentCoreAuthPlugin.complete_consent`.
    """

    interrupt_id: str
    provider_name: str | None
    authorization_url: str
    session_uri: str | None

    def respond(self, *, declined: bool = False) -> dict[str, Any]:
        """The ``interruptResponse`` block to resume the agent with.

        Resume once the user has consented (and the session was completed); with
        ``declined=True`` the tool is not run again and the model is told so.
        """
        response = "declined" if declined else "consented"
        return {"interruptResponse": {"interruptId": self.interrupt_id, "response": response}}


def consent_requests(result: AgentResult) -> list[ConsentRequest]:
    """The consent interrupts of an agent result (``stop_reason == "interrupt"``)."""
    found = []
    for interrupt in result.interrupts or ():
        reason = interrupt.reason
        if interrupt.name == CONSENT_INTERRUPT and isinstance(reason, Mapping):
            found.append(ConsentRequest(interrupt.id, reason.get("provider_name"),
                                        str(reason["authorization_url"]),
                                        reason.get("session_uri")))
    return found


@dataclass(frozen=True, slots=True)
class _Session:
    """Who a consent session was started for."""

    provider_name: str | None
    user_id: str | None
    user_token: Secret | None


class AgentCoreAuthPlugin(Plugin):
    """Identity, consent and redaction for agentcore_auth tools in a Strands agent.

    Attach it with ``Agent(plugins=[AgentCoreAuthPlugin()])``; one instance may serve
    many agents. Decorate tools with ``@tool`` over
    :func:`agentcore_auth.requires_api_key` / :func:`~agentcore_auth.requires_access_token`.

    The caller's identity is read from the invocation state, e.g.
    ``agent(prompt, invocation_state={"user_id": "alice"})``, under the keys
    ``user_id``, ``user_token`` (the user's JWT) and ``workload_access_token``
    (rename them with the ``*_key`` arguments), and set with
    :func:`agentcore_auth.identity_context` while each tool call runs. With none of
    them, an identity the caller set around the agent call applies, and on AgentCore
    Runtime the request's workload access token (the core library reads it).

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
        max_sessions: consent sessions remembered for :meth:`complete_consent`.
        prefer: when the invocation state holds both a user id and a user token, which
            one decides (``"user_token"`` or ``"user_id"``); by default both together
            are refused with :class:`ConfigurationError` (see
            :func:`agentcore_auth.identity_context`).
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
    ) -> None:
        if consent not in ("interrupt", "tool_result"):
            raise ConfigurationError('consent= must be "interrupt" or "tool_result"')
        if not isinstance(retry_rejected, int) or retry_rejected < 0:
            raise ConfigurationError("retry_rejected= must be an int >= 0")
        if prefer not in (None, "user_id", "user_token"):
            raise ConfigurationError('prefer= must be None, "user_id" or "user_token"')
        super().__init__()
        self._resolver = resolver
        self._client = client
        self._consent = consent
        self._retry_rejected = retry_rejected
        self._redactor = redactor
        self._keys = {"user_id": user_id_key, "user_token": user_token_key,
                      "workload_access_token": workload_access_token_key}
        self._max_sessions = max_sessions
        self._prefer = prefer
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._attempts: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The plugin's name in the agent's plugin registry."""
        return "agentcore-auth"

    def init_agent(self, agent: Agent) -> None:
        """Register the middleware and the hook with ``agent``."""
        agent.add_hook(self._after_tool_call, AfterToolCallEvent)
        agent.add_middleware(ExecuteToolStage, self._execute_tool)
        agent.add_middleware(InvokeModelStage.Input, self._scrub_model_input)

    # --- redaction --------------------------------------------------------------------

    def _redact(self, obj: Any) -> Any:
        return (self._redactor or default_redactor()).redact_obj(obj)

    def _scrub_model_input(self, ctx: InvokeModelContext) -> InvokeModelContext:
        return ctx.replace(messages=self._redact(ctx.messages),
                           system_prompt=self._redact(ctx.system_prompt))

    def _after_tool_call(self, event: AfterToolCallEvent) -> None:
        """Scrub the result; retry a call whose credential was refused."""
        event.result = self._redact(event.result)
        key = (id(event.agent), str(event.tool_use.get("toolUseId")))
        with self._lock:
            attempts = self._attempts.pop(key, 0)
            rejected = _find(event.exception, CredentialRejectedError)
            # retry_after: the source keeps returning the refused value, so a rerun would fail
            # the same way (and, before the back-off, cost another AgentCore Identity call).
            if rejected and rejected.retry_after is None and attempts < self._retry_rejected:
                self._attempts[key] = attempts + 1
                event.retry = True

    # --- identity and consent around each tool call ----------------------------------------

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
        identity = self._identity_of(ctx.invocation_state)
        events = next_fn(ctx)
        result: ToolResultEvent | None = None
        try:
            while True:
                # Set around each step only: the tool's code runs inside these awaits (and
                # asyncio.to_thread copies the context for sync tools), while nothing leaks
                # to the executor, the event loop or concurrently running tools.
                with _identity_scope(identity):
                    try:
                        event = await events.__anext__()
                    except StopAsyncIteration:
                        break
                if isinstance(event, ToolResultEvent):
                    result = event  # held back: it may become an interrupt
                else:
                    yield event
        finally:
            await events.aclose()
        pending = _find(result.exception, AuthorizationRequiredError) if result else None
        if result is None or pending is None:
            if result is not None:
                yield result
            return
        self._remember(pending, identity)
        if self._consent == "tool_result":
            # The core treats authorization URLs as secrets; this mode shows it to the model
            # on purpose, so it must survive the scrubbing of tool results and model input.
            (self._redactor or default_redactor()).unregister(pending.authorization_url)
            yield ToolResultEvent(self.consent_result(ctx, pending), exception=result.exception)
            return
        if answer is _UNASKED:
            # Raises InterruptException: the agent stops, the app shows the URL, then
            # resumes with ConsentRequest.respond() and this tool call runs again.
            ctx.interrupt(CONSENT_INTERRUPT, reason={
                "provider_name": pending.provider_name, "session_uri": pending.session_uri,
                "authorization_url": pending.authorization_url})
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

    def _identity_of(self, state: Mapping[str, Any]) -> dict[str, Any]:
        identity = {field: state[key] for field, key in self._keys.items() if state.get(key)}
        if "user_id" in identity and "user_token" in identity:
            # Refused by identity_context() unless a precedence was chosen.
            identity["prefer"] = self._prefer
        return identity

    def _remember(self, pending: AuthorizationRequiredError, identity: Mapping[str, Any]) -> None:
        if not pending.session_uri:
            return
        # The identity the tool ran with: the invocation state's user, else the ambient one
        # (never a mix of the two), after the chosen precedence.
        if "user_id" in identity or "user_token" in identity:
            user_id, token = identity.get("user_id"), identity.get("user_token")
        else:
            ambient = current_identity()
            user_id = ambient.user_id if ambient else None
            token = ambient.user_token if ambient else None
        if user_id is not None and token is not None:
            user_id, token = (None, token) if self._prefer == "user_token" else (user_id, None)
        user_token = Secret(token) if isinstance(token, str) else token
        with self._lock:
            self._sessions[pending.session_uri] = _Session(pending.provider_name, user_id,
                                                           user_token)
            while len(self._sessions) > self._max_sessions:
                self._sessions.popitem(last=False)

    # --- completing consent --------------------------------------------------------------

    def complete_consent(self, session_uri: str, *, user_id: str | None = None,
                         user_token: str | Secret | None = None) -> None:
        """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

        Call it from the app's OAuth2 return URL handler (it receives ``session_id``),
        or after the user confirms, with the identity of the user signed in to the
        app. The session must have been started by this plugin for that same user
        (same ``user_id``, or the same ``user_token``); anything else is refused
        before the service is called.

        Raises:
            AccessDeniedError: unknown session, or one started for another user.
            CredentialError: the service refused to complete the session.
        """
        token = Secret(user_token) if isinstance(user_token, str) else user_token
        with self._lock:
            session = self._sessions.get(session_uri)
        if session is None:
            raise AccessDeniedError("this consent session was not started by this plugin, was "
                                    "already completed, or was forgotten; ask again")
        if session.user_id is None and session.user_token is None:
            raise AccessDeniedError("the consent session was started without a user_id or "
                                    "user_token in the invocation state, so it is bound to no "
                                    "user; pass one when invoking the agent",
                                    provider_name=session.provider_name)
        if (user_id is None) == (token is None) or not (
            (user_id is not None and user_id == session.user_id)
            or (token is not None and session.user_token is not None
                and token == session.user_token)
        ):
            raise AccessDeniedError("the consent session was started for another user (pass "
                                    "exactly one of user_id= or user_token=, as it was started)",
                                    provider_name=session.provider_name)
        identifier = {"userId": user_id} if user_id is not None else {
            "userToken": token.reveal() if token is not None else ""}
        try:
            self._data_client().complete_resource_token_auth(userIdentifier=identifier,
                                                             sessionUri=session_uri)
        except Exception as exc:  # botocore's errors share no base we can name
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise CredentialError(f"CompleteResourceTokenAuth failed ({code}); start the "
                                  "consent again", provider_name=session.provider_name) from exc
        with self._lock:
            self._sessions.pop(session_uri, None)

    async def acomplete_consent(self, session_uri: str, *, user_id: str | None = None,
                                user_token: str | Secret | None = None) -> None:
        """Async twin of :meth:`complete_consent` (the boto3 call runs in a thread)."""
        await asyncio.to_thread(self.complete_consent, session_uri, user_id=user_id,
                                user_token=user_token)

    def _data_client(self) -> Any:
        if self._client is not None:
            return self._client
        client = getattr((self._resolver or default_resolver()).source, "client", None)
        if client is None:
            raise ConfigurationError("complete_consent needs a bedrock-agentcore client: pass "
                                     "client= or a resolver over AgentCoreIdentitySource")
        return client


@contextmanager
def _identity_scope(identity: Mapping[str, Any]) -> Iterator[None]:
    if not identity:
        yield
        return
    with identity_context(**identity):
        yield


def _find(exc: BaseException | None, kind: type[E]) -> E | None:
    """``exc`` or the first exception of type ``kind`` in its cause/context chain."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _error(ctx: ExecuteToolContext, text: str) -> ToolResult:
    return {"toolUseId": str(ctx.tool_use.get("toolUseId")), "status": "error",
            "content": [{"text": text}]}
