"""Identity in ADK's own sinks: a DatabaseSessionService on sqlite (state and events).

ADK persists session state and every event in its session service. A raw JWT or workload
access token in (non-``temp:``) session state lands in the database (the control shows
it); the plugin refuses raw tokens in the state with an error showing the handle, and a
handle under ``temp:identity`` leaves the database clean through a consent round trip.
The ADK user is the one trusted source: a ``user_id`` a client writes into the state
never overrides it, a handle for another user is refused, and sub-agents keep both the
identity and the consent gate.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from adk_helpers import dump, files_tool, leaks, responses
from agentcore_auth_adk import AgentCoreAuthPlugin, consent_requests, consent_response
from agentcore_auth_adk.testing import ScriptedLlm, call
from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.runners import Runner
from google.adk.sessions import DatabaseSessionService
from google.genai import types

from agentcore_auth import current_identity, identity_handle


class DbRun:
    """An ADK Runner on a sqlite DatabaseSessionService, with the plugin."""

    def __init__(self, path: Path, agent: LlmAgent, plugin: AgentCoreAuthPlugin) -> None:
        self.path = path
        self.service = DatabaseSessionService(db_url=f"sqlite+aiosqlite:///{path}")
        self.runner = Runner(app=App(name="app", root_agent=agent, plugins=[plugin]),
                             session_service=self.service)

    async def send(self, user: str, session_id: str, message: str | types.Content,
                   state_delta: dict[str, Any] | None = None) -> list[Any]:
        content = (types.Content(role="user", parts=[types.Part(text=message)])
                   if isinstance(message, str) else message)
        return [e async for e in self.runner.run_async(
            user_id=user, session_id=session_id, new_message=content, state_delta=state_delta)]

    def dump(self) -> str:
        """Every table of the database, as text."""
        with sqlite3.connect(self.path) as db:
            rows = [repr(row) for (table,) in db.execute(
                "select name from sqlite_master where type='table'")
                for row in db.execute(f"select * from {table}")]  # noqa: S608 - ADK's tables
        return "\n".join(rows)


def user(files: Any, name: str) -> tuple[str, str]:
    jwt = files.env.issue_user_token(name)
    return jwt, files.env.workload_token(files.workload, user_token=jwt)


def files_agent(files: Any) -> LlmAgent:
    return LlmAgent(name="assistant", model=ScriptedLlm(call("my_files"), "done"),
                    tools=[files_tool(files)])


async def consent_round_trip(files: Any, run: DbRun, name: str, jwt: str,
                             state: dict[str, Any], plugin: AgentCoreAuthPlugin) -> Any:
    session = await run.service.create_session(app_name="app", user_id=name)
    events = await run.send(name, session.id, "my files?", state)
    (request,) = consent_requests(events)
    session_uri = await asyncio.to_thread(files.browse, request.authorization_url)
    await plugin.acomplete_consent(session_uri, user_token=jwt)
    # temp: state lives for one invocation: the app passes the handle again when resuming
    events += await run.send(name, session.id, consent_response(request), state)
    return events


async def test_a_handle_keeps_the_session_database_clean(files: Any, tmp_path: Path) -> None:
    """Consent requested, completed and answered as erin: no JWT/WAT in the database."""
    jwt, wat = user(files, "erin")
    plugin = AgentCoreAuthPlugin(files.resolver)
    run = DbRun(tmp_path / "s.db", files_agent(files), plugin)
    handle = identity_handle(user_token=jwt, workload_access_token=wat)
    events = await consent_round_trip(files, run, "erin", jwt, {"temp:identity": handle}, plugin)
    assert "'sub': 'erin'" in str(responses(events))
    text = run.dump() + dump(events)
    assert "adk_request_credential" in text  # the consent pause was persisted
    assert not leaks(jwt, text) and not leaks(wat, text)


async def test_control_raw_tokens_in_state_leak_into_the_database(files: Any,
                                                                  tmp_path: Path) -> None:
    """The old carrier under plain keys (allow_raw_tokens=True): the database has both."""
    jwt, wat = user(files, "ivan")
    keys = {"user_token_key": "user_token", "workload_access_token_key": "wat"}
    plugin = AgentCoreAuthPlugin(files.resolver, prefer="user_token", allow_raw_tokens=True,
                                 **keys)
    run = DbRun(tmp_path / "s.db", files_agent(files), plugin)
    events = await consent_round_trip(files, run, "ivan", jwt,
                                      {"user_token": jwt, "wat": wat}, plugin)
    assert "'sub': 'ivan'" in str(responses(events))
    assert leaks(jwt, run.dump()) and leaks(wat, run.dump())


@pytest.mark.parametrize("key", ["user_token", "temp:workload_access_token"])
async def test_a_raw_token_in_state_is_refused(files: Any, tmp_path: Path, key: str) -> None:
    """The error shows the handle and carries no token; the tool never runs."""
    jwt, wat = user(files, "judy")
    calls: list[str] = []
    agent = LlmAgent(name="assistant", model=ScriptedLlm(call("my_files"), "done"),
                     tools=[files_tool(files, calls)])
    plugin = AgentCoreAuthPlugin(files.resolver, user_token_key="user_token")  # noqa: S106
    run = DbRun(tmp_path / "s.db", agent, plugin)
    session = await run.service.create_session(app_name="app", user_id="judy")
    value = jwt if key == "user_token" else wat
    with pytest.raises(RuntimeError, match="identity_handle") as refused:
        await run.send("judy", session.id, "my files?", {key: value})
    assert not leaks(value, str(refused.value)) and calls == []


async def test_the_adk_user_is_never_overridden(tmp_path: Path) -> None:
    """A client-written user_id is ignored; a handle for another user is refused."""
    seen: list[Any] = []

    def whoami(user_id: str = "") -> dict[str, Any]:
        """Who is asking (the model may claim anyone)."""
        seen.append(current_identity())
        return {"ok": True}

    def agent() -> LlmAgent:
        return LlmAgent(name="assistant", model=ScriptedLlm(call("whoami", {"user_id": "eve"})),
                        tools=[whoami])

    run = DbRun(tmp_path / "s.db", agent(), AgentCoreAuthPlugin())
    session = await run.service.create_session(app_name="app", user_id="alice")
    await run.send("alice", session.id, "who?", {"user_id": "mallory"})
    assert [i.user_id for i in seen] == ["alice"]
    run = DbRun(tmp_path / "t.db", agent(), AgentCoreAuthPlugin())
    session = await run.service.create_session(app_name="app", user_id="alice")
    with pytest.raises(RuntimeError, match="another user"):
        await run.send("alice", session.id, "who?",
                       {"temp:identity": identity_handle(user_id="mallory")})
    assert len(seen) == 1


async def test_a_sub_agent_asks_consent_as_the_user(files: Any, tmp_path: Path) -> None:
    """The root transfers to a sub-agent: its user-bound tool asks for, then runs as, bob."""
    calls: list[str] = []
    sub = LlmAgent(name="files_agent", description="Lists the user's files.",
                   model=ScriptedLlm(call("my_files"), "done"), tools=[files_tool(files, calls)])
    root = LlmAgent(name="root", model=ScriptedLlm(
        call("transfer_to_agent", {"agent_name": "files_agent"})), sub_agents=[sub])
    plugin = AgentCoreAuthPlugin(files.resolver)
    run = DbRun(tmp_path / "s.db", root, plugin)
    session = await run.service.create_session(app_name="app", user_id="bob")
    (request,) = consent_requests(await run.send("bob", session.id, "my files?"))
    assert calls == [] and plugin.pending_consent(request.tool_call_id or "", user_id="bob")
    session_uri = await asyncio.to_thread(files.browse, request.authorization_url)
    await plugin.acomplete_consent(session_uri, user_id="bob")
    events = await run.send("bob", session.id, consent_response(request))
    assert "'sub': 'bob'" in str(responses(events)) and calls == ["my_files"]
