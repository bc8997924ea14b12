"""What the app reads from a run that ended with deferred tool requests: the consents to ask for."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic_ai import DeferredToolRequests, DeferredToolResults, ToolDenied

from agentcore_auth.integration import ConsentRequest as _Request

__all__ = ["CONSENT_METADATA", "ConsentRequest", "consent_requests", "consent_results"]

CONSENT_METADATA = "agentcore_auth.consent"
"""The ``type`` in the deferred-approval metadata of a call waiting for consent."""

DECLINED = "The user declined the authorization this tool needs; do not call it again for now."


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A tool call waiting for a user's OAuth2 consent, read with :func:`consent_requests`.

    Attributes:
        tool_call_id: the deferred tool call to approve once the user consented.
        provider_name: the credential provider that needs the user's consent.
        authorization_url: the URL to show the user. Sensitive (it carries a session
            reference): show it to that user only.
        session_uri: the AgentCore session, for
            :meth:`~agentcore_auth_pydantic_ai.AgentCoreAuthCapability.complete_consent`.
    """

    tool_call_id: str
    provider_name: str | None
    authorization_url: str
    session_uri: str | None

    def results(self, *, declined: bool = False) -> DeferredToolResults:
        """``DeferredToolResults`` answering this call alone (see :func:`consent_results`)."""
        return consent_results([self], declined=declined)


def consent_requests(output: Any) -> list[ConsentRequest]:
    """The consent requests of a run's output (``result.output``) or of the result itself.

    Other deferred calls (approvals of the app's own, external calls) are left out:
    answer them as usual, in the same ``DeferredToolResults``.

    Example:
        >>> result = await agent.run("list my files", deps=Deps(user_id="alice"))
        >>> for request in consent_requests(result.output):
        ...     show(request.authorization_url)
    """
    output = getattr(output, "output", output)
    if not isinstance(output, DeferredToolRequests):
        return []
    found = []
    for call in output.approvals:
        metadata = output.metadata.get(call.tool_call_id) or {}
        if metadata.get("type") != CONSENT_METADATA:
            continue
        request = _Request.from_mapping(metadata)
        if request is not None:
            found.append(ConsentRequest(call.tool_call_id, request.provider_name,
                                        request.authorization_url, request.session_uri))
    return found


def consent_results(requests: Iterable[ConsentRequest], *, declined: bool = False,
                    into: DeferredToolResults | None = None) -> DeferredToolResults:
    """``DeferredToolResults`` approving (or declining) ``requests``, for the next run.

    Approve once the user consented and the session was completed: each tool call then
    runs again as the same user. Declined, the call is not run and the model is told.
    Pass ``into=`` to add them to results the app already has for other deferred calls.
    """
    results = into if into is not None else DeferredToolResults()
    for request in requests:
        results.approvals[request.tool_call_id] = (ToolDenied(DECLINED) if declined else True)
    return results
