"""What AgentCoreAuthMiddleware costs per agent run (medians against two baselines).

Run: ``python adapters/langchain/benchmarks/middleware_overhead.py [--runs N]``.

One ``create_agent`` run = two model calls (a scripted fake chat model) and one tool
call whose API key comes from the emulator (cached after the first run). Three
agents, interleaved in one process: no middleware, a no-op middleware with the same
four wrappers (LangGraph's own cost of having middleware), and ours. Medians are
reported, with ratios against both baselines (> 1: ours is faster); nothing is asserted.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agentcore_auth_langchain import AgentCoreAuthMiddleware
from agentcore_auth_langchain.testing import ScriptedChatModel, call
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.tools import tool

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver, requires_api_key
from agentcore_auth.testing import LocalAgentCore


class NoopMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """The baseline: the same four wrappers, doing nothing."""

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await handler(request)

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)

    async def awrap_model_call(self, request: Any,
                               handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await handler(request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs of each agent")
    runs = parser.parse_args().runs
    with LocalAgentCore() as env:
        key = "sk-" + secrets.token_hex(16)
        arn = env.create_secret(env.unique_name("weather"), {"key": key})
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name="weather", apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
        source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                         workload_name=env.create_workload())
        resolver = CredentialResolver(source)

        @tool
        @requires_api_key(provider_name="weather", resolver=resolver)
        def forecast(city: str, *, api_key: str) -> dict[str, str]:
            """The weather in a city (echoes the key, which the middleware scrubs)."""
            return {"city": city, "echo": api_key}

        turns: list[Any] = []
        for _ in range(runs + 1):
            turns += [call("forecast", {"city": "Paris"}), "ok"]
        agents = {name: create_agent(ScriptedChatModel(*turns), [forecast], middleware=m)
                  for name, m in (("none", []), ("no-op", [NoopMiddleware()]),
                                  ("ours", [AgentCoreAuthMiddleware()]))}
        times: dict[str, list[float]] = {name: [] for name in agents}
        for n in range(runs + 1):
            for name, agent in agents.items():
                start = time.perf_counter()
                agent.invoke({"messages": [("user", "weather?")]})
                if n:  # the first run warms the cache
                    times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, median in medians.items():
            print(f"{name:>6}: median {median * 1000:.2f} ms per run ({runs} runs)")
        print(f"ours vs no middleware: {medians['none'] / medians['ours']:.2f}x; "
              f"ours vs a no-op middleware: {medians['no-op'] / medians['ours']:.2f}x")


if __name__ == "__main__":
    main()
