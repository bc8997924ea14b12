"""The official ``mcp`` SDK: an ``MCPServer`` extension intercepting ``tools/call``."""

from __future__ import annotations

import dataclasses
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, CallToolRequestParams, CallToolResult, TextContent
from starlette.requests import Request

from agentcore_auth import CredentialRejectedError, CredentialResolver, Redactor
from agentcore_auth.integration import (
    ConsentSessions,
    consent_handler,
    identity_scope,
    rejection_handler,
    scrub_result,
)

from ._core import AuthCore, Caller, IdentityMapping, url_elicitation
from ._rounds import DEFAULT_STATE_TTL, multi_round_trip
from ._side_channels import scrubbed_session

NO_IDENTITY = ("This request carried no caller identity (a verified bearer token, or the "
               "X-Amz-Bedrock-AgentCore-Identity-WAT header on AgentCore Runtime); a tool "
               "using the caller's credentials cannot run without one.")


class _RefusedError(MCPError):
    """Carries a final refusal through the SDK's tool runner (which passes MCPError on)."""

    def __init__(self, refused: CredentialRejectedError) -> None:
        super().__init__(INTERNAL_ERROR, str(refused))
        # Set while the credential backs off (the source returned the refused value
        # again): a rerun would fail the same way.
        self.backing_off = refused.retry_after is not None


class _ConsentNeededError(MCPError):
    """Carries "consent needed" (2026-07-28) out of the SDK's tool runner; nothing secret."""

    def __init__(self) -> None:
        super().__init__(INTERNAL_ERROR, "user consent is required")


class AgentCoreAuthExtension(AuthCore, Extension):
    """Per-user credentials in ``MCPServer`` tools; consent as a URL elicitation.

    Around each ``tools/call`` it sets the caller's identity and binds a needed
    consent's session to the caller. How the consent reaches the client follows the
    request's protocol version: on 2026-07-28 an ``input_required`` result with a
    URL-mode ``elicitation/create`` and a ``requestState`` bound to the caller and the
    tool (sealed by the SDK), checked on the retry, which runs the tool again (the
    service says whether the consent completed) or asks again; on 2025-11-25 and
    older the -32042 error, raised where the decorated tool raises it (the extension
    itself only sees the finished result). It scrubs the result, and what the tool sends
    through its ``Context`` (log notifications, progress messages). A refused
    credential is refetched and the call made once more by the decorators; if it is
    still refused, the extension reruns the tool (``retry_rejected`` times), then
    answers with a tool error saying so (the SDK's own would only say "Error
    executing tool").

    Args:
        resolver: where :meth:`complete_consent` finds its ``bedrock-agentcore`` client.
        client: that client instead.
        sessions: consent sessions to share (e.g. over a shared store).
        identity: maps a :class:`Caller` to ``identity_context`` arguments; default
            :func:`default_identity` (the verified bearer token, the Runtime header).
        redactor: scrubs results; default the global one.
        max_sessions: consent sessions remembered (default sessions only).
        retry_rejected: reruns of a tool whose credential was refused (0 disables).
        request_state_ttl: seconds a consent ``requestState`` is honoured (2026-07-28;
            the SDK's own seal TTL applies too).

    Example:
        >>> server = MCPServer("files", token_verifier=verifier, auth=settings,
        ...                    extensions=[AgentCoreAuthExtension()])
    """

    identifier = "io.github.agentcore-auth/credentials"

    def __init__(self, resolver: CredentialResolver | None = None, *, client: Any = None,
                 sessions: ConsentSessions | None = None, identity: IdentityMapping | None = None,
                 redactor: Redactor | None = None, max_sessions: int = 10_000,
                 retry_rejected: int = 1, request_state_ttl: float = DEFAULT_STATE_TTL) -> None:
        AuthCore.__init__(self, resolver, client=client, sessions=sessions, identity=identity,
                          redactor=redactor, max_sessions=max_sessions,
                          retry_rejected=retry_rejected, request_state_ttl=request_state_ttl)

    async def intercept_tool_call(self, params: CallToolRequestParams,
                                  ctx: ServerRequestContext[Any, Any],
                                  call_next: CallNext) -> HandlerResult:
        """Run the call as its caller; a needed consent leaves as input-required or -32042."""
        identity = self.identity_of(_caller(ctx))
        on_consent: Any = url_elicitation
        pending = None
        if multi_round_trip(ctx.protocol_version):
            declined = self.rounds.check_retry(params.request_state, params.input_responses,
                                               identity, params.name)
            if declined is not None:
                return CallToolResult(content=[TextContent(type="text", text=declined)],
                                      is_error=True)
            pending, on_consent = self.rounds.handler(_ConsentNeededError, identity)
        # The handler's logs, progress and elicitations leave through this session.
        ctx = dataclasses.replace(ctx, session=scrubbed_session(ctx.session, self._redactor))
        for attempt in range(self._retry_rejected + 1):
            try:
                with identity_scope(identity), consent_handler(on_consent), \
                        rejection_handler(_RefusedError):
                    result = await call_next(ctx)
                break
            except _ConsentNeededError:
                assert pending is not None  # noqa: S101 - only the 2026-07-28 handler raises it
                return await self.rounds.input_required(pending, identity, params.name)
            except _RefusedError as exc:
                refused = exc
            except MCPError as exc:
                await self.remember(exc, identity)
                raise
            if attempt >= self._retry_rejected or refused.backing_off:
                text = scrub_result(f"Error executing tool {params.name}: {refused.error.message}",
                                    self._redactor)
                result = CallToolResult(content=[TextContent(type="text", text=text)],
                                        is_error=True)
                break
        if not isinstance(result, CallToolResult):
            return result
        if result.is_error and not identity:
            result = result.model_copy(update={"content": [
                *result.content, TextContent(type="text", text=NO_IDENTITY)]})
        scrubbed: CallToolResult = self.scrub(result)
        return scrubbed


def _caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request if isinstance(ctx.request, Request) else None
    token = None
    if request is not None:
        token = getattr(request.scope.get("user"), "access_token", None)
    headers = {k.lower(): v for k, v in request.headers.items()} if request is not None else {}
    return Caller(token or get_access_token(), headers, request)
