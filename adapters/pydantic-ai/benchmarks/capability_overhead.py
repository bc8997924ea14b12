"""What AgentCoreAuthCapability costs per agent run (medians against two baselines).

Run: ``python adapters/pydantic-ai/benchmarks/capability_overhead.py [--runs N]``.

One run = two model calls (a scripted ``FunctionModel``) and one tool call whose API
key comes from the emulator (cached after the first run) and is echoed back. Three
agents, interleaved in one process: no capability, a no-op capability with the same
hooks (pydantic-ai's own cost of having a capability), and ours. Medians are reported,
with ratios against both baselines (> 1: ours is faster); nothing is asserted.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from typing import Any

from agentcore_auth_pydantic_ai import AgentCoreAuthCapability
from agentcore_auth_pydantic_ai.testing import Script, call
from pydantic_ai import Agent, RunContext, Tool
from pydantic_ai.capabilities import AbstractCapability

from agentcore_auth import AgentCoreIdentitySource, CredentialResolver, requires_api_key
from agentcore_auth.testing import LocalAgentCore


class NoopCapability(AbstractCapability[Any]):
    """The baseline: the same two hooks, doing nothing."""

    async def wrap_tool_execute(self, ctx: RunContext[Any], *, call: Any, tool_def: Any,
                                args: Any, handler: Any) -> Any:
        return await handler(args)

    async def prepare_model_request(self, ctx: RunContext[Any], request_context: Any) -> Any:
        return request_context


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

        @requires_api_key(provider_name="weather", resolver=resolver)
        async def forecast(city: str, *, api_key: str) -> dict[str, str]:
            """The weather in a city (echoes the key, which the capability scrubs)."""
            return {"city": city, "echo": api_key}

        capabilities: dict[str, list[AbstractCapability[Any]]] = {
            "none": [], "no-op": [NoopCapability()], "ours": [AgentCoreAuthCapability()]}
        times: dict[str, list[float]] = {name: [] for name in capabilities}
        for n in range(runs + 1):
            for name, caps in capabilities.items():
                agent = Agent(Script(call("forecast", {"city": "Paris"})).model,
                              tools=[Tool(forecast)], capabilities=caps)
                start = time.perf_counter()
                agent.run_sync("weather?", deps={"user_id": "alice"})
                if n:  # the first run warms the cache
                    times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, median in medians.items():
            print(f"{name:>6}: median {median * 1000:.2f} ms per run ({runs} runs)")
        print(f"ours vs no capability: {medians['none'] / medians['ours']:.2f}x; "
              f"ours vs a no-op capability: {medians['no-op'] / medians['ours']:.2f}x")


if __name__ == "__main__":
    main()
