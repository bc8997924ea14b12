"""What the app reads from an interrupted LangGraph run: the consent requests to answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.types import Command

from agentcore_auth.integration import ConsentRequest as _Request

__all__ = ["CONSENT_INTERRUPT", "ConsentRequest", "consent_requests"]

CONSENT_INTERRUPT = "agentcore_auth.consent"
"""The ``type`` of the consent interrupts the middleware raises (one per tool call)."""

Answer = Literal["consented", "declined"]


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A pending OAuth2 consent, read from an interrupted run with :func:`consent_requests`.

    Attributes:
        interrupt_id: the LangGraph interrupt to answer.
        provider_name: the credential provider that needs the user's consent.
        authorization_url: the URL to show the user. Sensitive (it carries a session
            reference): show it to that user only.
        session_uri: the AgentCore session, for
            :meth:`~agentcore_auth_langchain.AgentCoreAuthMiddleware.complete_consent`.
        tool_call_id: the tool call that needs it.
    """

    interrupt_id: str
    provider_name: str | None
    authorization_url: str
    session_uri: str | None
    tool_call_id: str | None = None

    def respond(self, *, declined: bool = False) -> dict[str, Any]:
        """This interrupt's entry of a ``Command(resume={...})`` mapping.

        Merge several with ``{**a.respond(), **b.respond()}`` when one run asked for
        more than one consent.
        """
        answer: Answer = "declined" if declined else "consented"
        return {self.interrupt_id: {CONSENT_INTERRUPT: answer}}

    def resume(self, *, declined: bool = False) -> Command[Any]:
        """``Command(resume=...)`` answering this interrupt alone.

        Resume once the user has consented (and the session was completed): the tool
        runs again as the same user. With ``declined=True`` it is not run again and
        the model gets a tool message saying so. Pass the same ``config`` (thread)
        and ``context`` as the interrupted call.
        """
        return Command(resume=self.respond(declined=declined))


def consent_requests(result: Any) -> list[ConsentRequest]:
    """The consent interrupts of an ``invoke`` result, a ``StateSnapshot`` or interrupts.

    Example:
        >>> result = agent.invoke({"messages": [...]}, config, context=Ctx(user_id="alice"))
        >>> for request in consent_requests(result):
        ...     show(request.authorization_url)
    """
    if isinstance(result, Mapping):
        interrupts: Iterable[Any] = result.get("__interrupt__") or ()
    elif hasattr(result, "interrupts"):  # StateSnapshot
        interrupts = result.interrupts or ()
    else:
        interrupts = result or ()
    found = []
    for interrupt in interrupts:
        value = getattr(interrupt, "value", None)
        if not isinstance(value, Mapping) or value.get("type") != CONSENT_INTERRUPT:
            continue
        request = _Request.from_mapping(value)
        if request is not None:
            tool_call_id = value.get("tool_call_id")
            found.append(ConsentRequest(
                str(interrupt.id), request.provider_name, request.authorization_url,
                request.session_uri, tool_call_id if isinstance(tool_call_id, str) else None))
    return found


def parse_answer(value: Any) -> Answer | None:
    """Our answer in a resume value, or None when the value is not an answer of ours."""
    if isinstance(value, Mapping):
        value = value.get(CONSENT_INTERRUPT)
    if value in ("consented", "declined"):
        return value  # type: ignore[no-any-return]
    return None
