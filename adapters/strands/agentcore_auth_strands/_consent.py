"""What the app reads from an interrupted Strands agent: the consent requests to answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcore_auth.integration import ConsentRequest as _Request

if TYPE_CHECKING:
    from strands.agent import AgentResult

__all__ = ["CONSENT_INTERRUPT", "ConsentRequest", "consent_requests"]

CONSENT_INTERRUPT = "agentcore_auth.consent"
"""The ``name`` of the consent interrupts the plugin raises (one per tool call)."""


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
        request = _Request.from_mapping(reason) if isinstance(reason, Mapping) else None
        if interrupt.name == CONSENT_INTERRUPT and request is not None:
            found.append(ConsentRequest(interrupt.id, request.provider_name,
                                        request.authorization_url, request.session_uri))
    return found
