"""An MCP server over stdio for the protocol tests: the tools of ``servers.py``, on the
test's own emulator (its ``env_vars()`` in the environment, the scenario in
``AGENTCORE_AUTH_MCP_TEST``), the caller a mapping to ``user_id`` (stdio has no request).

    python stdio_server.py sdk|fastmcp
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).parent))
from servers import tools  # noqa: E402

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver  # noqa: E402


def main(kind: str) -> None:
    config = json.loads(os.environ["AGENTCORE_AUTH_MCP_TEST"])
    resolver = CredentialResolver(AgentCoreIdentitySource(workload_name=config["workload"]))
    files = SimpleNamespace(provider=config["files"], url=config["files_url"],
                            return_url=config["return_url"], resolver=resolver)
    weather = SimpleNamespace(provider=config["weather"], url=config["weather_url"],
                              resolver=resolver)
    user = config["user"]
    if kind == "fastmcp":
        from agentcore_auth_mcp import AgentCoreAuthMiddleware
        from fastmcp import FastMCP

        server: object = FastMCP("files", middleware=[AgentCoreAuthMiddleware(
            resolver, identity=lambda caller: {"user_id": user})])
    else:
        from agentcore_auth_mcp import AgentCoreAuthExtension
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("files", extensions=[AgentCoreAuthExtension(
            resolver, identity=lambda caller: {"user_id": user})])
    for fn in tools(files, weather, []):
        server.tool()(fn)  # type: ignore[attr-defined]
    server.run("stdio")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(sys.argv[1])
