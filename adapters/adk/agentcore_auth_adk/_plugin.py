"""AgentCoreAuthPlugin: agentcore_auth in a Google ADK runner, on :mod:`agentcore_auth.integration`.

An ADK ``BasePlugin`` with public ADK APIs only: ``before_tool_callback`` enters the
caller's identity (``ToolContext.user_id``, plus the session state) and the after-tool
and tool-error callbacks leave it; a needed consent becomes ADK's own credential request
(``tool_context.request_credential``: an ``adk_request_credential`` event carrying the
authorization URL), the tool re-run as the same user when the client answers it; results
are scrubbed in the after-tool callback and model input in ``before_model_callback``.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any, Literal

from fastapi.openapi.models import OAuth2, OAuthFlowAuthorizationCode, OAuthFlows
from google.adk.agents.callback_context import CallbackContext
from google.adk.auth.auth_credential import AuthCredential, AuthCredentialTypes, OAuth2Auth
from google.adk.auth.auth_tool import AuthConfig
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.plugins.base_plugin import BasePlugin
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.tool_context import ToolContext

from agentcore_auth import (
    AccessDeniedError,
    AuthorizationRequiredError,
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
    identity_key,
    identity_scope,
    scrub_result,
)

from ._side_channels import scrub_event

__all__ = ["AgentCoreAuthPlugin"]

_MAX_PENDING = 10_000


class AgentCoreAuthPlugin(BasePlugin):
    """Identity, consent and redaction for agentcore_auth tools in an ADK runner.

    ``Runner(..., plugins=[AgentCoreAuthPlugin()])`` (or ``App(plugins=[...])``). Each
    tool call, in the root agent and every sub-agent, runs with
    :func:`agentcore_auth.identity_context` set to one trusted identity: the ADK user
    (``ToolContext.user_id``, which the runner's caller sets), or an
    :class:`~agentcore_auth.IdentityHandle` the app put in the session state under
    ``temp:identity`` (for a user JWT or a workload access token), whose user id, if it
    has one, must be ADK's. Session state is client-writable (``state_delta``), so a
    ``user_id`` there never names the caller, and ADK persists and traces it, so a raw
    ``user_token`` / ``workload_access_token`` there is refused with an error showing
    the handle.

    When the user must consent, the call asks ADK for a credential: the client gets an
    ``adk_request_credential`` event (see :meth:`consent_requests`), shows the URL,
    completes the session (:meth:`complete_consent`, from the OAuth2 return URL
    handler) and answers the event (:func:`~agentcore_auth_adk.consent_response`); ADK
    then runs the tool again, as the same user.

    Args:
        resolver: where :meth:`complete_consent` finds its ``bedrock-agentcore`` client;
            default :func:`agentcore_auth.default_resolver`.
        client: a ``bedrock-agentcore`` boto3 client to use instead.
        redactor: scrubs tool results and model input; default the global one.
        use_adk_user_id: take the user id from ``ToolContext.user_id`` (default); False
            reads it from the session state under ``user_id_key`` only.
        user_id_key: session-state key of the user id (when ADK's is not used).
        user_token_key: session-state key of the user's JWT (refused raw).
        workload_access_token_key: session-state key of a workload access token (likewise).
        prefer: ``"user_token"`` or ``"user_id"``: which one decides when both are found.
        max_sessions: consent sessions remembered for :meth:`complete_consent`.
        handle_key: session-state key of an identity handle.
        allow_raw_tokens: accept raw tokens in the session state, next to ADK's user id
            (the old way; outside ``temp:`` keys ADK then persists them: do not).
    """

    def __init__(
        self,
        resolver: CredentialResolver | None = None,
        *,
        client: Any = None,
        redactor: Redactor | None = None,
        use_adk_user_id: bool = True,
        user_id_key: str = "user_id",
        user_token_key: str = "temp:user_token",  # noqa: S107 - a key name, not a token
        workload_access_token_key: str = "temp:workload_access_token",  # noqa: S107 - likewise
        prefer: Literal["user_id", "user_token"] | None = None,
        max_sessions: int = 10_000,
        name: str = "agentcore-auth",
        handle_key: str = "temp:identity",
        allow_raw_tokens: bool = False,
    ) -> None:
        super().__init__(name)
        self._redactor = redactor
        self._adk_user = use_adk_user_id
        self._keys = IdentityKeys(user_id_key, user_token_key, workload_access_token_key,
                                  handle_key)
        self._allow_raw = allow_raw_tokens
        self._prefer = prefer
        identity_from(prefer=prefer)  # validates prefer=
        self.sessions = ConsentSessions(resolver, client=client, max_sessions=max_sessions)
        """The consent sessions this plugin started (see :class:`ConsentSessions`)."""
        self._scopes: dict[int, ExitStack] = {}
        # (whole-identity hash, function call id) -> its consent: never the call id alone
        self._asked: dict[tuple[str | None, str], ConsentRequest] = {}
        self._lock = threading.Lock()

    def identity(self, tool_context: ToolContext) -> dict[str, Any]:
        """The ``identity_context`` arguments of a tool call."""
        state = tool_context.state.to_dict()
        found = identity_from(state, keys=self._keys, prefer=self._prefer,
                              allow_raw_tokens=self._allow_raw, where="the ADK session state")
        if not self._adk_user:
            return found
        user = tool_context.user_id
        if state.get(self._keys.handle):  # the handle decides alone (checked by identity_from)
            if found.get("user_id") not in (None, user):
                raise AccessDeniedError("the identity handle in the session state is for "
                                        "another user than the ADK user running this call")
            return found
        found.pop("user_id", None)  # client-writable state never names the user
        identity = identity_from({"user_id": user, **found}, keys=IdentityKeys(),
                                 prefer=self._prefer, allow_raw_tokens=True)
        return identity

    async def before_tool_callback(self, *, tool: BaseTool, tool_args: dict[str, Any],
                                   tool_context: ToolContext) -> dict[str, Any] | None:
        """Enter the caller's identity for the call (the tool runs in this context)."""
        stack = ExitStack()
        stack.enter_context(identity_scope(self.identity(tool_context)))
        self._scopes[id(tool_context)] = stack
        return None

    def _leave(self, tool_context: ToolContext) -> None:
        stack = self._scopes.pop(id(tool_context), None)
        if stack is not None:
            stack.close()

    async def after_tool_callback(self, *, tool: BaseTool, tool_args: dict[str, Any],
                                  tool_context: ToolContext,
                                  result: dict[str, Any]) -> dict[str, Any] | None:
        """Leave the identity; the result, scrubbed, replaces the tool's."""
        self._leave(tool_context)
        scrubbed: dict[str, Any] = scrub_result(result, self._redactor)
        return scrubbed

    async def on_tool_error_callback(self, *, tool: BaseTool, tool_args: dict[str, Any],
                                     tool_context: ToolContext,
                                     error: Exception) -> dict[str, Any] | None:
        """Turn a needed consent into ADK's credential request; leave other errors alone."""
        identity = self.identity(tool_context)
        self._leave(tool_context)
        pending = find_exception(error, AuthorizationRequiredError)
        call_id = tool_context.function_call_id
        if pending is None or not call_id:
            return None
        with identity_scope(identity):
            key = (identity_key(), call_id)
        with self._lock:
            asked = self._asked.pop(key, None)
        if asked is not None:  # re-run after the client answered, yet still not consented
            return {"status": "error", "error": (
                f"The user has not completed the authorization for {pending.provider_name!r}; "
                "ask them to finish it, then try again.")}
        await self.sessions.aremember(pending, identity)
        request = ConsentRequest.from_error(pending)
        with self._lock:
            self._asked[key] = request
            while len(self._asked) > _MAX_PENDING:
                self._asked.pop(next(iter(self._asked)))
        tool_context.request_credential(_auth_config(request))
        return {"status": "authorization_required",
                "message": f"Waiting for the user to authorize {pending.provider_name!r}."}

    async def before_model_callback(self, *, callback_context: CallbackContext,
                                    llm_request: LlmRequest) -> LlmResponse | None:
        """Scrub every registered value out of what the model is sent."""
        for content in llm_request.contents:
            for part in content.parts or []:
                if part.text:
                    part.text = scrub_result(part.text, self._redactor)
                if part.function_response is not None and part.function_response.response:
                    part.function_response.response = scrub_result(
                        part.function_response.response, self._redactor)
                if part.function_call is not None and part.function_call.args:
                    part.function_call.args = scrub_result(part.function_call.args,
                                                           self._redactor)
        return None

    async def on_event_callback(self, *, invocation_context: Any, event: Any) -> Any:
        """Scrub each event (text, function responses, state deltas) before it is yielded."""
        return scrub_event(event, self._redactor)

    def pending_consent(self, function_call_id: str, *,
                        user_id: str | None = None) -> ConsentRequest | None:
        """The consent a tool call of this user is waiting for, if any.

        The user is ``user_id``, or else the current identity (e.g. a handle's, inside
        ``identity_context(handle)``); another user's call with the same id is not seen.
        """
        with identity_scope({"user_id": user_id} if user_id else None):
            key = (identity_key(), function_call_id)
        with self._lock:
            return self._asked.get(key)

    def complete_consent(self, session_uri: str, *, user_id: str | None = None,
                         user_token: str | Secret | None = None) -> None:
        """Call ``CompleteResourceTokenAuth`` for a session, as the user who started it.

        Raises:
            AccessDeniedError: unknown session, or one started for another user.
            CredentialError: the service refused to complete the session.
        """
        self.sessions.complete(session_uri, user_id=user_id, user_token=user_token)

    async def acomplete_consent(self, session_uri: str, *, user_id: str | None = None,
                                user_token: str | Secret | None = None) -> None:
        """Async twin of :meth:`complete_consent`."""
        await self.sessions.acomplete(session_uri, user_id=user_id, user_token=user_token)


def _auth_config(request: ConsentRequest) -> AuthConfig:
    """An OAuth2 ``AuthConfig`` whose exchanged credential carries the authorization URL."""
    url = request.authorization_url
    scheme = OAuth2(flows=OAuthFlows(authorizationCode=OAuthFlowAuthorizationCode(
        authorizationUrl=url, tokenUrl="urn:agentcore-auth:token-vault")))
    credential = AuthCredential(auth_type=AuthCredentialTypes.OAUTH2,
                                oauth2=OAuth2Auth(auth_uri=url))
    return AuthConfig(auth_scheme=scheme, raw_auth_credential=credential,
                      exchanged_auth_credential=credential.model_copy(deep=True),
                      credential_key=f"agentcore_auth_{request.provider_name or 'oauth2'}")
