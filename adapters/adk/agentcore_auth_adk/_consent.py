"""What the client reads from ADK events and what it answers: ``adk_request_credential``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.adk.events.event import Event
from google.genai import types

__all__ = ["CONSENT_CALL", "ConsentRequest", "consent_requests", "consent_response"]

CONSENT_CALL = "adk_request_credential"


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """An ``adk_request_credential`` call raised for a user's consent.

    Attributes:
        call_id: the ``adk_request_credential`` function call's id (answer it).
        tool_call_id: the id of the tool call that ADK runs again once answered.
        authorization_url: the URL to show the user. Sensitive: show it to that user only.
        auth_config: the ``AuthConfig`` the request carries, as sent (a mapping).
    """

    call_id: str
    tool_call_id: str | None
    authorization_url: str
    auth_config: dict[str, Any]


def consent_requests(events: Iterable[Event]) -> list[ConsentRequest]:
    """The credential requests among ``events`` that carry an authorization URL.

    Example:
        >>> events = [e async for e in runner.run_async(user_id="alice", ...)]
        >>> for request in consent_requests(events):
        ...     show(request.authorization_url)
    """
    found = []
    for event in events:
        for call in event.get_function_calls():
            if call.name != CONSENT_CALL or not call.id:
                continue
            args = call.args or {}
            config = args.get("authConfig") or args.get("auth_config") or {}
            exchanged = (config.get("exchangedAuthCredential")
                         or config.get("exchanged_auth_credential") or {})
            url = (exchanged.get("oauth2") or {}).get("authUri") or (
                exchanged.get("oauth2") or {}).get("auth_uri")
            tool_call = args.get("functionCallId") or args.get("function_call_id")
            if isinstance(url, str) and url:
                found.append(ConsentRequest(call.id, tool_call if isinstance(tool_call, str)
                                            else None, url, dict(config)))
    return found


def consent_response(*requests: ConsentRequest) -> types.Content:
    """The user message answering ``requests``: ADK then runs their tool calls again.

    Send it once the user consented and the session was completed
    (:meth:`~agentcore_auth_adk.AgentCoreAuthPlugin.complete_consent`).
    """
    return types.Content(role="user", parts=[
        types.Part(function_response=types.FunctionResponse(
            id=r.call_id, name=CONSENT_CALL, response=r.auth_config)) for r in requests])
