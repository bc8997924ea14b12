"""agentcore_auth for LangChain and LangGraph: identity, consent and redaction as one middleware.

Example:
    >>> from langchain.agents import create_agent
    >>> from langchain_core.tools import tool
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> from agentcore_auth import requires_access_token
    >>> from agentcore_auth_langchain import AgentCoreAuthMiddleware, consent_requests
    >>>
    >>> @tool
    ... @requires_access_token(provider_name="github", scopes=["repo"],
    ...                        auth_flow="USER_FEDERATION")
    ... def list_repos(*, access_token: str) -> list[str]:
    ...     "The user's repositories."
    >>>
    >>> auth = AgentCoreAuthMiddleware()
    >>> agent = create_agent(model, [list_repos], middleware=[auth], checkpointer=InMemorySaver())
    >>> result = agent.invoke({"messages": [("user", "list my repos")]},
    ...                       {"configurable": {"thread_id": "t1", "user_id": "alice"}})
    >>> requests = consent_requests(result)
"""

from __future__ import annotations

from ._consent import CONSENT_INTERRUPT, ConsentRequest, consent_requests
from ._middleware import AgentCoreAuthMiddleware

__version__ = "0.1.0"

__all__ = ["CONSENT_INTERRUPT", "AgentCoreAuthMiddleware", "ConsentRequest", "consent_requests"]

for _name in ("AgentCoreAuthMiddleware", "ConsentRequest", "consent_requests"):
    globals()[_name].__module__ = __name__
