"""agentcore_auth for pydantic-ai: identity, consent and redaction as one capability.

Example:
    >>> from dataclasses import dataclass
    >>> from pydantic_ai import Agent, DeferredToolRequests
    >>> from agentcore_auth import requires_access_token
    >>> from agentcore_auth_pydantic_ai import (AgentCoreAuthCapability, consent_requests,
    ...                                         consent_results)
    >>>
    >>> @dataclass
    ... class Deps:
    ...     user_id: str
    >>>
    >>> auth = AgentCoreAuthCapability()
    >>> agent = Agent(model, deps_type=Deps, capabilities=[auth],
    ...               output_type=[str, DeferredToolRequests])
    >>>
    >>> @agent.tool_plain
    ... @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... def list_repos(*, access_token: str) -> list[str]:
    ...     "The user's repositories."
    >>>
    >>> result = await agent.run("list my repos", deps=Deps("alice"))
    >>> requests = consent_requests(result.output)
"""

from __future__ import annotations

from ._capability import AgentCoreAuthCapability
from ._consent import CONSENT_METADATA, ConsentRequest, consent_requests, consent_results

__version__ = "0.1.0"

__all__ = ["CONSENT_METADATA", "AgentCoreAuthCapability", "ConsentRequest", "consent_requests",
           "consent_results"]

for _name in ("AgentCoreAuthCapability", "ConsentRequest", "consent_requests", "consent_results"):
    globals()[_name].__module__ = __name__
