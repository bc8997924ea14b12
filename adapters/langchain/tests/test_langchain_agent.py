"""AgentCoreAuthMiddleware in a real create_agent graph: schema, identity, redaction, retries.

The model is LangChain's GenericFakeChatModel, scripted with tool calls
(agentcore_auth_langchain.testing); tools call the emulator's protected APIs with httpx.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agentcore_auth_langchain import AgentCoreAuthMiddleware
from agentcore_auth_langchain.testing import ScriptedChatModel, call, tool_messages
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from agentcore_auth import (
    ConfigurationError,
    CredentialRejectedError,
    current_identity,
    requires_access_token,
    requires_api_key,
)
from agentcore_auth._redact import secret_patterns


def leaks(value: str, *texts: str) -> list[str]:
    """Every encoding of ``value`` the redactor knows (raw, JSON, base64...) found in ``texts``."""
    return [p for p in secret_patterns(value) for text in texts if p in text]


@dataclass
class Ctx:
    """The app's per-run context (create_agent(context_schema=Ctx))."""

    user_id: str | None = None
    user_token: str | None = None


class ToolEnds(BaseCallbackHandler):
    """Records what LangChain's callbacks are given at tool end and error."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_tool_end(self, output: Any, **kwargs: Any) -> None:
        self.seen.append(repr(output))

    def on_tool_error(self, error: BaseException, **kwargs: Any) -> None:
        self.seen.append(repr(error))


def thread(**configurable: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4()), **configurable}}


def forecast_tool(weather: Any, calls: list[str] | None = None, *,
                  scrub_result: bool = True) -> Any:
    @tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=scrub_result)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city (the API echoes the key it received)."""
        if calls is not None:
            calls.append(city)
        response = httpx.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return dict(response.json(), city=city)

    return forecast


def files_tool(files: Any, *, sync: bool = False) -> Any:
    decorate = requires_access_token(provider_name=files.provider, scopes=["files"],
                                     auth_flow="USER_FEDERATION", callback_url=files.return_url,
                                     resolver=files.resolver)

    def my_files(*, access_token: str) -> dict[str, Any]:
        """The caller's files (the API echoes the token back)."""
        response = httpx.get(files.url, params={"echo": 1},
                             headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    async def amy_files(*, access_token: str) -> dict[str, Any]:
        """The caller's files (the API echoes the token back)."""
        async with httpx.AsyncClient() as http:
            response = await http.get(files.url, params={"echo": 1},
                                      headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    func = decorate(my_files) if sync else decorate(amy_files)
    return tool("my_files", func)


def test_tool_schema_has_no_credential_parameter(weather: Any) -> None:
    """The model is offered `city` only: the injected api_key is not in the tool schema."""
    model = ScriptedChatModel("hi")
    agent = create_agent(model, [forecast_tool(weather)], middleware=[AgentCoreAuthMiddleware()])
    agent.invoke({"messages": [("user", "hello")]})
    (schema,) = model.bound_tools
    assert schema["function"]["name"] == "forecast"
    assert set(schema["function"]["parameters"]["properties"]) == {"city"}
    assert "api_key" not in json.dumps(schema)


def test_echoed_key_never_reaches_the_model(weather: Any) -> None:
    """The API echoes the key; the model and the state get it redacted.

    The middleware alone is checked: the decorator's own scrubbing is switched off
    (``scrub_result=False``), and the control (no middleware) must then leak.
    """
    for middleware in ([], [AgentCoreAuthMiddleware()]):
        model = ScriptedChatModel(call("forecast", {"city": "Paris"}))
        agent = create_agent(model, [forecast_tool(weather, scrub_result=False)],
                             middleware=middleware)
        result = agent.invoke({"messages": [("user", "weather in Paris?")]})
        (message,) = tool_messages(result["messages"])
        assert '"ok": true' in message.text  # the API accepted the real key
        leaked = bool(leaks(weather.key, model.seen(), message.text, repr(result)))
        assert leaked is (not middleware)


def test_callbacks_never_see_the_key(weather: Any) -> None:
    """on_tool_end gets the tool's own return value: it must be scrubbed where it is made."""
    forecast = forecast_tool(weather)
    direct = json.dumps(forecast.invoke({"city": "Oslo"}))
    if weather.key in direct:
        # The decorators scrub their own return values from "Scrub at the source" (#12) on;
        # until then LangChain records the raw value before any middleware runs.
        pytest.xfail("the decorators do not scrub their return values yet (#12)")
    ends = ToolEnds()
    model = ScriptedChatModel(call("forecast", {"city": "Oslo"}))
    agent = create_agent(model, [forecast], middleware=[AgentCoreAuthMiddleware()])
    agent.invoke({"messages": [("user", "weather?")]}, {"callbacks": [ends]})
    assert ends.seen and not leaks(weather.key, *ends.seen, model.seen())


@pytest.mark.parametrize("sync", [False, True], ids=["async-tool", "sync-tool"])
async def test_two_users_concurrently_get_their_own_tokens(files: Any, sync: bool) -> None:
    """Two runs of one graph at once, each user from its context=: each gets its own token."""
    for user in ("ann", "ben"):
        files.consent(user)
    model = ScriptedChatModel(call("my_files"), call("my_files"))
    agent = create_agent(model, [files_tool(files, sync=sync)],
                         middleware=[AgentCoreAuthMiddleware()],
                         context_schema=Ctx, checkpointer=InMemorySaver())

    async def run(user: str) -> dict[str, Any]:
        result = await agent.ainvoke({"messages": [("user", "my files?")]}, thread(),
                                     context=Ctx(user_id=user))
        (message,) = tool_messages(result["messages"])
        return json.loads(message.text)  # type: ignore[no-any-return]

    ann, ben = await asyncio.gather(run("ann"), run("ben"))
    assert (ann["sub"], ben["sub"]) == ("ann", "ben")
    assert ann["credential"].startswith("[REDACTED") and ben["credential"].startswith("[REDACTED")
    assert current_identity() is None  # nothing leaked to the caller's context


async def test_identity_from_configurable_under_custom_keys(files: Any) -> None:
    """config["configurable"] works too, under the app's own key names."""
    files.consent("cleo")
    model = ScriptedChatModel(call("my_files"))
    middleware = AgentCoreAuthMiddleware(user_id_key="uid", identity_source="configurable")
    agent = create_agent(model, [files_tool(files)], middleware=[middleware],
                         checkpointer=InMemorySaver())
    result = await agent.ainvoke({"messages": [("user", "files")]}, thread(uid="cleo"))
    (message,) = tool_messages(result["messages"])
    assert json.loads(message.text)["sub"] == "cleo"


def test_rotation_mid_conversation_costs_one_extra_lookup(weather: Any) -> None:
    """The key rotates between two turns: one refused call, one refetch, the model sees success."""
    calls: list[str] = []
    model = ScriptedChatModel(call("forecast", {"city": "Rome"}), "ok",
                              call("forecast", {"city": "Lima"}), "ok")
    agent = create_agent(model, [forecast_tool(weather, calls)],
                         middleware=[AgentCoreAuthMiddleware()], checkpointer=InMemorySaver())
    config = thread()
    agent.invoke({"messages": [("user", "weather in Rome?")]}, config)
    lookups = weather.env.call_count("GetResourceApiKey")
    weather.rotate()
    result = agent.invoke({"messages": [("user", "and Lima?")]}, config)
    assert weather.env.call_count("GetResourceApiKey") == lookups + 1
    assert calls == ["Rome", "Lima", "Lima"]  # the refused call and its one retry
    last = tool_messages(result["messages"])[-1]
    assert last.status == "success" and '"ok": true' in last.text
    assert not leaks(weather.key, model.seen(), repr(result))


def test_a_refused_credential_is_retried_once_then_reported(weather: Any) -> None:
    """CredentialRejectedError from the tool: rerun once, then the model gets a scrubbed message."""
    attempts: list[int] = []

    @tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      reject_statuses=())
    def flaky(*, api_key: str) -> str:
        """Refuses its key every time, quoting it."""
        attempts.append(1)
        raise CredentialRejectedError(f"refused {api_key}", provider_name="another-provider")

    model = ScriptedChatModel(call("flaky"))
    agent = create_agent(model, [flaky], middleware=[AgentCoreAuthMiddleware()])
    result = agent.invoke({"messages": [("user", "go")]})
    assert len(attempts) == 2  # the first call and the middleware's one retry
    (message,) = tool_messages(result["messages"])
    assert message.status == "error" and "refused" in message.text
    assert not leaks(weather.key, message.text, model.seen())

    with pytest.raises(ConfigurationError, match="retry_rejected"):
        AgentCoreAuthMiddleware(retry_rejected=-1)
