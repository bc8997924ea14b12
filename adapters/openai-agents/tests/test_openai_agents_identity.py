"""Identity as a handle, consent per run and per whole identity, handoffs, in the SDK's loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agentcore_auth_openai_agents import complete_consent, consent_requests, secure
from agentcore_auth_openai_agents.testing import ScriptedModel, call
from agents import (
    Agent,
    Handoff,
    Runner,
    SQLiteSession,
    handoff,
    set_trace_processors,
)
from oai_helpers import Spans, files_tool, leaks
from test_openai_agents_consent import CONFIG, output

from agentcore_auth import ConfigurationError, identity_context, identity_handle
from agentcore_auth.integration import (
    ConsentRequest,
    ConsentSessions,
    PendingConsents,
    credential_requirements,
)


@pytest.fixture
def spans() -> Iterator[Spans]:
    processor = Spans()
    set_trace_processors([processor])
    yield processor
    set_trace_processors([])


def wat_for(files: Any, user: str) -> str:
    data = files.env.client("bedrock-agentcore")
    return data.get_workload_access_token_for_user_id(  # type: ignore[no-any-return]
        workloadName=files.workload, userId=user)["workloadAccessToken"]


def same_call(name: str, call_id: str) -> Any:
    item = call(name)
    return item.model_copy(update={"call_id": call_id, "id": f"fc_{call_id}"})


def saved(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return repr(conn.execute("select * from agent_messages").fetchall())


async def test_the_sdk_saves_a_raw_context_token_so_secure_refuses_it(files: Any,
                                                                    spans: Spans) -> None:
    """Control: the SDK writes context= into to_state(); secured, a raw token is refused."""
    jwt = files.env.issue_user_token("rae")
    plain = Agent(name="plain", model=ScriptedModel("hi"))
    result = await Runner.run(plain, "hi", context={"user_token": jwt})
    assert leaks(jwt, result.to_state().to_string())  # what the fix prevents

    calls: list[str] = []
    agent = secure(Agent(name="a", model=ScriptedModel(call("my_files")),
                         tools=[files_tool(files, calls)]),
                   sessions=ConsentSessions(files.resolver))
    for key, token in (("user_token", jwt), ("workload_access_token", wat_for(files, "rae"))):
        with pytest.raises(ConfigurationError, match="identity_handle") as refused:
            await Runner.run(agent, "files", context={key: token}, run_config=CONFIG)
        assert not leaks(token, str(refused.value), spans.text())
    assert calls == []


@pytest.mark.parametrize("kind", ["user_token", "workload_access_token"])
async def test_a_handle_leaves_no_token_in_run_state_session_or_spans(
        files: Any, spans: Spans, tmp_path: Path, kind: str) -> None:
    """Consent round trip with a handle: RunState blob, SQLiteSession, spans carry no token."""
    token = files.env.issue_user_token("uma") if kind == "user_token" else wat_for(files, "uma")
    sessions, calls = ConsentSessions(files.resolver), []
    handle = identity_handle(**{kind: token})
    db = tmp_path / "session.db"
    session = SQLiteSession("uma", db)
    agent = secure(Agent(name="a", model=ScriptedModel(call("my_files")),
                         tools=[files_tool(files, calls)]), sessions=sessions)
    result = await Runner.run(agent, "files", context={"identity": handle}, session=session,
                              run_config=CONFIG)
    (request,) = consent_requests(result)
    blob = result.to_state().to_string()
    assert handle in blob  # the context is saved: the handle is what it holds
    session_id = await asyncio.to_thread(files.browse, request.authorization_url)
    if kind == "user_token":
        complete_consent(session_id, user_token=token, sessions=sessions)
    else:  # a WAT-only session is bound to no user here: the app completes it itself
        files.env.client("bedrock-agentcore").complete_resource_token_auth(
            userIdentifier={"userId": "uma"}, sessionUri=session_id)
    state = result.to_state()
    request.approve(state)
    resumed = await Runner.run(agent, state, context={"identity": handle}, session=session,
                               run_config=CONFIG)
    assert "'sub': 'uma'" in output(resumed) and calls == ["my_files"]
    assert not leaks(token, blob, resumed.to_state().to_string(), saved(db), spans.text())


async def test_two_users_with_colliding_call_ids_each_get_their_own_link(
        files: Any, spans: Spans) -> None:
    """Same call id in two users' runs: each run shows its own user's link and session."""
    sessions = ConsentSessions(files.resolver)
    agent = secure(Agent(name="a", tools=[files_tool(files)]), sessions=sessions)
    requests = {}
    for user in ("alice", "bob"):
        mine = agent.clone(model=ScriptedModel(same_call("my_files", "call_same")))
        result = await Runner.run(mine, "files", context={"identity": identity_handle(
            user_id=user)}, run_config=CONFIG)
        (requests[user],) = consent_requests(result)
    alice, bob = requests["alice"], requests["bob"]
    assert alice.call_id == bob.call_id == "call_same"  # control: a map by call id mixes them
    assert alice.authorization_url != bob.authorization_url
    for user, request in requests.items():
        session_id = await asyncio.to_thread(files.browse, request.authorization_url)
        complete_consent(session_id, user_id=user, sessions=sessions)  # each its own session


async def test_consent_completed_out_of_process_is_picked_up(files: Any, spans: Spans) -> None:
    """The app's own CompleteResourceTokenAuth elsewhere: the next run asks the service, runs."""
    pending, calls = PendingConsents(), []
    tool = files_tool(files, calls)
    agent = secure(Agent(name="a", tools=[tool]),
                   sessions=ConsentSessions(files.resolver), pending=pending)
    context = {"identity": identity_handle(user_id="olga")}

    async def run() -> Any:
        mine = agent.clone(model=ScriptedModel(call("my_files")))
        return await Runner.run(mine, "files", context=context, run_config=CONFIG)

    (first,) = consent_requests(await run())
    (again,) = consent_requests(await run())  # not completed: the same link, asked again
    assert again.authorization_url == first.authorization_url
    session_id = await asyncio.to_thread(files.browse, first.authorization_url)
    other_client = files.env.client("bedrock-agentcore")  # e.g. the return-URL handler
    other_client.complete_resource_token_auth(userIdentifier={"userId": "olga"},
                                              sessionUri=session_id)
    (requirement,) = credential_requirements(tool.__wrapped__)
    with identity_context(user_id="olga"):  # control: without asking, the stale link
        assert pending.lookup(requirement) == ConsentRequest(
            first.provider_name, first.authorization_url, first.session_uri)
    before = files.env.call_count("GetResourceOauth2Token")
    result = await run()
    assert consent_requests(result) == [] and "'sub': 'olga'" in output(result)
    assert calls == ["my_files"] and files.env.call_count("GetResourceOauth2Token") > before


@pytest.mark.parametrize("style", ["agent", "handoff()"])
async def test_a_handoff_target_asks_consent_as_that_user(files: Any, spans: Spans,
                                                         style: str) -> None:
    """Triage hands off to an agent with a USER_FEDERATION tool: it asks as the same user."""
    def graph(model: ScriptedModel, calls: list[str]) -> Agent[Any]:
        target = Agent(name="files_agent", model=model, tools=[files_tool(files, calls)])
        triage = Agent(name="triage", model=model,
                       handoffs=[target if style == "agent" else handoff(target)])
        target.handoffs = [triage]  # a cycle
        return triage

    transfer = Handoff.default_tool_name(Agent(name="files_agent"))
    # Control: the graph unsecured: after the handoff the tool has no identity, no consent.
    calls: list[str] = []
    result = await Runner.run(graph(ScriptedModel(call(transfer), call("my_files")), calls),
                              "files", context={"identity": identity_handle(user_id="hana")})
    assert consent_requests(result) == [] and output(result).startswith("An error occurred")

    sessions = ConsentSessions(files.resolver)
    agent = secure(graph(ScriptedModel(call(transfer), call("my_files")), calls),
                   sessions=sessions)
    context = {"identity": identity_handle(user_id="hana")}
    result = await Runner.run(agent, "files", context=context, run_config=CONFIG)
    assert result.last_agent.name == "files_agent"
    (request,) = consent_requests(result)
    session_id = await asyncio.to_thread(files.browse, request.authorization_url)
    complete_consent(session_id, user_id="hana", sessions=sessions)
    state = result.to_state()
    request.approve(state)
    resumed = await Runner.run(agent, state, context=context, run_config=CONFIG)
    assert "'sub': 'hana'" in output(resumed) and calls == ["my_files"]
