"""What a tool sends through its ``Context`` reaches the client scrubbed (issue 25, item 2).

A tool whose API echoes its key relays the echo through every side channel: ``ctx.debug``,
``info``, ``warning``, ``error`` (``notifications/message``) and ``report_progress(
message=...)`` (``notifications/progress``). Real clients (``mcp.Client``,
``fastmcp.Client``, each on 2026-07-28 and 2025-11-25) collect every notification over
streamable HTTP. The control serves the same tool without the hook: the key arrives raw.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from conftest import leaks
from fastmcp import Client as FastMCPClient
from fastmcp import Context as FastMCPContext
from fastmcp import FastMCP
from fastmcp.client.transports import StreamableHttpTransport
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver import Context, MCPServer
from servers import KINDS, serve

from agentcore_auth import requires_api_key

pytestmark = [
    pytest.mark.timeout(120),
    # Logging is deprecated on 2026-07-28 (SEP-2577) but still delivered on opt-in.
    pytest.mark.filterwarnings("ignore:The logging capability is deprecated"),
]


async def fetch_echo(weather: Any, api_key: str) -> str:
    """The weather API's answer, which quotes the key it was sent."""
    async with httpx.AsyncClient() as http:
        response = await http.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key})
    return response.text


def chatty_server(kind: str, weather: Any, *, hooked: bool) -> Any:
    """A server whose tool relays the API's echo of its key through the Context."""
    if kind == "sdk":
        from agentcore_auth_mcp import AgentCoreAuthExtension

        sdk = MCPServer("chatty", extensions=[AgentCoreAuthExtension(weather.resolver)]
                        if hooked else [])

        @sdk.tool()
        @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
        async def relay(ctx: Context, *, api_key: str) -> str:
            """Relays the API's answer (which quotes the key) as logs and progress."""
            echo = await fetch_echo(weather, api_key)
            await ctx.debug(f"debug {echo}")
            await ctx.info({"echo": echo})
            await ctx.warning(f"warning {echo}")
            await ctx.error(f"error {echo}", logger_name=f"api {api_key}")
            await ctx.report_progress(1, 2, message=f"half way: {echo}")
            return "done"

        return sdk.streamable_http_app()
    from agentcore_auth_mcp import AgentCoreAuthMiddleware

    fast = FastMCP("chatty", middleware=[AgentCoreAuthMiddleware(weather.resolver)]
                   if hooked else [])

    @fast.tool()
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    async def relay(ctx: FastMCPContext, *, api_key: str) -> str:
        """Relays the API's answer (which quotes the key) as logs and progress."""
        echo = await fetch_echo(weather, api_key)
        await ctx.debug(f"debug {echo}")
        await ctx.info(f"info {echo}", extra={"echo": echo})
        await ctx.warning(f"warning {echo}")
        await ctx.error(f"error {echo}", logger_name=f"api {api_key}")
        await ctx.report_progress(1, 2, message=f"half way: {echo}")
        return "done"

    return fast.http_app()


class Collected:
    """Every log and progress notification a client received, as JSON text."""

    def __init__(self) -> None:
        self.logs: list[str] = []
        self.progress: list[str] = []

    async def log(self, params: Any) -> None:
        self.logs.append(params.model_dump_json())

    async def on_progress(self, progress: float, total: float | None, message: str | None,
                          ) -> None:
        self.progress.append(json.dumps([progress, total, message]))

    @property
    def text(self) -> str:
        return "\n".join(self.logs + self.progress)


@contextlib.asynccontextmanager
async def calling(library: str, base: str, mode: str,
                  seen: Collected) -> AsyncIterator[Any]:
    """Yield an async ``call(name)`` of a connected ``library`` client collecting into ``seen``."""
    if library == "mcp":
        async with httpx2.AsyncClient(timeout=30) as http:
            client = Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode,
                            logging_callback=seen.log, log_level="debug")
            async with client:
                async def call(name: str) -> Any:
                    return await client.call_tool(name, {}, progress_callback=seen.on_progress)

                yield call
        return
    fast = FastMCPClient(StreamableHttpTransport(f"{base}/mcp"), mode=mode,
                         log_handler=seen.log, progress_handler=seen.on_progress)
    async with fast:
        async def fast_call(name: str) -> Any:
            return await fast.call_tool(name, {}, raise_on_error=False)

        yield fast_call


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("library", ["mcp", "fastmcp"])
@pytest.mark.parametrize("kind", KINDS)
async def test_context_logs_and_progress_reach_the_client_scrubbed(
        kind: str, library: str, mode: str, weather: Any, server_logs: Any) -> None:
    seen = Collected()
    with serve(chatty_server(kind, weather, hooked=True)) as base:
        async with calling(library, base, mode, seen) as call:
            result = await call("relay")
    assert not result.is_error, result
    assert len(seen.logs) == 4, seen.logs  # debug, info, warning, error: all delivered
    assert len(seen.progress) == 1 and "half way: " in seen.progress[0]
    assert "[REDACTED" in seen.text and "error " in seen.text
    assert not leaks(seen.text, weather.key)
    assert not leaks(server_logs.text, weather.key)


@pytest.mark.parametrize("kind", KINDS)
async def test_control_without_the_hook_the_key_reaches_the_client(
        kind: str, weather: Any) -> None:
    """The same tool and client without the adapter: every side channel carries the key."""
    seen = Collected()
    with serve(chatty_server(kind, weather, hooked=False)) as base:
        async with calling("mcp", base, "auto", seen) as call:
            await call("relay")
    assert len(seen.logs) == 4 and len(seen.progress) == 1
    assert all(leaks(text, weather.key) for text in seen.logs + seen.progress)
