"""USER_FEDERATION consent through the SDK's approvals: interrupt, approve, resume, per user."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from agentcore_auth_openai_agents import (
    acomplete_consent,
    complete_consent,
    consent_requests,
    scrub_model_input,
    secure,
)
from agentcore_auth_openai_agents.testing import ScriptedModel, call
from agents import Agent, RunConfig, Runner, set_trace_processors
from oai_helpers import Ctx, Spans, files_tool, leaks

from agentcore_auth import AccessDeniedError, identity_handle
from agentcore_auth.integration import ConsentSessions

CONFIG = RunConfig(call_model_input_filter=scrub_model_input)


@pytest.fixture
def spans() -> Iterator[Spans]:
    processor = Spans()
    set_trace_processors([processor])
    yield processor
    set_trace_processors([])


class Harness:
    """A secured agent with a USER_FEDERATION tool that reports whose token it got."""

    def __init__(self, files: Any, approval: Any = False) -> None:
        self.files, self.calls = files, []
        self.sessions = ConsentSessions(files.resolver)
        tool = files_tool(files, self.calls)
        tool.needs_approval = approval
        self.agent = secure(Agent(name="a", tools=[tool]), sessions=self.sessions)
        self.models: list[ScriptedModel] = []

    async def start(self, ctx: Any) -> tuple[Agent[Any], Any]:
        model = ScriptedModel(call("my_files"))
        self.models.append(model)
        agent = self.agent.clone(model=model)
        return agent, await Runner.run(agent, "list my files", context=ctx, run_config=CONFIG)

    def seen(self) -> str:
        return "".join(m.seen() for m in self.models)


def output(result: Any) -> str:
    return [str(i.output) for i in result.new_items if i.type == "tool_call_output_item"][-1]


async def test_round_trip_for_two_users(files: Any, spans: Spans) -> None:
    """Each user is asked with their own URL; after consent and approval, it runs as them."""
    h = Harness(files)
    runs = {}
    for user in ("alice", "bob"):
        agent, result = await h.start(Ctx(user_id=user))
        (request,) = consent_requests(result)
        assert request.item in result.interruptions and request.call_id
        assert request.provider_name == files.provider and request.session_uri
        assert request.authorization_url.startswith(
            f"{files.env.endpoint_url}/identities/oauth2/authorize?request_uri=")
        runs[user] = (agent, result, request)
    assert h.calls == []  # the tool body never ran
    before = files.env.call_count("CompleteResourceTokenAuth")
    sessions = {user: await asyncio.to_thread(files.browse, r.authorization_url)
                for user, (_, _, r) in runs.items()}
    with pytest.raises(AccessDeniedError):  # bob cannot complete alice's session
        complete_consent(sessions["alice"], user_id="bob", sessions=h.sessions)
    assert files.env.call_count("CompleteResourceTokenAuth") == before
    for user, session in sessions.items():
        await acomplete_consent(session, user_id=user, sessions=h.sessions)
    for user, (agent, result, request) in runs.items():
        state = result.to_state()
        request.approve(state)
        resumed = await Runner.run(agent, state, context=Ctx(user_id=user), run_config=CONFIG)
        assert not resumed.interruptions and resumed.final_output == "done"
        assert f"'sub': '{user}'" in output(resumed) and "[REDACTED" in output(resumed)
    assert h.calls == ["my_files", "my_files"]
    seen = h.seen()
    for _, _, request in runs.values():
        assert request.authorization_url not in seen and request.authorization_url not in (
            spans.text())
    assert "[REDACTED" in spans.text()


async def test_round_trip_with_the_user_jwt(files: Any, spans: Spans) -> None:
    """context with a handle of the JWT: the session is completed with that JWT only."""
    jwt = files.env.issue_user_token("erin")
    h = Harness(files)
    handle = identity_handle(user_token=jwt)
    agent, result = await h.start({"identity": handle})
    (request,) = consent_requests(result)
    session = await asyncio.to_thread(files.browse, request.authorization_url)
    with pytest.raises(AccessDeniedError):
        await acomplete_consent(session, user_id="erin", sessions=h.sessions)
    await acomplete_consent(session, user_token=jwt, sessions=h.sessions)
    state = result.to_state()
    request.approve(state)
    resumed = await Runner.run(agent, state, context={"identity": handle},
                               run_config=CONFIG)
    assert "'sub': 'erin'" in output(resumed)
    assert not leaks(jwt, h.seen()) and not leaks(jwt, spans.text())


async def test_declined_consent_does_not_run_the_tool(files: Any, spans: Spans) -> None:
    """Declined: the call is rejected, the model is told, the tool body never runs."""
    h = Harness(files)
    agent, result = await h.start(Ctx(user_id="dan"))
    (request,) = consent_requests(result)
    state = result.to_state()
    request.decline(state)
    resumed = await Runner.run(agent, state, context=Ctx(user_id="dan"), run_config=CONFIG)
    assert "declined" in output(resumed) and h.calls == []


async def test_no_consent_needed_no_approval_and_own_approvals_kept(files: Any,
                                                                    spans: Spans) -> None:
    """A user with a token runs straight through; the tool's own needs_approval still applies."""
    files.consent("gus")
    h = Harness(files)
    _, result = await h.start(Ctx(user_id="gus"))
    assert not result.interruptions and "'sub': 'gus'" in output(result)

    own = Harness(files, approval=True)
    _, result = await own.start(Ctx(user_id="gus"))
    (item,) = result.interruptions
    assert consent_requests(result) == []  # the app's own approval, not a consent


async def test_approved_before_consent_fails_the_call_without_the_link(files: Any,
                                                                       spans: Spans) -> None:
    """Approved though the user never consented: the call fails; the model gets no link."""
    h = Harness(files)
    agent, result = await h.start(Ctx(user_id="fay"))
    (request,) = consent_requests(result)
    state = result.to_state()
    request.approve(state)
    resumed = await Runner.run(agent, state, context=Ctx(user_id="fay"), run_config=CONFIG)
    assert output(resumed).startswith("An error occurred") and h.calls == []
    assert request.authorization_url not in h.seen()
    assert request.authorization_url not in spans.text()
