"""USER_FEDERATION consent as pydantic-ai deferred approvals: the round trip, per user."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agentcore_auth_pydantic_ai import (
    CONSENT_METADATA,
    AgentCoreAuthCapability,
    consent_requests,
    consent_results,
)
from agentcore_auth_pydantic_ai.testing import Script, call
from pai_helpers import Deps, Spans, files_fn, leaks
from pydantic_ai import Agent, DeferredToolRequests, Tool
from pydantic_ai.messages import ModelMessage, ToolReturnPart

from agentcore_auth import AccessDeniedError, identity_handle


def last_return(messages: list[ModelMessage]) -> ToolReturnPart:
    return [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)][-1]


class Harness:
    """One agent with a USER_FEDERATION tool that reports whose token it got."""

    def __init__(self, files: Any, *turns: Any) -> None:
        self.files, self.calls = files, []
        self.script, self.spans = Script(*(turns or (call("my_files"),))), Spans()
        self.auth = AgentCoreAuthCapability(files.resolver)
        self.agent = Agent(self.script.model, deps_type=Deps, tools=[Tool(files_fn(files,
                                                                                   self.calls))],
                           capabilities=[self.auth, self.spans.capability],
                           output_type=[str, DeferredToolRequests])


def test_round_trip_for_two_users(files: Any) -> None:
    """Each user's call is deferred with their own URL; after consent, it runs as that user."""
    h = Harness(files, call("my_files"), call("my_files"))
    runs = {}
    for user in ("alice", "bob"):
        result = h.agent.run_sync("list my files", deps=Deps(user_id=user))
        assert isinstance(result.output, DeferredToolRequests)
        (request,) = consent_requests(result)
        assert request.provider_name == files.provider and request.session_uri
        assert request.authorization_url.startswith(
            f"{files.env.endpoint_url}/identities/oauth2/authorize?request_uri=")
        assert result.output.metadata[request.tool_call_id]["type"] == CONSENT_METADATA
        runs[user] = (result, request)
    assert h.calls == []  # the tool body never ran
    before = files.env.call_count("CompleteResourceTokenAuth")
    sessions = {user: files.browse(request.authorization_url)
                for user, (_, request) in runs.items()}
    with pytest.raises(AccessDeniedError):  # bob cannot complete alice's session
        h.auth.complete_consent(sessions["alice"], user_id="bob")
    assert files.env.call_count("CompleteResourceTokenAuth") == before
    for user, session in sessions.items():
        h.auth.complete_consent(session, user_id=user)
    for user, (result, request) in runs.items():
        resumed = h.agent.run_sync(message_history=result.all_messages(), deps=Deps(user_id=user),
                                   deferred_tool_results=consent_results([request]))
        assert resumed.output == "done" and not consent_requests(resumed)
        body = last_return(resumed.all_messages()).content
        assert body["sub"] == user and body["credential"].startswith("[REDACTED")
    assert h.calls == ["my_files", "my_files"]
    seen, spans = h.script.seen(), h.spans.text()
    for _, request in runs.values():
        assert request.authorization_url not in seen
    assert "state=" not in seen and "[REDACTED:" in spans


async def test_async_round_trip_with_the_user_jwt(files: Any) -> None:
    """deps with a JWT handle: the session is completed with that JWT only (async twin)."""
    jwt = files.env.issue_user_token("erin")
    h = Harness(files)
    deps = Deps(identity=identity_handle(user_token=jwt))
    result = await h.agent.run("files", deps=deps)
    (request,) = consent_requests(result.output)
    session = await asyncio.to_thread(files.browse, request.authorization_url)
    with pytest.raises(AccessDeniedError):
        await h.auth.acomplete_consent(session, user_id="erin")
    await h.auth.acomplete_consent(session, user_token=jwt)
    resumed = await h.agent.run(message_history=result.all_messages(), deps=deps,
                                deferred_tool_results=request.results())
    assert last_return(resumed.all_messages()).content["sub"] == "erin"
    assert not leaks(jwt, h.script.seen()) and not leaks(jwt, h.spans.text())


def test_declined_consent_does_not_run_the_tool(files: Any) -> None:
    """Declined: pydantic-ai tells the model, the tool is not run, the service not called."""
    h = Harness(files)
    result = h.agent.run_sync("files", deps=Deps(user_id="dan"))
    (request,) = consent_requests(result)
    lookups = files.env.call_count("GetResourceOauth2Token")
    resumed = h.agent.run_sync(message_history=result.all_messages(), deps=Deps(user_id="dan"),
                               deferred_tool_results=consent_results([request], declined=True))
    assert "declined" in str(last_return(resumed.all_messages()).content)
    assert h.calls == [] and files.env.call_count("GetResourceOauth2Token") == lookups


def test_approved_before_consent_tells_the_model(files: Any) -> None:
    """Approved though the user never consented: the model is told, nothing is deferred again."""
    h = Harness(files)
    result = h.agent.run_sync("files", deps=Deps(user_id="fay"))
    (request,) = consent_requests(result)
    resumed = h.agent.run_sync(message_history=result.all_messages(), deps=Deps(user_id="fay"),
                               deferred_tool_results=request.results())
    assert "has not completed the authorization" in str(last_return(resumed.all_messages()).content)
    assert resumed.output == "done" and h.calls == []


def test_other_deferred_calls_are_not_consent_requests() -> None:
    """consent_requests ignores approvals that are not ours and anything not deferred."""
    from pydantic_ai.messages import ToolCallPart

    output = DeferredToolRequests(approvals=[ToolCallPart("delete", {}, tool_call_id="c1")],
                                  metadata={"c1": {"reason": "dangerous"}})
    assert consent_requests(output) == [] and consent_requests("text") == []
