"""Identity in Strands' own sinks: callback_handler output and stream_async events.

Strands spreads ``invocation_state`` into its init event and every model text delta, so
a raw JWT or workload access token put there (the old docs' way) reaches every
``callback_handler`` and every event an app forwards to a UI: the control shows it. The
plugin refuses it before the agent emits anything; a handle there leaves both sinks clean
through a whole consent round trip. The invocation state is the one source of identity:
nothing next to a handle, and no tool argument the model sends, changes who calls.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from typing import Any

import httpx
import pytest
from agentcore_auth_strands import AgentCoreAuthPlugin, consent_requests
from agentcore_auth_strands.testing import Call, ScriptedModel, tool_results
from strands import Agent, tool

from agentcore_auth import (
    ConfigurationError,
    current_identity,
    identity_handle,
    requires_access_token,
)


def encodings(value: str) -> list[str]:
    raw = value.encode()
    return [value, json.dumps(value)[1:-1], urllib.parse.quote(value, safe=""),
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("="),
            raw.hex()]


def leaks(text: str, *values: str) -> list[str]:
    return [e for v in values for e in encodings(v) if e in text]


class Run:
    """An agent with a USER_FEDERATION tool, recording every callback and stream event."""

    def __init__(self, files: Any, plugin: AgentCoreAuthPlugin) -> None:
        self.sink: list[str] = []

        @tool
        @requires_access_token(provider_name=files.provider, scopes=["files"],
                               auth_flow="USER_FEDERATION", callback_url=files.return_url,
                               resolver=files.resolver)
        def my_files(*, access_token: str) -> dict[str, Any]:
            """The caller's files."""
            response = httpx.get(files.url, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        # Text turns around the tool call: each text delta carries the invocation state.
        self.model = ScriptedModel(["let me look", Call("my_files")], ["here they are"])
        self.agent = Agent(model=self.model, tools=[my_files], plugins=[plugin],
                           callback_handler=lambda **kw: self.sink.append(repr(kw)))

    async def stream(self, prompt: Any, state: dict[str, Any]) -> Any:
        result = None
        async for event in self.agent.stream_async(prompt, invocation_state=state):
            self.sink.append(repr(event))
            result = event.get("result", result)
        return result


def user(files: Any, name: str) -> tuple[str, str]:
    jwt = files.env.issue_user_token(name)
    return jwt, files.env.workload_token(files.workload, user_token=jwt)


async def test_a_handle_keeps_callbacks_and_stream_events_clean(files: Any) -> None:
    """Interrupt, consent, resume with a handle: the tool runs as erin, no token anywhere."""
    jwt, wat = user(files, "erin")
    plugin = AgentCoreAuthPlugin(files.resolver)
    run = Run(files, plugin)
    state = {"identity": identity_handle(user_token=jwt, workload_access_token=wat)}
    result = await run.stream("my files?", state)
    (request,) = consent_requests(result)  # the consent pause
    assert not leaks("\n".join(run.sink), jwt, wat)
    await plugin.acomplete_consent(files.browse(request.authorization_url), user_token=jwt)
    result = await run.stream([request.respond()], state)
    assert result.stop_reason == "end_turn"
    (done,) = tool_results(run.model.requests[-1]["messages"])
    assert done["status"] == "success" and '"sub": "erin"' in done["content"][0]["text"]
    assert "agentcore-auth-identity:" in "\n".join(run.sink)  # the handle did ride along
    assert not leaks("\n".join(run.sink), jwt, wat)


async def test_control_raw_tokens_leak_into_callbacks_and_stream_events(files: Any) -> None:
    """Without the refusal (allow_raw_tokens=True), both sinks carry the JWT and the WAT."""
    jwt, wat = user(files, "ivan")
    run = Run(files, AgentCoreAuthPlugin(files.resolver, allow_raw_tokens=True))
    await run.stream("my files?", {"user_token": jwt, "workload_access_token": wat})
    text = "\n".join(run.sink)
    assert jwt in text and wat in text


@pytest.mark.parametrize("key", ["user_token", "workload_access_token"])
async def test_a_raw_token_is_refused_before_strands_emits_anything(files: Any,
                                                                    key: str) -> None:
    """The error shows the handle, carries no token, and no callback or event saw it."""
    jwt, wat = user(files, "judy")
    run = Run(files, AgentCoreAuthPlugin(files.resolver))
    value = jwt if key == "user_token" else wat
    with pytest.raises(ConfigurationError, match="identity_handle") as caught:
        await run.stream("my files?", {key: value})
    assert not leaks(str(caught.value), jwt, wat)
    assert not leaks("\n".join(run.sink), jwt, wat) and not run.model.requests


def test_nothing_fills_in_or_overrides_the_handle(files: Any) -> None:
    """A user_id next to a handle is refused; a user_id the model sends is just an argument."""
    seen: list[Any] = []

    @tool
    def whoami(user_id: str = "") -> str:
        """Who is calling (the model may claim anyone)."""
        seen.append(current_identity())
        return "ok"

    plugin = AgentCoreAuthPlugin()
    handle = identity_handle(user_id="alice")
    agent = Agent(model=ScriptedModel([Call("whoami", {"user_id": "mallory"})], ["done"]),
                  tools=[whoami], plugins=[plugin], callback_handler=None)
    agent("who am I?", invocation_state={"identity": handle})
    assert [i.user_id for i in seen] == ["alice"]
    with pytest.raises(ConfigurationError, match="pass it alone"):
        agent("who am I?", invocation_state={"identity": handle, "user_id": "mallory"})
    assert len(seen) == 1


def test_an_agent_as_a_tool_runs_as_the_caller(files: Any) -> None:
    """A sub-agent called from a tool inherits the identity and its own consent gate."""
    files.consent("alice")
    inner = Run(files, AgentCoreAuthPlugin(files.resolver))

    @tool
    def ask_files_agent() -> str:
        """Ask the files agent."""
        result = inner.agent("my files?")  # no identity passed: the caller's applies
        return str(result.stop_reason)

    outer = Agent(model=ScriptedModel([Call("ask_files_agent")], ["done"]),
                  tools=[ask_files_agent], plugins=[AgentCoreAuthPlugin()], callback_handler=None)
    outer("files?", invocation_state={"identity": identity_handle(user_id="alice")})
    (done,) = tool_results(inner.model.requests[-1]["messages"])
    assert '"sub": "alice"' in done["content"][0]["text"]
    # bob has not consented: the sub-agent's gate stops it with a consent interrupt.
    inner.model = ScriptedModel(["let me look", Call("my_files")], ["here they are"])
    inner.agent.model = inner.model
    outer = Agent(model=ScriptedModel([Call("ask_files_agent")], ["done"]),
                  tools=[ask_files_agent], plugins=[AgentCoreAuthPlugin()], callback_handler=None)
    outer("files?", invocation_state={"identity": identity_handle(user_id="bob")})
    (answer,) = tool_results(outer.messages)
    assert "interrupt" in answer["content"][0]["text"]
