"""AgentCoreAuthCapability: agentcore_auth in a pydantic-ai agent, as one capability.

- ``wrap_tool_execute`` runs each tool call with the caller's identity (read from
  ``RunContext.deps``), turns :class:`~agentcore_auth.AuthorizationRequiredError` into a
  deferred approval (``ApprovalRequired``), reruns once on
  :class:`~agentcore_auth.CredentialRejectedError` and scrubs the result and errors. The
  capability sits inside ``Instrumentation`` (which is outermost), so tool spans record
  the scrubbed result.
- ``prepare_model_request`` scrubs the messages the model is sent.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic_core
from pydantic_ai import ApprovalRequired, RunContext
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.capabilities.abstract import ValidatedToolArgs, WrapToolExecuteHandler
from pydantic_ai.messages import ModelMessage, ToolCallPart
from pydantic_ai.models import ModelRequestContext
from pydantic_ai.tools import ToolDefinition

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

from ._consent import CONSENT_METADATA

__all__ = ["AgentCoreAuthCapability"]

_PLAIN = (str, bytes, int, float, bool, type(None), dict, list, tuple)


class AgentCoreAuthCapability(AbstractCapability[Any]):
    """Identity, consent and redaction for agentcore_auth tools in pydantic-ai.

    ``Agent(model, deps_type=Deps, capabilities=[AgentCoreAuthCapability()],
    output_type=[str, DeferredToolRequests])``; one instance may serve many agents and
    users. Decorate tool functions with :func:`agentcore_auth.requires_api_key` /
    :func:`~agentcore_auth.requires_access_token` (under ``@agent.tool_plain`` or
    ``@agent.tool``).

    The caller is read from one source, ``RunContext.deps`` (attributes or keys): an
    :class:`~agentcore_auth.IdentityHandle` under ``identity``
    (``deps=Deps(identity=identity_handle(user_token=jwt))``), or a plain ``user_id``
    (rename the keys with the ``*_key`` arguments), and set with
    :func:`agentcore_auth.identity_context` while each tool call runs. Anything next to
    a handle is refused. pydantic-ai does not record deps in message history or spans,
    but durable execution (Temporal, DBOS, Prefect) serializes them and apps log them:
    a raw ``user_token`` / ``workload_access_token`` string is refused with an error
    showing the handle (an :class:`~agentcore_auth.Secret` there is accepted).

    When a user must consent, the call is deferred for approval and the run ends with
    ``DeferredToolRequests`` (include it in ``output_type``); read the requests with
    :func:`~agentcore_auth_pydantic_ai.consent_requests`, show the URL, complete the
    session with :meth:`complete_consent`, and run again with ``message_history=`` and
    ``deferred_tool_results=consent_results(requests)``: the call runs as the same user.

    Args:
        resolver: where :meth:`complete_consent` finds its ``bedrock-agentcore`` client;
            default :func:`agentcore_auth.default_resolver`.
        client: a ``bedrock-agentcore`` boto3 client to use instead.
        sessions: a :class:`~agentcore_auth.integration.ConsentSessions` to share.
        retry_rejected: times to rerun a tool whose credential was refused before the
            error reaches the model; 0 disables.
        redactor: scrubs tool results, errors and model input; default the global one.
        user_id_key: deps key of the user id.
        user_token_key: deps key of the user's JWT.
        workload_access_token_key: deps key of a workload access token.
        max_sessions: consent sessions remembered (default sessions only).
        handle_key: deps key of an identity handle.
        allow_raw_tokens: accept raw token strings in deps (the old way).
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
        handle_key: str = "identity",
        allow_raw_tokens: bool = False,
    ) -> None:
        if isinstance(retry_rejected, bool) or not isinstance(retry_rejected, int) or (
                retry_rejected < 0):
            raise ConfigurationError("retry_rejected= must be an int >= 0")
        self.sessions = sessions or ConsentSessions(resolver, client=client,
                                                    max_sessions=max_sessions)
        self._retry_rejected = retry_rejected
        self._redactor = redactor
        self._keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key,
                                  handle_key)
        self._allow_raw = allow_raw_tokens

    # --- tool calls ------------------------------------------------------------------

    async def wrap_tool_execute(self, ctx: RunContext[Any], *, call: ToolCallPart,
                                tool_def: ToolDefinition, args: ValidatedToolArgs,
                                handler: WrapToolExecuteHandler) -> Any:
        """Run the call as its caller; consent becomes ``ApprovalRequired``; result scrubbed."""
        identity = identity_from(ctx.deps, keys=self._keys, allow_raw_tokens=self._allow_raw,
                                 where="deps")
        for attempt in range(self._retry_rejected + 1):
            try:
                with identity_scope(identity):
                    return self._scrub(await handler(args))
            except Exception as exc:  # noqa: BLE001 - sorted out below
                failure = exc
            pending = find_exception(failure, AuthorizationRequiredError)
            if pending is not None:
                await self.sessions.aremember(pending, identity)
                if ctx.tool_call_approved:  # approved, yet the user has not consented
                    return (f"The user has not completed the authorization for "
                            f"{pending.provider_name!r}; ask them to finish it, then try again.")
                # The run ends with DeferredToolRequests; the app answers in the next run.
                raise ApprovalRequired({"type": CONSENT_METADATA,
                                        **ConsentRequest.from_error(pending).to_dict()}) from None
            if find_exception(failure, CredentialRejectedError) is None or (
                    attempt >= self._retry_rejected):
                break
        error = scrub_error(failure, self._redactor)
        if error is failure:
            raise failure
        raise error from None

    def _scrub(self, result: Any) -> Any:
        scrubbed = scrub_result(result, self._redactor)
        if isinstance(result, _PLAIN):
            return scrubbed
        # A model or dataclass: scrub its JSON form, which is what the model gets.
        plain = pydantic_core.to_jsonable_python(result, fallback=repr)
        clean = scrub_result(plain, self._redactor)
        return result if clean == plain else clean

    # --- model requests --------------------------------------------------------------

    async def prepare_model_request(self, ctx: RunContext[Any],
                                    request_context: ModelRequestContext) -> ModelRequestContext:
        """Send the model scrubbed messages (history stays as it is)."""
        request_context.messages = [self._scrub_message(m) for m in request_context.messages]
        return request_context

    def _scrub_message(self, message: ModelMessage) -> ModelMessage:
        parts = []
        for part in message.parts:
            update = {}
            for field in ("content", "args"):
                value = getattr(part, field, None)
                if value is not None:
                    scrubbed = scrub_result(value, self._redactor)
                    if scrubbed != value:
                        update[field] = scrubbed
            parts.append(dataclasses.replace(part, **update) if update else part)
        return dataclasses.replace(message, parts=parts)  # type: ignore[arg-type]

    # --- completing consent ----------------------------------------------------------

    def complete_consent(self, session_uri: str, *, user_id: str | None = None,
                         user_token: str | Secret | None = None) -> None:
        """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

        Call it from the app's OAuth2 return URL handler (it receives ``session_id``)
        with exactly one of ``user_id`` or ``user_token`` of the signed-in user.

        Raises:
            AccessDeniedError: unknown session, or one started for another user.
            CredentialError: the service refused to complete the session.
        """
        self.sessions.complete(session_uri, user_id=user_id, user_token=user_token)

    async def acomplete_consent(self, session_uri: str, *, user_id: str | None = None,
                                user_token: str | Secret | None = None) -> None:
        """Async twin of :meth:`complete_consent`."""
        await self.sessions.acomplete(session_uri, user_id=user_id, user_token=user_token)
