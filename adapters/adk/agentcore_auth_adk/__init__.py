"""agentcore_auth for Google ADK: identity per tool call, consent as ADK credential requests.

Example:
    >>> from google.adk.agents import LlmAgent
    >>> from google.adk.runners import InMemoryRunner
    >>> from agentcore_auth import requires_access_token
    >>> from agentcore_auth_adk import AgentCoreAuthPlugin, consent_requests
    >>>
    >>> @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... def list_repos(*, access_token: str) -> list[str]:
    ...     "The user's repositories."
    >>>
    >>> plugin = AgentCoreAuthPlugin()
    >>> runner = InMemoryRunner(agent=LlmAgent(name="a", model=..., tools=[list_repos]),
    ...                         plugins=[plugin])
"""

from __future__ import annotations

from ._consent import CONSENT_CALL, ConsentRequest, consent_requests, consent_response
from ._plugin import AgentCoreAuthPlugin

__version__ = "0.1.0"

__all__ = ["CONSENT_CALL", "AgentCoreAuthPlugin", "ConsentRequest", "consent_requests",
           "consent_response"]

for _name in ("AgentCoreAuthPlugin", "ConsentRequest", "consent_requests", "consent_response"):
    globals()[_name].__module__ = __name__
