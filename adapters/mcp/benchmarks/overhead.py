"""What the MCP adapter costs per ``tools/call`` (medians against baselines, in one process).

Run: ``python adapters/mcp/benchmarks/overhead.py [--calls N]``.

One call = an in-process MCP client calling a tool whose API key comes from the
emulator (cached after the first call) and is echoed in the result (which the adapter
scrubs). Interleaved, per library and per protocol (2026-07-28: the client pinned to
it, the adapter checking for a consent ``requestState``; 2025-11-25: ``mode="legacy"``):
no hook, a no-op hook (the library's own cost of having one), and ours. Medians, the
added cost and ratios (< 1: ours is slower); nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import time
from typing import Any

from agentcore_auth_mcp import AgentCoreAuthExtension, AgentCoreAuthMiddleware
from fastmcp import Client as FastMCPClient
from fastmcp import FastMCP
from fastmcp.server.middleware import Middleware
from mcp import Client
from mcp.server.mcpserver import Extension, MCPServer

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver, requires_api_key
from agentcore_auth.testing import LocalAgentCore


class NoopExtension(Extension):
    """The mcp SDK baseline: an interceptor that only passes the call on."""

    identifier = "io.github.agentcore-auth/noop"

    async def intercept_tool_call(self, params: Any, ctx: Any, call_next: Any) -> Any:
        return await call_next(ctx)


class NoopMiddleware(Middleware):
    """The FastMCP baseline."""

    async def on_call_tool(self, context: Any, call_next: Any) -> Any:
        return await call_next(context)


def bench_caller(caller: Any) -> dict[str, str]:
    """The caller's identity, as a deployment's bearer token or ``identity=`` gives one
    (the in-process client carries none)."""
    return {"user_id": "bench-user"}


PROTOCOLS = {"2026-07-28": "2026-07-28", "2025-11-25": "legacy"}
"""Each protocol revision and the client ``mode`` that speaks it."""


def servers() -> dict[str, Any]:
    """Per library and hook (none, a no-op one, ours), a fresh server."""
    built: dict[str, Any] = {}
    for name, extensions in (("none", []), ("no-op", [NoopExtension()]),
                             ("ours", [AgentCoreAuthExtension(identity=bench_caller)])):
        built[f"sdk {name}"] = MCPServer("bench", extensions=extensions)
    for name, middleware in (("none", []), ("no-op", [NoopMiddleware()]),
                             ("ours", [AgentCoreAuthMiddleware(identity=bench_caller)])):
        built[f"fastmcp {name}"] = FastMCP("bench", middleware=middleware)
    return built


async def measure(calls: int, forecast: Any) -> dict[str, list[float]]:
    """Per library, protocol and hook, the time of each call, interleaved round-robin."""
    clients: dict[str, Any] = {}
    for protocol, mode in PROTOCOLS.items():
        for name, server in servers().items():
            server.tool()(forecast)
            library, hook = name.split()
            client = FastMCPClient(server, mode=mode) if library == "fastmcp" else Client(
                server, mode=mode)
            clients[f"{library} {protocol} {hook}"] = client
    times: dict[str, list[float]] = {name: [] for name in clients}
    async with contextlib.AsyncExitStack() as stack:
        opened = {name: await stack.enter_async_context(c) for name, c in clients.items()}
        for name, client in opened.items():
            expected = name.split()[1]
            if client.protocol_version != expected:
                raise RuntimeError(f"{name}: negotiated {client.protocol_version}")
        for n in range(calls + 1):
            for name, client in opened.items():
                start = time.perf_counter()
                await client.call_tool("forecast", {"city": "Paris"})
                if n:  # the first call warms the cache
                    times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per server")
    calls = parser.parse_args().calls
    with LocalAgentCore() as env:
        key = "sk-" + secrets.token_hex(16)
        arn = env.create_secret(env.unique_name("weather"), {"key": key})
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name="weather", apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
        resolver = CredentialResolver(AgentCoreIdentitySource(
            client=env.client("bedrock-agentcore"), workload_name=env.create_workload()))

        @requires_api_key(provider_name="weather", resolver=resolver)
        def forecast(city: str, *, api_key: str) -> dict[str, str]:
            """The weather in a city (echoes the key, which the adapter scrubs)."""
            return {"city": city, "echo": api_key}

        times = asyncio.run(measure(calls, forecast))
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        print(f"{name:>25}: median {median * 1e6:.0f} µs per call ({calls} calls)")
    for lib in ("sdk", "fastmcp"):
        for protocol in PROTOCOLS:
            ours = medians[f"{lib} {protocol} ours"]
            none = medians[f"{lib} {protocol} none"]
            print(f"{lib} on {protocol}: ours {ours * 1e6:.0f} µs, {(ours - none) * 1e6:+.0f} µs "
                  f"per call; no hook / ours {none / ours:.2f}x, no-op hook / ours "
                  f"{medians[f'{lib} {protocol} no-op'] / ours:.2f}x")


if __name__ == "__main__":
    main()
