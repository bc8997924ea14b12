"""ADK events scrubbed before the runner persists and yields them (``on_event_callback``)."""

from __future__ import annotations

from typing import Any

from agentcore_auth import Redactor
from agentcore_auth.integration import scrub_result

__all__ = ["scrub_event"]

_CONSENT_CALL = "adk_request_credential"


def scrub_event(event: Any, redactor: Redactor | None) -> Any:
    """A scrubbed copy of ``event`` (content parts, function responses, ``state_delta``).

    The consent request the plugin made itself (``requested_auth_configs`` and ADK's
    ``adk_request_credential`` call) is kept: it carries the authorization URL the
    user must open.
    """
    scrubbed = scrub_result(event, redactor)
    actions = getattr(event, "actions", None)
    if actions is not None and getattr(actions, "requested_auth_configs", None):
        scrubbed.actions.requested_auth_configs = actions.requested_auth_configs
    parts = getattr(getattr(event, "content", None), "parts", None) or []
    for i, part in enumerate(parts):
        call = getattr(part, "function_call", None)
        if call is not None and call.name == _CONSENT_CALL:
            scrubbed.content.parts[i] = part
    return scrubbed
