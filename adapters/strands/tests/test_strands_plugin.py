"""AgentCoreAuthPlugin in a real Strands agent loop: redaction, identity, rotation, retries.

The model is scripted (agentcore_auth_strands.testing.ScriptedModel) and records every
request; tools call the emulator's protected APIs with httpx.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from typing import Any

import httpx
import pytest
from agentcore_auth_strands import AgentCoreAuthPlugin
from agentcore_auth_strands.testing import Call, ScriptedModel, tool_results
from strands import Agent, tool
from strands.tools.executors import ConcurrentToolExecutor, SequentialToolExecutor

from agentcore_auth import (
    ConfigurationError,
    CredentialRejectedError,
    current_identity,
    identity_context,
    identity_handle,
    requires_access_token,
    requires_api_key,
)


def make_agent(model: ScriptedModel, tools: list[Any], plugin: AgentCoreAuthPlugin | None,
               **kwargs: Any) -> Agent:
    return Agent(model=model, tools=tools, plugins=[plugin] if plugin else [],
                 callback_handler=None, **kwargs)


def history_text(agent: Agent) -> str:
    return json.dumps(agent.messages, default=repr)


def forecast_tool(weather: Any, scrub_result: bool = True) -> Any:
    @tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=scrub_result)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city (the API echoes the key it received)."""
        response = httpx.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return dict(response.json(), city=city)

    return forecast


def test_tool_spec_has_no_credential_parameter(weather: Any) -> None:
    """The model is offered `city` only: the injected api_key is not in the tool spec."""
    model = ScriptedModel(["hi"])
    make_agent(model, [forecast_tool(weather)], AgentCoreAuthPlugin())("hello")
    (spec,) = model.requests[0]["tool_specs"]
    assert spec["name"] == "forecast"
    assert set(spec["inputSchema"]["json"]["properties"]) == {"city"}
    assert "api_key" not in json.dumps(spec)


@pytest.mark.parametrize(("plugin", "scrub_result"), [(False, False), (True, False),
                                                     (False, True), (True, True)])
def test_echoed_key_never_reaches_the_model(weather: Any, plugin: bool,
                                            scrub_result: bool) -> None:
    """The API echoes the key; either layer (the plugin, the decorator) keeps it from the model.

    Control: neither layer, and the key reaches the model and the history.
    """
    model = ScriptedModel([Call("forecast", {"city": "Paris"})])
    agent = make_agent(model, [forecast_tool(weather, scrub_result)],
                       AgentCoreAuthPlugin() if plugin else None)
    agent("weather in Paris?")
    (result,) = tool_results(model.requests[-1]["messages"])
    assert result["status"] == "success"
    assert '"ok": true' in result["content"][0]["text"]  # the API accepted the real key
    leaked = weather.key in model.seen() or weather.key in history_text(agent)
    assert leaked is not (plugin or scrub_result)


def test_streamed_items_are_scrubbed_for_stream_consumers(weather: Any) -> None:
    """A plain streaming tool yielding the key: stream_async and the callback handler see it
    redacted with the plugin (control: without it, both see the key)."""
    resolver = weather.resolver

    @tool
    async def streaming(city: str) -> Any:
        """Streams progress, then answers."""
        key = (await resolver.aget_api_key(weather.provider)).reveal()
        yield {"progress": f"calling with {key}"}
        yield f"done for {city}"

    for plugin in (None, AgentCoreAuthPlugin()):
        seen: list[str] = []
        model = ScriptedModel([Call("streaming", {"city": "Paris"})])
        agent = Agent(model=model, tools=[streaming], plugins=[plugin] if plugin else [],
                      callback_handler=lambda _seen=seen, **kwargs: _seen.append(repr(kwargs)))

        async def consume(agent: Agent = agent) -> list[str]:
            return [repr(event) async for event in agent.stream_async("go")]

        events = asyncio.run(consume())
        streamed = [e for e in events if "tool_stream_event" in e]
        assert streamed and any("progress" in e for e in streamed)
        leaked = any(weather.key in text for text in events + seen)
        assert leaked is (plugin is None)


def test_a_key_split_across_streamed_items_is_scrubbed(weather: Any) -> None:
    """A plain tool streaming the key in 16-char pieces: joined, the events hold no key."""
    resolver = weather.resolver

    @tool
    async def relay(city: str) -> Any:
        """Relays an API reply in chunks."""
        text = f"echo: {(await resolver.aget_api_key(weather.provider)).reveal()} for {city}"
        for i in range(0, len(text), 16):
            yield text[i:i + 16]
        yield "end"

    for plugin in (None, AgentCoreAuthPlugin()):
        model = ScriptedModel([Call("relay", {"city": "Paris"})])
        agent = Agent(model=model, tools=[relay], plugins=[plugin] if plugin else [],
                      callback_handler=None)

        async def consume(agent: Agent = agent) -> list[Any]:
            return [event async for event in agent.stream_async("go")]

        data = [e["tool_stream_event"]["data"] for e in asyncio.run(consume())
                if "tool_stream_event" in e]
        joined = "".join(d for d in data if isinstance(d, str))
        assert "echo: " in joined and "Paris" in joined
        # Each piece alone never holds the whole key: only the joined stream shows it.
        assert not any(weather.key in d for d in data if isinstance(d, str))
        assert (weather.key in joined) is (plugin is None)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_exception_carrying_the_key_is_scrubbed(weather: Any, kind: str) -> None:
    """A plain tool raising with the key in its message: the model sees it redacted."""
    resolver = weather.resolver

    @tool
    def leaky_sync() -> str:
        """Fails loudly."""
        raise RuntimeError(f"refused {resolver.get_api_key(weather.provider).reveal()}")

    @tool
    async def leaky_async() -> str:
        """Fails loudly."""
        raise RuntimeError(f"refused {(await resolver.aget_api_key(weather.provider)).reveal()}")

    leaky = leaky_sync if kind == "sync" else leaky_async
    model = ScriptedModel([Call(leaky.tool_name)])
    agent = make_agent(model, [leaky], AgentCoreAuthPlugin())
    agent("go")
    (result,) = tool_results(model.requests[-1]["messages"])
    assert result["status"] == "error" and "REDACTED" in result["content"][0]["text"]
    assert weather.key not in model.seen() and weather.key not in history_text(agent)


def test_prompt_and_system_prompt_are_scrubbed(weather: Any) -> None:
    """A known secret pasted into the prompt or system prompt is redacted in model input."""
    weather.resolver.get_api_key(weather.provider)  # fetched, so registered for redaction
    model = ScriptedModel(["ok"])
    agent = make_agent(model, [], AgentCoreAuthPlugin(),
                       system_prompt=f"Internal note: the key is {weather.key}.")
    agent(f"Please use {weather.key} for me")
    assert weather.key not in model.seen()
    assert "REDACTED" in model.requests[0]["system_prompt"]


def test_rotation_between_tool_calls_is_invisible_to_the_model(weather: Any) -> None:
    """The secret rotates between two tool calls: both succeed, with one extra key lookup."""
    env = weather.env
    old = weather.key

    def rotate_then_call(messages: Any) -> list[Call | str]:
        weather.rotate()
        return [Call("forecast", {"city": "Lyon"})]

    model = ScriptedModel([Call("forecast", {"city": "Paris"})], rotate_then_call)
    agent = make_agent(model, [forecast_tool(weather)], AgentCoreAuthPlugin())
    lookups = env.call_count("GetResourceApiKey")
    agent("weather in Paris, then Lyon?")
    results = tool_results(model.requests[-1]["messages"])
    assert [r["status"] for r in results] == ["success", "success"]
    assert env.call_count("GetResourceApiKey") - lookups == 2  # first fetch + one refetch
    for value in (old, weather.key):
        assert value not in model.seen()


def test_identity_comes_from_invocation_state(weather: Any) -> None:
    """A user_id or an identity handle in invocation_state is set for the tool."""
    seen: list[Any] = []

    @tool
    def whoami() -> str:
        """Who is calling."""
        seen.append(current_identity())
        return "ok"

    turns = [[Call("whoami")], ["done"]] * 3
    agent = make_agent(ScriptedModel(*turns), [whoami], AgentCoreAuthPlugin(user_id_key="uid"))
    agent("a", invocation_state={"uid": "alice"})
    bob = {"user_token": "jwt-of-bob-0123456789", "workload_access_token": "wat-0123456789abcdef"}
    agent("b", invocation_state={"identity": identity_handle(**bob)})
    with identity_context(user_id="carol"):  # set by the app around the call
        agent("c")
    assert [i.user_id for i in seen] == ["alice", None, "carol"]
    assert seen[1].user_token.reveal() == "jwt-of-bob-0123456789"
    assert seen[1].workload_access_token.reveal() == "wat-0123456789abcdef"
    assert current_identity() is None


@pytest.mark.parametrize("prefer", [None, "user_token", "user_id"])
def test_user_id_next_to_user_token_needs_a_precedence(weather: Any, prefer: Any) -> None:
    """Both in invocation_state (raw tokens allowed, the old way): refused, unless preferred."""
    seen: list[Any] = []

    @tool
    def whoami() -> str:
        """Who is calling."""
        seen.append(current_identity())
        return "ok"

    state = {"user_id": "bob", "user_token": "jwt-of-alice-0123456789"}
    model = ScriptedModel([Call("whoami")], ["done"])
    make_agent(model, [whoami], AgentCoreAuthPlugin(prefer=prefer, allow_raw_tokens=True))(
        "a", invocation_state=state)
    (result,) = tool_results(model.requests[-1]["messages"])
    if prefer is None:
        assert result["status"] == "error" and "given together" in str(result["content"])
        assert seen == [] and state["user_token"] not in model.seen()
        return
    (identity,) = seen
    if prefer == "user_token":
        assert identity.user_id is None and identity.user_token.reveal() == state["user_token"]
    else:
        assert identity.user_id == "bob" and identity.user_token is None


@pytest.mark.parametrize("executor", [ConcurrentToolExecutor, SequentialToolExecutor])
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_two_users_get_their_own_tokens_concurrently(files: Any, kind: str,
                                                            executor: type) -> None:
    """Two agents (one plugin, one tool) run at once for alice and bob: each gets their token."""
    files.consent("alice")
    files.consent("bob")
    concurrent = executor is ConcurrentToolExecutor
    parties = 4 if concurrent else 2  # every call of both users is in flight at once
    thread_barrier = threading.Barrier(parties, timeout=30)
    task_barrier = asyncio.Barrier(parties)
    seen: list[tuple[str | None, str]] = []

    def check(access_token: str) -> dict[str, Any]:
        response = httpx.get(files.url, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        identity = current_identity()
        seen.append((identity.user_id if identity else None, response.json()["sub"]))
        return {"sub": response.json()["sub"], "token": access_token}

    decorate = requires_access_token(provider_name=files.provider, scopes=["files"],
                                     auth_flow="USER_FEDERATION", resolver=files.resolver)
    if kind == "sync":
        @tool
        @decorate
        def my_files(*, access_token: str) -> dict[str, Any]:
            """The caller's files."""
            thread_barrier.wait()
            return check(access_token)
    else:
        @tool
        @decorate
        async def my_files(*, access_token: str) -> dict[str, Any]:
            """The caller's files."""
            await asyncio.wait_for(task_barrier.wait(), 30)
            return await asyncio.to_thread(check, access_token)

    plugin = AgentCoreAuthPlugin()
    models = {user: ScriptedModel([Call("my_files"), Call("my_files")])
              for user in ("alice", "bob")}
    agents = {user: make_agent(model, [my_files], plugin, tool_executor=executor())
              for user, model in models.items()}
    await asyncio.gather(*(agent.invoke_async("my files?", invocation_state={"user_id": user})
                           for user, agent in agents.items()))
    assert sorted(seen) == [("alice", "alice")] * 2 + [("bob", "bob")] * 2
    for user, model in models.items():
        results = tool_results(model.requests[-1]["messages"])
        assert [r["status"] for r in results] == ["success", "success"]
        assert all(f'\\"sub\\": \\"{user}\\"' in json.dumps(r) for r in results)
        assert "REDACTED" in json.dumps(results)  # each token is scrubbed
    assert current_identity() is None


# bedrock-agentcore's RequestContext still uses a class-based pydantic config.
@pytest.mark.filterwarnings("ignore:Support for class-based `config`")
def test_identity_from_the_agentcore_runtime_context(files: Any) -> None:
    """On AgentCore Runtime the request's workload token (user-bound) is used for the tool."""
    from bedrock_agentcore.runtime.context import BedrockAgentCoreContext

    files.consent("dave")
    seen: list[str] = []

    @tool
    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", resolver=files.resolver)
    def my_files(*, access_token: str) -> str:
        """The caller's files."""
        response = httpx.get(files.url, headers={"Authorization": f"Bearer {access_token}"})
        seen.append(response.json()["sub"])
        return "ok"

    agent = make_agent(ScriptedModel([Call("my_files")]), [my_files], AgentCoreAuthPlugin())

    def request() -> None:  # what the Runtime does per request
        BedrockAgentCoreContext.set_workload_access_token(
            files.env.workload_token(files.workload, user_id="dave"))
        agent("my files?")

    contextvars.copy_context().run(request)
    assert seen == ["dave"]


@pytest.mark.parametrize("retries,failures,status", [(1, 1, "success"), (0, 1, "error"),
                                                     (2, 5, "error")])
def test_rejected_credential_is_retried_through_strands(weather: Any, retries: int,
                                                        failures: int, status: str) -> None:
    """CredentialRejectedError makes Strands rerun the tool up to retry_rejected times."""
    attempts: list[str] = []

    @tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    def flaky(*, api_key: str) -> str:
        """Refused the first `failures` times."""
        attempts.append(api_key)
        if len(attempts) <= failures:
            raise CredentialRejectedError(f"refused {api_key}", provider_name="other")
        return "fine"

    model = ScriptedModel([Call("flaky")])
    make_agent(model, [flaky], AgentCoreAuthPlugin(retry_rejected=retries))("go")
    (result,) = tool_results(model.requests[-1]["messages"])
    assert result["status"] == status
    assert len(attempts) == (failures + 1 if status == "success" else retries + 1)
    assert weather.key not in model.seen()


def test_bad_arguments() -> None:
    """Wrong consent mode or retry count is refused at construction."""
    with pytest.raises(ConfigurationError):
        AgentCoreAuthPlugin(consent="email")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        AgentCoreAuthPlugin(retry_rejected=-1)
    with pytest.raises(ConfigurationError):
        AgentCoreAuthPlugin(prefer="jwt")  # type: ignore[arg-type]


def test_always_refused_api_costs_two_upstream_calls(weather: Any) -> None:
    """Twenty tool calls against an API that always answers 401: at most two
    GetResourceApiKey calls, and no Strands rerun of a credential that backs off."""
    env = weather.env
    other = env.create_secret(env.unique_name("other"), {"key": "sk-never-the-stored-one-0"})
    url = env.protected_api(other, "key")
    attempts: list[str] = []

    @tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    def forecast(city: str, *, api_key: str) -> str:
        """Forecast for a city."""
        attempts.append(city)
        httpx.get(url, headers={"x-api-key": api_key}).raise_for_status()
        return "sunny"  # pragma: no cover - always refused

    before = env.call_count("GetResourceApiKey")
    model = ScriptedModel([Call("forecast", {"city": f"c{i}"}) for i in range(20)], ["done"])
    make_agent(model, [forecast], AgentCoreAuthPlugin(retry_rejected=1),
               tool_executor=SequentialToolExecutor())("go")
    results = tool_results(model.requests[-1]["messages"])
    assert [r["status"] for r in results] == ["error"] * 20
    assert env.call_count("GetResourceApiKey") - before <= 2
    assert len(attempts) == 20  # each call ran once: no reruns of a backed-off credential
    assert weather.key not in model.seen()
