"""What the app reads from an interrupted run: the tool calls waiting for a user's consent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import RunState, ToolApprovalItem

from ._secure import pending_consent

__all__ = ["ConsentRequest", "consent_requests"]

DECLINED = "The user declined the authorization this tool needs; do not call it again for now."


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A tool call waiting for approval because its user must consent first.

    Attributes:
        item: the SDK's interruption (``result.interruptions``) to approve or reject.
        call_id: the tool call's id.
        provider_name: the credential provider that needs the user's consent.
        authorization_url: the URL to show the user. Sensitive (it carries a session
            reference): show it to that user only.
        session_uri: the AgentCore session, for
            :func:`~agentcore_auth_openai_agents.complete_consent`.
    """

    item: ToolApprovalItem
    call_id: str
    provider_name: str | None
    authorization_url: str
    session_uri: str | None

    def approve(self, state: RunState[Any, Any]) -> None:
        """Approve the call in ``state`` (``result.to_state()``) once the user consented.

        Then ``Runner.run(agent, state, context=...)``: the tool runs as the same user.
        """
        state.approve(self.item)

    def decline(self, state: RunState[Any, Any]) -> None:
        """Reject the call: it is not run and the model is told the user declined."""
        state.reject(self.item, rejection_message=DECLINED)


def consent_requests(result: Any) -> list[ConsentRequest]:
    """The consent requests among a run result's ``interruptions``.

    Other interruptions (the app's own approvals) are left out: answer them as usual.
    The links are kept with the run itself: each result shows only its own user's.

    Example:
        >>> result = await Runner.run(agent, "list my files", context={"identity": handle})
        >>> for request in consent_requests(result):
        ...     show(request.authorization_url)
    """
    items = getattr(result, "interruptions", None) or []
    found = []
    for item in items:
        if not isinstance(item, ToolApprovalItem):
            continue
        raw = item.raw_item
        call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
        request = pending_consent(result, call_id) if isinstance(call_id, str) else None
        if request is not None and call_id is not None:
            found.append(ConsentRequest(item, call_id, request.provider_name,
                                        request.authorization_url, request.session_uri))
    return found
