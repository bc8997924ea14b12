"""AgentCoreAuthCapability in pydantic-ai's real run loop: schema, identity, redaction, retries.

The model is pydantic-ai's FunctionModel scripted with tool calls
(agentcore_auth_pydantic_ai.testing); tools call the emulator's protected APIs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agentcore_auth_pydantic_ai import AgentCoreAuthCapability
from agentcore_auth_pydantic_ai.testing import Script, call
from pai_helpers import Deps, Spans, files_fn, forecast_fn, leaks
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentcore_auth import (
    ConfigurationError,
    CredentialRejectedError,
    current_identity,
    requires_api_key,
)


def returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]


def test_tool_schema_has_no_credential_parameter(weather: Any) -> None:
    """The model is offered `city` only: the injected api_key is not in the tool schema."""
    script = Script("hi")
    agent = Agent(script.model, tools=[Tool(forecast_fn(weather))],
                  capabilities=[AgentCoreAuthCapability()])
    agent.run_sync("hello")
    (tool,) = script.tools
    assert tool.name == "forecast"
    assert set(tool.parameters_json_schema["properties"]) == {"city"}
    assert "api_key" not in json.dumps(tool.parameters_json_schema) + (tool.description or "")


def test_echoed_key_reaches_neither_model_nor_spans(weather: Any) -> None:
    """The API echoes the key; model, history and tool spans get it redacted (control: none).

    The capability alone is checked: the decorator's own scrubbing is off
    (``scrub_result=False``), so the control run must leak.
    """
    for capabilities in ([], [AgentCoreAuthCapability()]):
        script, spans = Script(call("forecast", {"city": "Paris"})), Spans()
        agent = Agent(script.model, tools=[Tool(forecast_fn(weather, scrub_result=False))],
                      capabilities=[*capabilities, spans.capability])
        result = agent.run_sync("weather in Paris?")
        (part,) = returns(result.all_messages())
        assert part.content["ok"] is True  # the API accepted the real key
        assert "execute_tool" in spans.text()
        leaked = [bool(leaks(weather.key, text)) for text in (script.seen(), spans.text(),
                                                   json.dumps(part.content))]
        assert leaked == [not capabilities] * 3


async def test_two_users_concurrently_get_their_own_tokens(files: Any) -> None:
    """Two runs of one agent at once, each user from its deps: each gets its own token."""
    for user in ("ann", "ben"):
        files.consent(user)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if returns(messages[-1:]):
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart("my_files", {})])

    agent = Agent(FunctionModel(respond), deps_type=Deps, tools=[Tool(files_fn(files))],
                  capabilities=[AgentCoreAuthCapability()])

    async def run(user: str) -> dict[str, Any]:
        result = await agent.run("my files?", deps=Deps(user_id=user))
        (part,) = returns(result.all_messages())
        return part.content  # type: ignore[no-any-return]

    ann, ben = await asyncio.gather(run("ann"), run("ben"))
    assert (ann["sub"], ben["sub"]) == ("ann", "ben")
    assert ann["credential"].startswith("[REDACTED") and ben["credential"].startswith("[REDACTED")
    assert current_identity() is None  # nothing leaked to the caller's context


async def test_identity_from_mapping_deps_under_custom_keys(files: Any) -> None:
    """deps may be a mapping, under the app's own key names."""
    files.consent("cleo")
    script = Script(call("my_files"))
    agent = Agent(script.model, tools=[Tool(files_fn(files))],
                  capabilities=[AgentCoreAuthCapability(user_id_key="uid")])
    result = await agent.run("files", deps={"uid": "cleo"})
    assert returns(result.all_messages())[0].content["sub"] == "cleo"


def test_rotation_mid_run_costs_one_extra_lookup(weather: Any) -> None:
    """The key rotates between two calls of one run: one refused request, one refetch."""
    calls: list[str] = []
    script = Script(call("forecast", {"city": "Rome"}), call("forecast", {"city": "Lima"}))
    spans = Spans()
    agent = Agent(script.model, tools=[Tool(forecast_fn(weather, calls, rotate_after=1))],
                  capabilities=[AgentCoreAuthCapability(), spans.capability])
    before = weather.env.call_count("GetResourceApiKey")
    result = agent.run_sync("weather in Rome, then Lima?")
    assert weather.env.call_count("GetResourceApiKey") == before + 2  # first fetch, one refetch
    assert calls == ["Rome", "Lima", "Lima"]  # the decorator's own retry on 401
    rome, lima = returns(result.all_messages())
    assert rome.content["ok"] and lima.content["ok"]
    assert not leaks(weather.key, script.seen()) and not leaks(weather.key, spans.text())


def test_a_refused_credential_is_retried_once_then_raised_scrubbed(weather: Any) -> None:
    """CredentialRejectedError from the tool: rerun once, then raised with no value in it."""
    attempts: list[int] = []

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      reject_statuses=())
    def flaky(*, api_key: str) -> str:
        """Refuses its key every time, quoting it."""
        attempts.append(1)
        raise CredentialRejectedError(f"refused {api_key}", provider_name="another-provider")

    script, spans = Script(call("flaky")), Spans()
    agent = Agent(script.model, tools=[Tool(flaky)],
                  capabilities=[AgentCoreAuthCapability(), spans.capability])
    with pytest.raises(Exception) as caught:  # noqa: PT011 - scrubbed: maybe a stand-in
        agent.run_sync("go")
    assert len(attempts) == 2  # the first call and the capability's one retry
    assert "refused" in str(caught.value) and not leaks(weather.key, repr(caught.value))
    assert not leaks(weather.key, spans.text())

    with pytest.raises(ConfigurationError, match="retry_rejected"):
        AgentCoreAuthCapability(retry_rejected=-1)


def test_a_run_without_deferred_output_type_is_refused_by_pydantic_ai(files: Any) -> None:
    """Without DeferredToolRequests in output_type, pydantic-ai itself says what to add."""
    script = Script(call("my_files"))
    agent = Agent(script.model, deps_type=Deps, tools=[Tool(files_fn(files))],
                  capabilities=[AgentCoreAuthCapability()])
    with pytest.raises(Exception, match="DeferredToolRequests"):  # noqa: PT011 - its UserError
        agent.run_sync("files", deps=Deps(user_id="dora"))


def test_a_sync_tool_runs_in_a_worker_thread_as_the_caller(files: Any) -> None:
    """pydantic-ai runs sync tools in a worker thread: the identity still reaches them."""
    from agentcore_auth import requires_access_token

    files.consent("hal")
    seen: list[str | None] = []

    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    def whoami(*, access_token: str) -> str:
        """Who the token is for."""
        identity = current_identity()
        seen.append(identity.user_id if identity else None)
        return "ok"

    agent = Agent(Script(call("whoami")).model, deps_type=Deps, tools=[Tool(whoami)],
                  capabilities=[AgentCoreAuthCapability()])
    agent.run_sync("who?", deps=Deps(user_id="hal"))
    assert seen == ["hal"]


def test_model_input_is_scrubbed(weather: Any) -> None:
    """A registered value in the user's own prompt reaches the model only without the capability."""
    from agentcore_auth import default_redactor

    default_redactor().register(weather.key, name="weather")
    for capabilities in ([], [AgentCoreAuthCapability()]):
        script = Script("ok")
        result = Agent(script.model, capabilities=capabilities).run_sync(
            f"my key is {weather.key}")
        assert bool(leaks(weather.key, script.seen())) is (not capabilities)
        assert weather.key in json.dumps(str(result.all_messages()))  # history stays as it is
    assert "[REDACTED:weather]" in script.seen()
