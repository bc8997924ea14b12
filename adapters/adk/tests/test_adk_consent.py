"""USER_FEDERATION consent through ADK's credential requests: request, answer, re-run, per user."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from adk_helpers import Run, dump, files_tool, leaks, responses
from agentcore_auth_adk import AgentCoreAuthPlugin, consent_requests, consent_response
from agentcore_auth_adk.testing import ScriptedLlm, call

from agentcore_auth import AccessDeniedError


async def test_round_trip_for_two_users(files: Any) -> None:
    """Each user gets their own URL; once consented and answered, the tool runs as them."""
    calls: list[str] = []
    plugin = AgentCoreAuthPlugin(files.resolver)
    runs = {}
    for user in ("alice", "bob"):
        model = ScriptedLlm(call("my_files"), "done")
        run = Run(model, [files_tool(files, calls)], plugin)
        session_id = await run.session(user)
        events = await run.send(user, session_id, "list my files")
        (request,) = consent_requests(events)
        assert request.tool_call_id and plugin.pending_consent(request.tool_call_id,
                                                              user_id=user)
        assert plugin.pending_consent(request.tool_call_id, user_id="mallory") is None
        runs[user] = (run, session_id, request)
    assert calls == []  # the tool body never ran
    assert runs["alice"][2].authorization_url != runs["bob"][2].authorization_url
    sessions = {user: await asyncio.to_thread(files.browse, r.authorization_url)
                for user, (_, _, r) in runs.items()}
    before = files.env.call_count("CompleteResourceTokenAuth")
    with pytest.raises(AccessDeniedError):  # bob cannot complete alice's session
        plugin.complete_consent(sessions["alice"], user_id="bob")
    assert files.env.call_count("CompleteResourceTokenAuth") == before
    for user, session in sessions.items():
        await plugin.acomplete_consent(session, user_id=user)
    for user, (run, session_id, request) in runs.items():
        events = await run.send(user, session_id, consent_response(request))
        (response,) = responses(events)
        assert f"'sub': '{user}'" in str(response) and "[REDACTED" in str(response)
        assert run.model.seen().count("my_files") >= 1
        assert request.authorization_url not in run.model.seen()
    assert calls == ["my_files", "my_files"]


async def test_answered_before_consent_tells_the_model_without_the_link(files: Any) -> None:
    """Answered though the user never consented: no new request; the model gets no link."""
    calls: list[str] = []
    plugin = AgentCoreAuthPlugin(files.resolver)
    model = ScriptedLlm(call("my_files"), "done")
    run = Run(model, [files_tool(files, calls)], plugin)
    session_id = await run.session("fay")
    (request,) = consent_requests(await run.send("fay", session_id, "list my files"))
    events = await run.send("fay", session_id, consent_response(request))
    assert consent_requests(events) == []
    (response,) = responses(events)
    assert "has not completed the authorization" in str(response) and calls == []
    assert request.authorization_url not in model.seen()
    assert not leaks(request.authorization_url, model.seen())


async def test_consented_user_runs_straight_through(files: Any) -> None:
    """A user with a token in the vault: no credential request, the tool runs as them."""
    files.consent("gus")
    model = ScriptedLlm(call("my_files"), "done")
    run = Run(model, [files_tool(files)], AgentCoreAuthPlugin(files.resolver))
    events = await run.send("gus", await run.session("gus"), "list my files")
    assert consent_requests(events) == []
    assert "'sub': 'gus'" in str(responses(events)) and "[REDACTED" in dump(events)
