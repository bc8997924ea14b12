"""AgentCoreAuthPlugin in ADK's real run loop: schema, identity, redaction, rotation.

The model is a scripted ``BaseLlm`` (agentcore_auth_adk.testing); tools call the
emulator's protected APIs.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest
from adk_helpers import (
    Run,
    dump,
    files_tool,
    forecast_tool,
    leaks,
    responses,
    span_exporter,
    spans_text,
)
from agentcore_auth_adk import AgentCoreAuthPlugin
from agentcore_auth_adk.testing import ScriptedLlm, call

from agentcore_auth import current_identity, default_redactor


async def test_tool_schema_has_no_credential_parameter(weather: Any) -> None:
    """The model is offered `city` only: the injected api_key is not in the declaration."""
    model = ScriptedLlm("hi")
    run = Run(model, [forecast_tool(weather)], AgentCoreAuthPlugin())
    await run.send("alice", await run.session("alice"), "hello")
    assert set(model.tools) == {"forecast"}
    declaration = model.tools["forecast"]
    schema = declaration.get("parameters") or declaration["parameters_json_schema"]
    assert set(schema["properties"]) == {"city"}, declaration
    assert "api_key" not in json.dumps(model.tools)


async def test_echoed_key_reaches_neither_model_nor_events(weather: Any) -> None:
    """The API echoes the key: the model and the events get it redacted."""
    model = ScriptedLlm(call("forecast", {"city": "Paris"}))
    run = Run(model, [forecast_tool(weather)], AgentCoreAuthPlugin())
    events = await run.send("alice", await run.session("alice"), "weather in Paris?")
    (response,) = responses(events)
    assert response["ok"] is True  # the API accepted the real key
    assert "[REDACTED" in dump(events)
    assert not leaks(weather.key, model.seen(), dump(events))


async def test_tool_spans_hold_the_scrubbed_result(weather: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """ADK's tool span (content capture on) records the result after the plugin scrubbed it."""
    monkeypatch.setenv("ADK_CAPTURE_MESSAGE_CONTENT_IN_SPANS", "true")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    exporter = span_exporter()
    model = ScriptedLlm(call("forecast", {"city": "Paris"}), "done")
    run = Run(model, [forecast_tool(weather)], AgentCoreAuthPlugin())
    await run.send("alice", await run.session("alice"), "weather in Paris?")
    text = spans_text(exporter)
    assert "forecast" in text and "[REDACTED" in text, text
    assert not leaks(weather.key, text)


async def test_plugin_scrubs_what_a_plain_tool_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered value from an undecorated tool: raw without the plugin, redacted with.

    In the model input, the events and ADK's tool span (content capture on).
    """
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    value = "sk-" + secrets.token_hex(16)
    default_redactor().register(value, name="plain")

    def leaky() -> dict[str, str]:
        """Returns a registered value."""
        return {"value": value}

    try:
        for plugin in (None, AgentCoreAuthPlugin()):
            exporter = span_exporter()
            model = ScriptedLlm(call("leaky"), "done")
            run = Run(model, [leaky], plugin)
            events = await run.send("alice", await run.session("alice"), "go")
            texts = (model.seen(), dump(events), spans_text(exporter))
            assert [bool(leaks(value, text)) for text in texts] == [plugin is None] * 3
    finally:
        default_redactor().unregister(value)


async def test_each_call_runs_as_its_adk_user(files: Any) -> None:
    """Two users, parallel calls: each tool call sees its own ADK user (sync and async)."""
    seen: list[tuple[str, str | None]] = []

    def whoami_sync() -> str:
        """Who is asking (sync)."""
        seen.append(("sync", current_identity().user_id))
        return "ok"

    async def whoami_async() -> str:
        """Who is asking (async)."""
        seen.append(("async", current_identity().user_id))
        return "ok"

    files.consent("alice")
    files.consent("bob")
    plugin = AgentCoreAuthPlugin()
    for user in ("alice", "bob"):
        model = ScriptedLlm([call("whoami_sync"), call("whoami_async"), call("my_files")])
        run = Run(model, [whoami_sync, whoami_async, files_tool(files)], plugin)
        events = await run.send(user, await run.session(user), "who am I?")
        out = responses(events)
        assert f"'sub': '{user}'" in str(out) or f'"sub": "{user}"' in json.dumps(out)
    assert sorted(seen) == sorted([("sync", "alice"), ("async", "alice"),
                                   ("sync", "bob"), ("async", "bob")])
    assert current_identity() is None  # nothing leaked out of the tool calls


async def test_rotated_key_is_refetched(weather: Any) -> None:
    """The key rotates after the first call: the second call still succeeds, redacted."""
    calls: list[str] = []
    model = ScriptedLlm(call("forecast", {"city": "Paris"}), call("forecast", {"city": "Oslo"}))
    run = Run(model, [forecast_tool(weather, calls, rotate_after=1)], AgentCoreAuthPlugin())
    old = weather.key
    events = await run.send("alice", await run.session("alice"), "weather twice")
    out = responses(events)
    assert [r.get("ok") for r in out] == [True, True] and weather.key != old
    assert not leaks(old, model.seen(), dump(events))
    assert not leaks(weather.key, model.seen(), dump(events))


async def test_user_token_next_to_user_id_is_refused_unless_preferred(files: Any) -> None:
    """A raw JWT in temp: state is refused; the old way (allow_raw_tokens) needs prefer=."""
    jwt = files.env.issue_user_token("erin")
    delta = {"temp:user_token": jwt}

    def whoami() -> dict[str, Any]:
        """Who is asking."""
        identity = current_identity()
        assert identity is not None
        return {"user_id": identity.user_id, "has_token": identity.user_token is not None}

    model = ScriptedLlm(call("whoami"))
    run = Run(model, [whoami], AgentCoreAuthPlugin())
    with pytest.raises(RuntimeError, match="identity_handle") as refused:
        await run.send("erin", await run.session("erin"), "who?", delta)
    assert not leaks(jwt, str(refused.value))
    run = Run(ScriptedLlm(call("whoami")), [whoami], AgentCoreAuthPlugin(allow_raw_tokens=True))
    with pytest.raises(RuntimeError, match="user_id and a user_token were given together"):
        await run.send("erin", await run.session("erin"), "who?", delta)
    for prefer, expected in (("user_token", {"user_id": None, "has_token": True}),
                             ("user_id", {"user_id": "someone", "has_token": False})):
        model = ScriptedLlm(call("whoami"))
        run = Run(model, [whoami], AgentCoreAuthPlugin(prefer=prefer,  # type: ignore[arg-type]
                                                       allow_raw_tokens=True))
        session_id = await run.session("someone")
        events = await run.send("someone", session_id, "who?", delta)
        assert responses(events) == [expected]
        session = await run.runner.session_service.get_session(
            app_name="app", user_id="someone", session_id=session_id)
        assert session is not None and "temp:user_token" not in session.state
        assert not leaks(jwt, model.seen(), dump(events), dump(session.events))
