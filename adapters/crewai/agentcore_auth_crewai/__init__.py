"""agentcore_auth for CrewAI: identity from the crew's inputs, consent as a link, no shared cache.

Example:
    >>> from crewai.tools import tool
    >>> from agentcore_auth import identity_handle, requires_access_token
    >>> from agentcore_auth_crewai import register_hooks, secure_tool
    >>>
    >>> @tool("list_repos")
    ... @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... def list_repos(*, access_token: str) -> list[str]:
    ...     "The user's repositories."
    >>>
    >>> unregister = register_hooks()
    >>> agent = Agent(role=..., goal=..., backstory=..., tools=[secure_tool(list_repos)])
    >>> crew.kickoff(inputs={"identity": identity_handle(user_token=verified_jwt)})
"""

from __future__ import annotations

from ._secure import (
    acomplete_consent,
    complete_consent,
    consent_message,
    default_pending,
    default_sessions,
    pending_consents,
    register_hooks,
    secure_tool,
)

__version__ = "0.1.0"

__all__ = ["acomplete_consent", "complete_consent", "consent_message", "default_pending",
           "default_sessions",
           "pending_consents", "register_hooks", "secure_tool"]

for _name in __all__:
    globals()[_name].__module__ = __name__
