"""secure_tool() in LlamaIndex's real agent workflow: schema, identity, consent, redaction.

The model is a scripted function-calling LLM (agentcore_auth_llamaindex.testing); tools
call the emulator's protected APIs; the caller is put in the workflow Context's store.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest
from agentcore_auth_llamaindex import (
    acomplete_consent,
    complete_consent,
    consent_request,
    consent_response,
    secure_tool,
)
from agentcore_auth_llamaindex.testing import ScriptedLLM, call
from li_helpers import SpanResults, files_tool, forecast_tool, leaks
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.tools import FunctionTool
from llama_index.core.workflow import Context, InputRequiredEvent

from agentcore_auth import AccessDeniedError, current_identity, default_redactor, identity_handle
from agentcore_auth.integration import ConsentSessions


async def run(agent: FunctionAgent, user: dict[str, Any], prompt: str = "go",
              answer: Any = None) -> tuple[Any, list[Any]]:
    """Run once; ``answer(event)`` returns the HumanResponseEvent for a consent event."""
    ctx = Context(agent)
    for key, value in user.items():
        await ctx.store.set(key, value)
    handler = agent.run(prompt, ctx=ctx)
    events = []
    async for event in handler.stream_events():
        events.append(event)
        if isinstance(event, InputRequiredEvent) and answer is not None:
            handler.ctx.send_event(await answer(event))
    return await handler, events


def results(events: list[Any]) -> list[str]:
    return [str(e.tool_output.content) for e in events if isinstance(e, ToolCallResult)]


async def test_schema_has_no_credential_or_context_parameter(weather: Any) -> None:
    """The model is offered `city` only: neither api_key nor ctx is in the schema."""
    llm = ScriptedLLM("hi")
    agent = FunctionAgent(tools=[secure_tool(forecast_tool(weather))], llm=llm)
    await run(agent, {"user_id": "alice"})
    assert set(llm.tools) == {"forecast"}
    assert set(llm.tools["forecast"]["properties"]) == {"city"}, llm.tools
    assert "api_key" not in json.dumps(llm.tools) and "ctx" not in json.dumps(llm.tools)


async def test_echoed_key_and_rotation_never_reach_model_or_events(weather: Any) -> None:
    """Two calls, the key rotating in between: both succeed; model and events see no key."""
    calls: list[str] = []
    llm = ScriptedLLM(call("forecast", {"city": "Paris"}), call("forecast", {"city": "Oslo"}))
    agent = FunctionAgent(tools=[secure_tool(forecast_tool(weather, calls, rotate_after=1))],
                          llm=llm)
    old = weather.key
    _, events = await run(agent, {"user_id": "alice"})
    out = results(events)
    assert len(out) == 2 and all("'ok': True" in o for o in out) and weather.key != old
    assert all("[REDACTED" in o for o in out)
    text = llm.seen() + json.dumps([repr(e) for e in events])
    assert not leaks(old, text) and not leaks(weather.key, text)


async def test_identity_from_the_context_store_per_user(files: Any) -> None:
    """Each run's tool sees the user in its own Context store (a user id or a handle)."""
    async def whoami() -> str:
        """Who is asking."""
        identity = current_identity()
        return f"user={identity.user_id if identity else None}"

    for user in ("alice", "bob"):
        agent = FunctionAgent(tools=[secure_tool(whoami)], llm=ScriptedLLM(call("whoami")))
        _, events = await run(agent, {"user_id": user})
        assert results(events) == [f"user={user}"]
    agent = FunctionAgent(tools=[secure_tool(whoami)], llm=ScriptedLLM(call("whoami")))
    _, events = await run(agent, {"identity": identity_handle(user_id="carol")})
    assert results(events) == ["user=carol"]


async def test_raw_user_id_next_to_jwt_needs_a_precedence(files: Any) -> None:
    """The old raw carrier (allow_raw_tokens=True): a JWT next to a user id needs prefer=."""
    async def whoami() -> str:
        """Who is asking."""
        identity = current_identity()
        return f"user={identity.user_id if identity else None}"

    jwt = files.env.issue_user_token("erin")
    both = {"user_id": "x", "user_token": jwt}
    agent = FunctionAgent(tools=[secure_tool(whoami, allow_raw_tokens=True)],
                          llm=ScriptedLLM(call("whoami")))
    _, events = await run(agent, both)
    assert "given together" in results(events)[0]  # refused: the model is told, not the tool
    agent = FunctionAgent(tools=[secure_tool(whoami, prefer="user_id", allow_raw_tokens=True)],
                          llm=ScriptedLLM(call("whoami")))
    _, events = await run(agent, both)
    assert results(events) == ["user=x"]


async def test_consent_round_trip_for_two_users(files: Any) -> None:
    """InputRequiredEvent with each user's URL; answered once consented, runs as that user."""
    sessions = ConsentSessions(files.resolver)
    calls: list[str] = []
    seen_urls: dict[str, str] = {}
    for user in ("alice", "bob"):
        llm = ScriptedLLM(call("my_files"), "done")
        agent = FunctionAgent(tools=[secure_tool(files_tool(files, calls), sessions=sessions)],
                              llm=llm)

        async def answer(event: Any, user: str = user) -> Any:
            request = consent_request(event)
            assert request is not None and request.provider_name == files.provider
            seen_urls[user] = request.authorization_url
            session = await asyncio.to_thread(files.browse, request.authorization_url)
            if user == "alice":
                with pytest.raises(AccessDeniedError):  # bob cannot complete alice's session
                    complete_consent(session, user_id="bob", sessions=sessions)
            await acomplete_consent(session, user_id=user, sessions=sessions)
            return consent_response(event)

        _, events = await run(agent, {"user_id": user}, answer=answer)
        (out,) = results(events)
        assert f"'sub': '{user}'" in out and "[REDACTED" in out
        assert seen_urls[user] not in llm.seen()
    assert calls == ["my_files", "my_files"]
    assert seen_urls["alice"] != seen_urls["bob"]


async def test_declined_consent_does_not_run_the_tool(files: Any) -> None:
    """Declined: the model is told, the tool body never runs."""
    calls: list[str] = []
    llm = ScriptedLLM(call("my_files"), "done")
    agent = FunctionAgent(tools=[secure_tool(files_tool(files, calls))], llm=llm)

    async def decline(event: Any) -> Any:
        return consent_response(event, approved=False)

    _, events = await run(agent, {"user_id": "dan"}, answer=decline)
    assert "declined" in results(events)[0] and calls == []


async def test_span_handlers_see_only_scrubbed_results() -> None:
    """A registered value from a plain tool: span handlers and model see it raw unsecured only."""
    value = "sk-" + secrets.token_hex(16)
    default_redactor().register(value, name="plain")

    async def leaky() -> dict[str, str]:
        """Returns a registered value."""
        return {"value": value}

    handler = SpanResults()
    dispatcher = get_dispatcher()
    dispatcher.add_span_handler(handler)
    try:
        for secured in (False, True):
            handler.results.clear()
            llm = ScriptedLLM(call("leaky"), "done")
            tool = secure_tool(leaky) if secured else FunctionTool.from_defaults(leaky)
            _, events = await run(FunctionAgent(tools=[tool], llm=llm), {"user_id": "alice"})
            assert "leaky" in str(events)  # the call happened
            texts = (llm.seen(), handler.text(), json.dumps([repr(e) for e in events]))
            assert [bool(leaks(value, text)) for text in texts] == [not secured] * 3
    finally:
        dispatcher.span_handlers.remove(handler)
        default_redactor().unregister(value)


async def test_an_error_showing_a_value_reaches_the_model_scrubbed() -> None:
    """LlamaIndex sends str(error) to the model: a registered value in it is not sent."""
    value = "sk-" + secrets.token_hex(16)
    default_redactor().register(value, name="plain")

    async def failing() -> str:
        """Fails, quoting a registered value."""
        raise ValueError(f"upstream refused {value}")

    try:
        for secured in (False, True):
            llm = ScriptedLLM(call("failing"), "done")
            tool = secure_tool(failing) if secured else FunctionTool.from_defaults(failing)
            _, events = await run(FunctionAgent(tools=[tool], llm=llm), {"user_id": "alice"})
            (out,) = results(events)
            assert "upstream refused" in out or "RedactedError" in out or "REDACTED" in out
            assert bool(leaks(value, llm.seen(), out)) is (not secured)
    finally:
        default_redactor().unregister(value)
