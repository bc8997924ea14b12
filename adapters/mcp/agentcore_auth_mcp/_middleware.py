"""FastMCP: a middleware around ``tools/call``."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import mcp_types as mt
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import fastmcp_request_ctx, get_access_token, get_http_request
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools.base import InputRequiredToolResult, ToolResult
from mcp.shared.exceptions import UrlElicitationRequiredError

from agentcore_auth import (
    AuthorizationRequiredError,
    CredentialRejectedError,
    CredentialResolver,
    Redactor,
)
from agentcore_auth.integration import (
    ConsentSessions,
    consent_handler,
    credential_requirements,
    find_exception,
    identity_scope,
    scrub_error,
)

from ._core import AuthCore, Caller, IdentityMapping, url_elicitation
from ._extension import NO_IDENTITY
from ._rounds import DEFAULT_STATE_TTL, multi_round_trip
from ._side_channels import scrubbed_session


class _ConsentPendingError(ToolError):
    """Carries the elicitation out of FastMCP's tool runner (logged at DEBUG, no traceback)."""

    def __init__(self, elicitation: UrlElicitationRequiredError) -> None:
        super().__init__(str(elicitation), log_level=logging.DEBUG)
        self.elicitation = elicitation


class _ConsentNeededError(ToolError):
    """Carries "consent needed" (2026-07-28) out of FastMCP's tool runner; nothing secret."""

    def __init__(self) -> None:
        super().__init__("user consent is required", log_level=logging.DEBUG)


def _pending(pending: AuthorizationRequiredError) -> BaseException:
    return _ConsentPendingError(url_elicitation(pending))


class AgentCoreAuthMiddleware(AuthCore, Middleware):
    """Per-user credentials in FastMCP tools; consent as a URL elicitation.

    Around each tool call it sets the caller's identity and turns a needed consent,
    bound to the caller's consent session, into what the request's protocol has: on
    2026-07-28 an ``input_required`` result (a URL-mode ``elicitation/create``, a
    ``requestState`` bound to the caller and the tool, sealed by FastMCP, checked on
    the retry), on 2025-11-25 and older ``UrlElicitationRequiredError`` (-32042). It retries
    once on :class:`~agentcore_auth.CredentialRejectedError`, and scrubs results
    and error texts, and what the tool sends through its ``Context`` (``ctx.info()``
    and the other log notifications, ``report_progress(message=...)``). A tool using
    the caller's credentials, called with no caller identity, gets a clear tool error.

    Args: as :class:`~agentcore_auth_mcp.AgentCoreAuthExtension`.

    Example:
        >>> mcp = FastMCP("files", auth=verifier, middleware=[AgentCoreAuthMiddleware()])
    """

    def __init__(self, resolver: CredentialResolver | None = None, *, client: Any = None,
                 sessions: ConsentSessions | None = None, identity: IdentityMapping | None = None,
                 redactor: Redactor | None = None, max_sessions: int = 10_000,
                 retry_rejected: int = 1, request_state_ttl: float = DEFAULT_STATE_TTL) -> None:
        AuthCore.__init__(self, resolver, client=client, sessions=sessions, identity=identity,
                          redactor=redactor, max_sessions=max_sessions,
                          retry_rejected=retry_rejected, request_state_ttl=request_state_ttl)

    async def on_call_tool(self, context: MiddlewareContext[mt.CallToolRequestParams],
                           call_next: CallNext[mt.CallToolRequestParams, ToolResult],
                           ) -> ToolResult:
        """Run the call as its caller; a needed consent leaves as input-required or -32042."""
        identity = self.identity_of(_caller())
        if not identity and await self._needs_user(context):
            raise ToolError(NO_IDENTITY)
        fctx = context.fastmcp_context
        request = fctx.request_context if fctx is not None else None
        on_consent: Any = _pending
        pending = None
        if fctx is not None and multi_round_trip(getattr(request, "protocol_version", None)):
            declined = self.rounds.check_retry(fctx.request_state, fctx.input_responses,
                                               identity, context.message.name)
            if declined is not None:
                raise ToolError(declined)
            pending, on_consent = self.rounds.handler(_ConsentNeededError, identity)
        for attempt in range(self._retry_rejected + 1):
            bound = fastmcp_request_ctx.get()
            token = None if bound is None else fastmcp_request_ctx.set(dataclasses.replace(
                bound, session=scrubbed_session(bound.session, self._redactor)))
            try:
                with identity_scope(identity), consent_handler(on_consent):
                    return self.scrub(await call_next(context))  # type: ignore[no-any-return]
            except Exception as exc:  # noqa: BLE001 - sorted out below
                failure = exc
            finally:
                if token is not None:
                    fastmcp_request_ctx.reset(token)
            if pending is not None and find_exception(failure, _ConsentNeededError) is not None:
                return InputRequiredToolResult(await self.rounds.input_required(
                    pending, identity, context.message.name))
            consent = find_exception(failure, _ConsentPendingError)
            if consent is not None:
                await self.remember(failure, identity)
                raise consent.elicitation from None
            rejected = find_exception(failure, CredentialRejectedError)
            if rejected is None or rejected.retry_after is not None or (
                    attempt >= self._retry_rejected):
                break  # retry_after: the credential backs off, a rerun would fail the same way
        error = scrub_error(failure, self._redactor)
        if error is failure:
            raise failure
        raise error from None

    async def _needs_user(self, context: MiddlewareContext[mt.CallToolRequestParams]) -> bool:
        server = context.fastmcp_context.fastmcp if context.fastmcp_context else None
        tool = await server.get_tool(context.message.name) if server is not None else None
        fn = getattr(tool, "fn", None)
        return any(r.user_bound for r in credential_requirements(fn))


def _caller() -> Caller:
    try:
        request = get_http_request()
    except RuntimeError:  # stdio
        request = None
    headers = {k.lower(): v for k, v in request.headers.items()} if request is not None else {}
    return Caller(get_access_token(), headers, request)
