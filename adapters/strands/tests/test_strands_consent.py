"""USER_FEDERATION consent through a real Strands agent: interrupts, resume, session binding."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from agentcore_auth_strands import CONSENT_INTERRUPT, AgentCoreAuthPlugin, consent_requests
from agentcore_auth_strands.testing import Call, ScriptedModel, tool_results
from strands import Agent, tool

from agentcore_auth import AccessDeniedError, identity_handle, requires_access_token


class Harness:
    """One agent with a USER_FEDERATION tool that reports whose token it got."""

    def __init__(self, files: Any, plugin: AgentCoreAuthPlugin, *turns: Any) -> None:
        self.files = files
        self.calls = 0

        @tool
        @requires_access_token(provider_name=files.provider, scopes=["files"],
                               auth_flow="USER_FEDERATION", callback_url=files.return_url,
                               resolver=files.resolver)
        def my_files(*, access_token: str) -> dict[str, Any]:
            """The caller's files (the API echoes the token back)."""
            self.calls += 1
            response = httpx.get(files.url, params={"echo": 1},
                                 headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        self.model = ScriptedModel(*(turns or ([Call("my_files")],)))
        self.agent = Agent(model=self.model, tools=[my_files], plugins=[plugin],
                           callback_handler=None)

    def result(self) -> dict[str, Any]:
        return tool_results(self.model.requests[-1]["messages"])[-1]  # type: ignore[no-any-return]


def completions(files: Any) -> int:
    return files.env.call_count("CompleteResourceTokenAuth")  # type: ignore[no-any-return]


def test_interrupt_round_trip(files: Any) -> None:
    """Interrupt with the URL, consent, resume: the tool gets alice's token, scrubbed."""
    h = Harness(files, AgentCoreAuthPlugin())
    state = {"user_id": "alice"}
    result = h.agent("list my files", invocation_state=state)
    assert result.stop_reason == "interrupt"
    (request,) = consent_requests(result)
    (interrupt,) = result.interrupts or []
    assert interrupt.name == CONSENT_INTERRUPT and interrupt.id == request.interrupt_id
    assert request.provider_name == files.provider and request.session_uri
    assert request.authorization_url.startswith(
        f"{files.env.endpoint_url}/identities/oauth2/authorize?request_uri=")
    assert len(h.model.requests) == 1  # the model was not told anything yet

    assert files.env.complete_consent(request.authorization_url, user_id="alice")
    result = h.agent([request.respond()], invocation_state=state)
    assert result.stop_reason == "end_turn" and h.calls == 1
    tool_result = h.result()
    assert tool_result["status"] == "success"
    body = json.loads(tool_result["content"][0]["text"])
    assert body["sub"] == "alice" and body["credential"].startswith("[REDACTED")
    seen = h.model.seen()
    assert request.authorization_url not in seen and "state=" not in seen


def test_complete_consent_binds_the_session_to_its_user(files: Any) -> None:
    """Only the user who started the session completes it; others are refused before the call."""
    plugin = AgentCoreAuthPlugin(files.resolver)
    h = Harness(files, plugin)
    result = h.agent("list my files", invocation_state={"user_id": "alice"})
    (request,) = consent_requests(result)
    session = files.browse(request.authorization_url)  # the app's return URL gets session_id
    assert session == request.session_uri
    before = completions(files)
    for attempt in ({"user_id": "mallory"}, {"user_token": "a-token-of-someone-else"}, {},
                    {"user_id": "alice", "user_token": "also-a-token-123"}):
        with pytest.raises(AccessDeniedError):
            plugin.complete_consent(session, **attempt)
    with pytest.raises(AccessDeniedError):
        plugin.complete_consent("urn:ietf:params:oauth:request_uri:unknown", user_id="alice")
    assert completions(files) == before  # the service was never asked

    plugin.complete_consent(session, user_id="alice")
    assert completions(files) == before + 1
    with pytest.raises(AccessDeniedError):  # done: the session is forgotten
        plugin.complete_consent(session, user_id="alice")
    result = h.agent([request.respond()], invocation_state={"user_id": "alice"})
    assert result.stop_reason == "end_turn" and h.result()["status"] == "success"


async def test_complete_consent_with_the_user_jwt(files: Any) -> None:
    """A session started for a user JWT is completed with that JWT (async twin), not a user id."""
    jwt = files.env.issue_user_token("erin")
    plugin = AgentCoreAuthPlugin(client=files.env.client("bedrock-agentcore"))
    h = Harness(files, plugin)
    handle = identity_handle(user_token=jwt, workload_access_token=files.env.workload_token(
        files.workload, user_token=jwt))
    state = {"identity": handle}
    result = await h.agent.invoke_async("list my files", invocation_state=state)
    (request,) = consent_requests(result)
    session = files.browse(request.authorization_url)
    with pytest.raises(AccessDeniedError):
        await plugin.acomplete_consent(session, user_id="erin")
    await plugin.acomplete_consent(session, user_token=jwt)
    result = await h.agent.invoke_async([request.respond()], invocation_state=state)
    assert json.loads(h.result()["content"][0]["text"])["sub"] == "erin"
    assert jwt not in h.model.seen()


def test_consent_as_a_tool_result(files: Any) -> None:
    """consent="tool_result": no interrupt; the model gets the link, and the next call works."""
    h = Harness(files, AgentCoreAuthPlugin(consent="tool_result"),
                [Call("my_files")], ["please open the link"], [Call("my_files")])
    state = {"user_id": "frank"}
    result = h.agent("list my files", invocation_state=state)
    assert result.stop_reason == "end_turn" and not consent_requests(result)
    pending = h.result()
    assert pending["status"] == "error"
    url = pending["content"][0]["text"].rsplit(" ", 1)[-1]
    assert url.startswith(f"{files.env.endpoint_url}/identities/oauth2/authorize?request_uri=")
    files.env.complete_consent(url, user_id="frank")
    h.agent("done, try again", invocation_state=state)
    assert h.result()["status"] == "success" and h.calls == 1


def test_declined_consent_does_not_rerun_the_tool(files: Any) -> None:
    """Resuming with respond(declined=True) tells the model, without calling the service again."""
    h = Harness(files, AgentCoreAuthPlugin())
    state = {"user_id": "grace"}
    (request,) = consent_requests(h.agent("list my files", invocation_state=state))
    lookups = files.env.call_count("GetResourceOauth2Token")
    result = h.agent([request.respond(declined=True)], invocation_state=state)
    assert result.stop_reason == "end_turn"
    assert files.env.call_count("GetResourceOauth2Token") == lookups and h.calls == 0
    assert "declined" in h.result()["content"][0]["text"]


def test_resume_without_consent_tells_the_model_instead_of_looping(files: Any) -> None:
    """Resumed though the user never consented: no second interrupt, and no link for the model."""
    h = Harness(files, AgentCoreAuthPlugin())
    state = {"user_id": "heidi"}
    (request,) = consent_requests(h.agent("list my files", invocation_state=state))
    result = h.agent([request.respond()], invocation_state=state)
    assert result.stop_reason == "end_turn" and not consent_requests(result)
    text = h.result()["content"][0]["text"]
    assert h.result()["status"] == "error" and "not completed the authorization" in text
    assert "login_hint" not in h.model.seen()
