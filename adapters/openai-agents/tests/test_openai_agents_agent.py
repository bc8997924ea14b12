"""secure() in the OpenAI Agents SDK's real run loop: schema, identity, redaction, rotation.

The model is a scripted ``agents.Model`` (agentcore_auth_openai_agents.testing); tools call
the emulator's protected APIs; spans go to an in-memory trace processor.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from agentcore_auth_openai_agents import scrub_model_input, secure
from agentcore_auth_openai_agents.testing import ScriptedModel, call
from agents import Agent, RunConfig, Runner, function_tool, set_trace_processors
from oai_helpers import Ctx, Spans, files_tool, forecast_tool, leaks

from agentcore_auth import current_identity, default_redactor

PLAIN = RunConfig()
SCRUBBED = RunConfig(call_model_input_filter=scrub_model_input)


@pytest.fixture
def spans() -> Iterator[Spans]:
    processor = Spans()
    set_trace_processors([processor])  # replaces the exporter: nothing leaves the process
    yield processor
    set_trace_processors([])


def outputs(result: Any) -> list[str]:
    return [str(item.output) for item in result.new_items if item.type == "tool_call_output_item"]


async def test_tool_schema_has_no_credential_parameter(weather: Any, spans: Spans) -> None:
    """The model is offered `city` only: the injected api_key is not in the tool schema."""
    model = ScriptedModel("hi")
    agent = secure(Agent(name="a", model=model, tools=[forecast_tool(weather)]))
    await Runner.run(agent, "hello")
    assert set(model.tools) == {"forecast"}
    assert set(model.tools["forecast"]["properties"]) == {"city"}
    assert "api_key" not in json.dumps(model.tools) + agent.tools[0].description


async def test_echoed_key_reaches_neither_model_nor_spans(weather: Any, spans: Spans) -> None:
    """The API echoes the key: model input and function spans get it redacted (control: raw).

    The adapter alone is checked: the decorator's own scrubbing is off
    (``scrub_result=False``), so the control run must leak.
    """
    for secured in (False, True):
        spans.spans.clear()
        model = ScriptedModel(call("forecast", {"city": "Paris"}))
        agent = Agent(name="a", model=model,
                      tools=[forecast_tool(weather, scrub_result=False)])
        result = await Runner.run(secure(agent) if secured else agent, "weather in Paris?")
        (output,) = outputs(result)
        assert "'ok': True" in output  # the API accepted the real key
        (function_span,) = spans.function_spans()
        leaked = [bool(leaks(weather.key, text)) for text in (model.seen(), spans.text(), output)]
        assert leaked == [not secured] * 3, function_span


async def test_model_input_filter_scrubs_what_the_model_is_sent(weather: Any,
                                                                spans: Spans) -> None:
    """A registered value in the user's own prompt reaches the model only with the filter."""
    default_redactor().register(weather.key, name="weather")
    for config in (PLAIN, SCRUBBED):
        model = ScriptedModel("ok")
        await Runner.run(Agent(name="a", model=model, instructions=f"key {weather.key}"),
                         f"my key is {weather.key}", run_config=config)
        assert (weather.key in model.seen()) is (config is PLAIN)
        assert "[REDACTED:weather]" in model.seen() or config is PLAIN


async def test_two_users_concurrently_get_their_own_tokens(files: Any, spans: Spans) -> None:
    """Two runs of one agent at once, each user from its context=: each gets its own token."""
    for user in ("ann", "ben"):
        files.consent(user)
    agent = secure(Agent(name="a", tools=[files_tool(files)]))

    async def run(user: str) -> dict[str, Any]:
        mine = agent.clone(model=ScriptedModel(call("my_files")))
        result = await Runner.run(mine, "my files?", context=Ctx(user_id=user))
        (output,) = outputs(result)
        return eval(output)  # type: ignore[no-any-return] # noqa: S307 - our own dict repr

    ann, ben = await asyncio.gather(run("ann"), run("ben"))
    assert (ann["sub"], ben["sub"]) == ("ann", "ben")
    assert ann["credential"].startswith("[REDACTED") and ben["credential"].startswith("[REDACTED")
    assert current_identity() is None


async def test_identity_from_a_mapping_under_custom_keys(files: Any, spans: Spans) -> None:
    """context= may be a mapping, under the app's own key names."""
    files.consent("cleo")
    agent = secure(Agent(name="a", model=ScriptedModel(call("my_files")),
                         tools=[files_tool(files)]), user_id_key="uid")
    result = await Runner.run(agent, "files", context={"uid": "cleo"})
    assert "'sub': 'cleo'" in outputs(result)[0]


async def test_rotation_mid_run_costs_one_extra_lookup(weather: Any, spans: Spans) -> None:
    """The key rotates between two calls of one run: one refused request, one refetch."""
    calls: list[str] = []
    model = ScriptedModel(call("forecast", {"city": "Rome"}), call("forecast", {"city": "Lima"}))
    agent = secure(Agent(name="a", model=model,
                         tools=[forecast_tool(weather, calls, rotate_after=1)]))
    before = weather.env.call_count("GetResourceApiKey")
    result = await Runner.run(agent, "Rome, then Lima?", run_config=SCRUBBED)
    assert weather.env.call_count("GetResourceApiKey") == before + 2
    assert calls == ["Rome", "Lima", "Lima"]
    assert all("'ok': True" in o for o in outputs(result))
    assert not leaks(weather.key, model.seen()) and not leaks(weather.key, spans.text())


async def test_the_sdk_argument_handling_and_secure_of_one_tool(weather: Any,
                                                                spans: Spans) -> None:
    """secure(tool) works alone; bad arguments still get the SDK's own error message."""
    tool = secure(forecast_tool(weather))
    assert secure(tool) is tool  # idempotent
    model = ScriptedModel(call("forecast", {"town": "Oslo"}))
    result = await Runner.run(Agent(name="a", model=model, tools=[tool]), "weather?")
    (output,) = outputs(result)
    assert output.startswith("An error occurred") and not leaks(weather.key, output)
    with pytest.raises(TypeError, match="secure"):
        secure(function_tool)  # type: ignore[type-var]


async def test_a_sync_tool_runs_as_the_caller(files: Any, spans: Spans) -> None:
    """A sync function tool (the SDK may run it in a worker thread) still runs as the caller."""
    from agentcore_auth import requires_access_token

    files.consent("hal")
    seen: list[str | None] = []

    @function_tool
    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    def whoami(*, access_token: str) -> str:
        """Who the token is for."""
        identity = current_identity()
        seen.append(identity.user_id if identity else None)
        return "ok"

    agent = secure(Agent(name="a", model=ScriptedModel(call("whoami")), tools=[whoami]))
    result = await Runner.run(agent, "who?", context=Ctx(user_id="hal"))
    assert seen == ["hal"] and not result.interruptions
