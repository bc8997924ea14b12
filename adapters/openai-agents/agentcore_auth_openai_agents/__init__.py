"""agentcore_auth for the OpenAI Agents SDK: identity, consent through approvals, redaction.

Example:
    >>> from agents import Agent, RunConfig, Runner, function_tool
    >>> from agentcore_auth import identity_handle, requires_access_token
    >>> from agentcore_auth_openai_agents import consent_requests, scrub_model_input, secure
    >>>
    >>> @function_tool
    ... @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... def list_repos(*, access_token: str) -> list[str]:
    ...     "The user's repositories."
    >>>
    >>> agent = secure(Agent(name="assistant", tools=[list_repos]))
    >>> config = RunConfig(call_model_input_filter=scrub_model_input)
    >>> handle = identity_handle(user_token=verified_jwt)  # never the JWT itself
    >>> result = await Runner.run(agent, "list my repos", context={"identity": handle},
    ...                           run_config=config)
    >>> requests = consent_requests(result)
"""

from __future__ import annotations

from ._consent import ConsentRequest, consent_requests
from ._secure import (
    acomplete_consent,
    complete_consent,
    default_pending,
    default_sessions,
    pending_consent,
    scrub_model_input,
    secure,
)

__version__ = "0.1.0"

__all__ = ["ConsentRequest", "acomplete_consent", "complete_consent", "consent_requests",
           "default_pending", "default_sessions", "pending_consent", "scrub_model_input", "secure"]

for _name in __all__:
    globals()[_name].__module__ = __name__
