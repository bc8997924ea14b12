"""agentcore_auth for MCP servers: per-user credentials in tools, consent as URL elicitation.

- the official ``mcp`` SDK's ``MCPServer``: :class:`AgentCoreAuthExtension`;
- FastMCP: :class:`AgentCoreAuthMiddleware` (needs ``agentcore-auth-mcp[fastmcp]``).

Example:
    >>> from mcp.server.mcpserver import MCPServer
    >>> from agentcore_auth import requires_access_token
    >>> from agentcore_auth_mcp import AgentCoreAuthExtension
    >>>
    >>> auth = AgentCoreAuthExtension()
    >>> server = MCPServer("files", token_verifier=verifier, auth=settings, extensions=[auth])
    >>>
    >>> @server.tool()
    ... @requires_access_token(provider_name="files", scopes=["files"],
    ...                        auth_flow="USER_FEDERATION", callback_url=RETURN_URL)
    ... def my_files(*, access_token: str) -> dict:
    ...     "The caller's files."
    >>>
    >>> server.custom_route("/oauth/return", ["GET"])(auth.return_url_handler(signed_in_user))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import WAT_HEADERS, Caller, default_identity, elicitation_id, url_elicitation
from ._extension import AgentCoreAuthExtension
from ._side_channels import ScrubbedSession

if TYPE_CHECKING:
    from ._middleware import AgentCoreAuthMiddleware

__version__ = "0.1.0"

__all__ = ["WAT_HEADERS", "AgentCoreAuthExtension", "AgentCoreAuthMiddleware", "Caller",
           "ScrubbedSession", "default_identity", "elicitation_id", "url_elicitation"]

for _name in ("AgentCoreAuthExtension", "Caller", "ScrubbedSession", "default_identity",
              "elicitation_id", "url_elicitation"):
    globals()[_name].__module__ = __name__


def __getattr__(name: str) -> Any:
    if name == "AgentCoreAuthMiddleware":  # FastMCP is optional: imported when asked for
        from ._middleware import AgentCoreAuthMiddleware

        AgentCoreAuthMiddleware.__module__ = __name__
        return AgentCoreAuthMiddleware
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
