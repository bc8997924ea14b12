"""What the mcp SDK extension and the FastMCP middleware share: identity, consent, scrubbing."""

from __future__ import annotations

import hashlib
import inspect
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp_types import ElicitRequestURLParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from agentcore_auth import (
    AccessDeniedError,
    AuthorizationRequiredError,
    ConfigurationError,
    CredentialError,
    CredentialResolver,
    Redactor,
)
from agentcore_auth.integration import ConsentSessions, find_exception, scrub_result

from ._rounds import DEFAULT_STATE_TTL, ConsentRounds

WAT_HEADERS = ("x-amz-bedrock-agentcore-identity-wat", "workloadaccesstoken")
"""Headers carrying the workload access token on AgentCore Runtime (current, older)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """What a tool call's request says about its caller, for an ``identity=`` mapping.

    Attributes:
        access_token: the server's verified bearer token (``AccessToken``: ``.token``,
            ``.subject``, ``.claims``), or None without server auth.
        headers: the HTTP request's headers, lower-case (empty over stdio).
        request: the Starlette request, or None over stdio.
    """

    access_token: Any
    headers: Mapping[str, str]
    request: Request | None


IdentityMapping = Callable[[Caller], Mapping[str, Any] | None]


def default_identity(caller: Caller) -> dict[str, Any]:
    """The verified bearer token as ``user_token``; a Runtime workload token header as such."""
    found: dict[str, Any] = {}
    token = getattr(caller.access_token, "token", None)
    if isinstance(token, str) and token:
        found["user_token"] = token
    for header in WAT_HEADERS:
        if caller.headers.get(header):
            found["workload_access_token"] = caller.headers[header]
            break
    return found


def elicitation_id(pending: AuthorizationRequiredError) -> str:
    """A stable id for the consent session (a digest: the session URI itself stays private)."""
    if not pending.session_uri:
        return str(uuid.uuid4())
    return "agentcore-auth-" + hashlib.sha256(pending.session_uri.encode()).hexdigest()[:32]


def url_elicitation(pending: AuthorizationRequiredError) -> UrlElicitationRequiredError:
    """The spec's URL elicitation error (-32042) for a needed consent."""
    provider = pending.provider_name or "the service this tool calls"
    return UrlElicitationRequiredError([ElicitRequestURLParams(
        mode="url", url=pending.authorization_url, elicitation_id=elicitation_id(pending),
        message=f"Authorize access to {provider}, then retry.")],
        message=f"Authorization required for {provider}")


Identify = Callable[[Request], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


class AuthCore:
    """Per-call identity, consent sessions, scrubbing and the return-URL handler."""

    def __init__(self, resolver: CredentialResolver | None, *, client: Any,
                 sessions: ConsentSessions | None, identity: IdentityMapping | None,
                 redactor: Redactor | None, max_sessions: int, retry_rejected: int,
                 request_state_ttl: float = DEFAULT_STATE_TTL) -> None:
        if isinstance(retry_rejected, bool) or not isinstance(retry_rejected, int) or (
                retry_rejected < 0):
            raise ConfigurationError("retry_rejected= must be an int >= 0")
        if identity is not None and not callable(identity):
            raise ConfigurationError("identity= must be a callable taking a Caller and "
                                     "returning identity_context arguments")
        self.sessions = sessions or ConsentSessions(resolver, client=client,
                                                    max_sessions=max_sessions)
        self._identity = identity or default_identity
        self._redactor = redactor
        self._retry_rejected = retry_rejected
        self.rounds = ConsentRounds(self.sessions, request_state_ttl)

    def identity_of(self, caller: Caller) -> dict[str, Any]:
        """The ``identity_context`` arguments for this caller (empty: nobody)."""
        found = self._identity(caller) or {}
        return {k: v for k, v in found.items() if v}

    async def remember(self, failure: BaseException, identity: Mapping[str, Any]) -> None:
        """Bind the consent session behind ``failure`` (if any) to the caller."""
        pending = find_exception(failure, AuthorizationRequiredError)
        if pending is not None:
            await self.sessions.aremember(pending, identity)

    def scrub(self, result: Any) -> Any:
        """``result`` (``CallToolResult`` or ``ToolResult``) with registered values redacted."""
        update: dict[str, Any] = {}
        content = [_scrub_block(b, self._redactor) for b in result.content]
        if any(new is not old for new, old in zip(content, result.content, strict=True)):
            update["content"] = content
        structured = scrub_result(result.structured_content, self._redactor)
        if structured != result.structured_content:
            update["structured_content"] = structured
        return result.model_copy(update=update) if update else result

    async def complete_consent(self, session_uri: str, *, user_id: str | None = None,
                               user_token: str | None = None) -> None:
        """Complete the consent session, as the user it was started for only."""
        await self.sessions.acomplete(session_uri, user_id=user_id, user_token=user_token)

    def return_url_handler(self, identify: Identify, *, done: str = "Authorization complete: "
                           "return to your assistant and retry.",
                           ) -> Callable[[Request], Awaitable[Response]]:
        """A Starlette endpoint for the OAuth2 return URL (``?session_id=...``).

        ``identify(request)`` says who the signed-in browser user is (from the app's own
        session: a cookie, a header): ``{"user_id": ...}`` or ``{"user_token": ...}``,
        as the consent was started. The session is completed for that user only.
        """
        if not callable(identify):
            raise ConfigurationError("return_url_handler(identify) needs a callable returning "
                                     "{'user_id': ...} or {'user_token': ...} for a request")

        async def endpoint(request: Request) -> Response:
            session = request.query_params.get("session_id")
            if not session:
                return _page(400, "This page needs the session_id AgentCore Identity adds.")
            who = identify(request)
            if inspect.isawaitable(who):
                who = await who
            try:
                await self.complete_consent(session, user_id=who.get("user_id"),
                                            user_token=who.get("user_token"))
            except AccessDeniedError as exc:
                return _page(403, str(exc))
            except CredentialError as exc:
                return _page(502, str(exc))
            return _page(200, done)

        return endpoint


def _page(status: int, text: str) -> Response:
    return HTMLResponse(f"<!doctype html><title>Authorization</title><p>{escape(text)}</p>",
                        status_code=status)


def _scrub_block(block: Any, redactor: Redactor | None) -> Any:
    data = block.model_dump()
    scrubbed = scrub_result(data, redactor)
    return block if scrubbed == data else type(block).model_validate(scrubbed)
