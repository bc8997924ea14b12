"""agentcore_auth for LlamaIndex: identity from the workflow Context, consent as events.

Example:
    >>> from llama_index.core.agent.workflow import FunctionAgent
    >>> from agentcore_auth import requires_access_token
    >>> from agentcore_auth_llamaindex import consent_request, secure_tool
    >>>
    >>> @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... async def list_repos(*, access_token: str) -> list[str]:
    ...     "The user's repositories."
    >>>
    >>> agent = FunctionAgent(tools=[secure_tool(list_repos)], llm=...)
"""

from __future__ import annotations

from ._secure import (
    CONSENT_PREFIX,
    DECLINED,
    acomplete_consent,
    complete_consent,
    consent_request,
    consent_response,
    default_sessions,
    secure_tool,
)
from ._side_channels import scrubbed_events

__version__ = "0.1.0"

__all__ = ["CONSENT_PREFIX", "DECLINED", "acomplete_consent", "complete_consent",
           "consent_request", "consent_response", "default_sessions", "scrubbed_events",
           "secure_tool"]

for _name in ("acomplete_consent", "complete_consent", "consent_request", "consent_response",
              "default_sessions", "scrubbed_events", "secure_tool"):
    globals()[_name].__module__ = __name__
