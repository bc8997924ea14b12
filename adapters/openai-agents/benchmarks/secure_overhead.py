"""What secure() and scrub_model_input cost per agent run (medians against a plain agent).

Run: ``python adapters/openai-agents/benchmarks/secure_overhead.py [--runs N]``.

One ``Runner.run`` = two model calls (a scripted ``agents.Model``) and one tool call
whose API key comes from the emulator (cached after the first run) and is echoed
back; tracing goes nowhere. Four set-ups, interleaved in one process: the plain
agent, ``secure(agent)`` with a ``user_id`` and with an identity handle in
``context=``, and ``secure(agent)`` with a handle and
``RunConfig(call_model_input_filter=scrub_model_input)``. Medians are reported, with
ratios against the plain agent (> 1: faster); nothing is asserted.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from typing import Any

from agentcore_auth_openai_agents import scrub_model_input, secure
from agentcore_auth_openai_agents.testing import ScriptedModel, call
from agents import Agent, RunConfig, Runner, function_tool, set_trace_processors

from agentcore_auth import (
    AgentCoreIdentitySource,
    CredentialResolver,
    identity_handle,
    requires_api_key,
)
from agentcore_auth.testing import LocalAgentCore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs of each set-up")
    runs = parser.parse_args().runs
    set_trace_processors([])  # no trace export
    with LocalAgentCore() as env:
        key = "sk-" + secrets.token_hex(16)
        arn = env.create_secret(env.unique_name("weather"), {"key": key})
        env.client("bedrock-agentcore-control").create_api_key_credential_provider(
            name="weather", apiKeySecretSource="EXTERNAL",
            apiKeySecretConfig={"secretId": arn, "jsonKey": "key"})
        source = AgentCoreIdentitySource(client=env.client("bedrock-agentcore"),
                                         workload_name=env.create_workload())
        resolver = CredentialResolver(source)

        @function_tool
        @requires_api_key(provider_name="weather", resolver=resolver)
        async def forecast(city: str, *, api_key: str) -> dict[str, str]:
            """The weather in a city (echoes the key, which secure() scrubs)."""
            return {"city": city, "echo": api_key}

        plain = Agent[Any](name="assistant", tools=[forecast])
        by_id, by_handle = {"user_id": "alice"}, {"identity": identity_handle(user_id="alice")}
        setups = {"plain": (plain, RunConfig(), by_handle),
                  "secure": (secure(plain), RunConfig(), by_id),
                  "secure+handle": (secure(plain), RunConfig(), by_handle),
                  "secure+filter": (secure(plain),
                                    RunConfig(call_model_input_filter=scrub_model_input),
                                    by_handle)}
        times: dict[str, list[float]] = {name: [] for name in setups}
        for n in range(runs + 1):
            for name, (agent, config, context) in setups.items():
                scripted = agent.clone(model=ScriptedModel(call("forecast", {"city": "Paris"})))
                start = time.perf_counter()
                Runner.run_sync(scripted, "weather?", context=context, run_config=config)
                if n:  # the first run warms the cache
                    times[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(t) for name, t in times.items()}
        for name, median in medians.items():
            print(f"{name:>13}: median {median * 1000:.2f} ms per run ({runs} runs), "
                  f"plain/this {medians['plain'] / median:.2f}x")


if __name__ == "__main__":
    main()
