"""Real MCP clients for the protocol tests: ``mcp.Client`` and ``fastmcp.Client``, each mode.

``open_client(library, target, mode, on_url)`` yields a :class:`Caller` whose ``call``
goes through the library's own input-required driver (``on_url(url)`` plays the user:
it consents and returns the elicitation action) and whose ``raw`` sends one round and
returns what the server answered (``InputRequiredResult`` included).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitRequestURLParams, ElicitResult

CLIENTS = ("mcp", "fastmcp")
MODES = ("auto", "2026-07-28", "legacy")

OnUrl = Callable[[str], Awaitable[str]]


@dataclass
class Target:
    """Where the server is: streamable HTTP (``base`` + headers) or a stdio command."""

    base: str | None = None
    headers: dict[str, str] | None = None
    stdio: StdioServerParameters | None = None


class Caller:
    """One connected client; ``asked`` lists the URLs its elicitation callback was given."""

    def __init__(self, client: Any, library: str) -> None:
        self.client = client
        self.library = library
        self.asked: list[str] = []

    @property
    def protocol_version(self) -> str | None:
        return self.client.protocol_version  # type: ignore[no-any-return]

    async def call(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """A tool call through the library's driver; a tool error comes back as a result."""
        if self.library == "fastmcp":
            return await self.client.call_tool(name, arguments or {}, raise_on_error=False)
        return await self.client.call_tool(name, arguments or {})

    async def raw(self, name: str, arguments: dict[str, Any] | None = None, *,
                  input_responses: Any = None, request_state: str | None = None) -> Any:
        """One round of ``tools/call``, the server's answer as it came."""
        return await self.client.session.call_tool(
            name, arguments or {}, input_responses=input_responses, request_state=request_state,
            allow_input_required=True)


async def _answer(caller: Caller, on_url: OnUrl | None, params: Any) -> ElicitResult:
    if not isinstance(params, ElicitRequestURLParams) or on_url is None:
        return ElicitResult(action="cancel")
    caller.asked.append(params.url)
    return ElicitResult(action=await on_url(params.url))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def open_client(library: str, target: Target, mode: str,
                      on_url: OnUrl | None = None) -> AsyncIterator[Caller]:
    """A connected ``library`` client (``mcp`` or ``fastmcp``) in ``mode``."""
    holder: list[Caller] = []
    async with contextlib.AsyncExitStack() as stack:
        if library == "mcp":
            async def callback(context: Any, params: Any) -> ElicitResult:
                return await _answer(holder[0], on_url, params)

            if target.stdio is not None:
                server: Any = target.stdio
            else:
                http = await stack.enter_async_context(httpx2.AsyncClient(
                    headers=target.headers or {}, timeout=30))
                server = streamable_http_client(f"{target.base}/mcp", http_client=http)
            client: Any = Client(server, mode=mode, elicitation_callback=callback)
        else:
            from fastmcp import Client as FastMCPClient
            from fastmcp.client.transports import StdioTransport, StreamableHttpTransport

            async def handler(message: str, kind: Any, params: Any, context: Any) -> ElicitResult:
                return await _answer(holder[0], on_url, params)

            if target.stdio is not None:
                transport: Any = StdioTransport(target.stdio.command, list(target.stdio.args),
                                                env=target.stdio.env, cwd=str(target.stdio.cwd))
            else:
                transport = StreamableHttpTransport(f"{target.base}/mcp",
                                                    headers=target.headers or {})
            client = FastMCPClient(transport, mode=mode, elicitation_handler=handler)
        holder.append(Caller(client, library))
        await stack.enter_async_context(client)
        yield holder[0]
