"""agentcore_auth for Strands Agents: identity, consent and redaction as one plugin.

Example:
    >>> from strands import Agent, tool
    >>> from agentcore_auth import requires_access_token
    >>> from agentcore_auth_strands import AgentCoreAuthPlugin
    >>>
    >>> @tool
    ... @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... def list_repos(*, access_token: str) -> list[str]: ...
    >>>
    >>> agent = Agent(tools=[list_repos], plugins=[AgentCoreAuthPlugin()])
    >>> result = agent("list my repos", invocation_state={"user_id": "alice"})
"""

from __future__ import annotations

from ._consent import CONSENT_INTERRUPT, ConsentRequest, consent_requests
from ._plugin import AgentCoreAuthPlugin

__version__ = "0.1.0"

__all__ = ["CONSENT_INTERRUPT", "AgentCoreAuthPlugin", "ConsentRequest", "consent_requests"]

for _name in ("AgentCoreAuthPlugin", "ConsentRequest", "consent_requests"):
    globals()[_name].__module__ = __name__
