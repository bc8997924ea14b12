"""USER_FEDERATION consent as LangGraph interrupts: create_agent and a StateGraph with ToolNode."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated, Any, TypedDict

import httpx
import pytest
from agentcore_auth_langchain import (
    CONSENT_INTERRUPT,
    AgentCoreAuthMiddleware,
    ConsentRequest,
    consent_requests,
)
from agentcore_auth_langchain.testing import ScriptedChatModel, call, tool_messages
from langchain.agents import create_agent
from langchain_core.messages import AnyMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from agentcore_auth import (
    AccessDeniedError,
    AuthorizationRequiredError,
    ConfigurationError,
    identity_context,
    identity_handle,
    requires_access_token,
)
from agentcore_auth._redact import secret_patterns


def leaks(value: str, *texts: str) -> list[str]:
    """Every encoding of ``value`` the redactor knows (raw, JSON, base64...) found in ``texts``."""
    return [p for p in secret_patterns(value) for text in texts if p in text]


class Harness:
    """One create_agent graph with a USER_FEDERATION tool that reports whose token it got."""

    def __init__(self, files: Any, *turns: Any, checkpointer: bool = True) -> None:
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

        self.tool = my_files
        self.auth = AgentCoreAuthMiddleware(files.resolver, identity_source="configurable")
        self.model = ScriptedChatModel(*(turns or (call("my_files"),)))
        self.agent = create_agent(self.model, [my_files], middleware=[self.auth],
                                  checkpointer=InMemorySaver() if checkpointer else None)

    def start(self, user: str) -> tuple[dict[str, Any], ConsentRequest]:
        config = {"configurable": {"thread_id": str(uuid.uuid4()), "user_id": user}}
        result = self.agent.invoke({"messages": [("user", "list my files")]}, config)
        (request,) = consent_requests(result)
        return config, request

    def last(self, result: dict[str, Any]) -> Any:
        return tool_messages(result["messages"])[-1]


def test_interrupt_round_trip_for_two_users(files: Any) -> None:
    """Each user is interrupted with their own URL, completes their own session, gets a token."""
    h = Harness(files, call("my_files"), call("my_files"))
    runs = {user: h.start(user) for user in ("alice", "bob")}
    for _, request in runs.values():
        assert request.provider_name == files.provider and request.session_uri
        assert request.authorization_url.startswith(
            f"{files.env.endpoint_url}/identities/oauth2/authorize?request_uri=")
        assert request.tool_call_id
    assert runs["alice"][1].authorization_url != runs["bob"][1].authorization_url
    assert h.calls == 0 and len(h.model.requests) == 2  # the model was told nothing yet
    before = files.env.call_count("CompleteResourceTokenAuth")
    sessions = {user: files.browse(request.authorization_url)
                for user, (_, request) in runs.items()}
    with pytest.raises(AccessDeniedError):  # bob cannot complete alice's session
        h.auth.complete_consent(sessions["alice"], user_id="bob")
    assert files.env.call_count("CompleteResourceTokenAuth") == before
    for user, session in sessions.items():
        h.auth.complete_consent(session, user_id=user)
    for user, (config, request) in runs.items():
        result = h.agent.invoke(request.resume(), config)
        message = h.last(result)
        assert message.status == "success" and not consent_requests(result)
        body = json.loads(message.text)
        assert body["sub"] == user and body["credential"].startswith("[REDACTED")
    assert h.calls == 2
    seen = h.model.seen()
    for _, request in runs.values():
        assert request.authorization_url not in seen
    assert "state=" not in seen


async def test_async_round_trip_with_the_user_jwt(files: Any) -> None:
    """ainvoke, context from configurable user_token: completed with that JWT only (async twin)."""
    jwt = files.env.issue_user_token("erin")
    h = Harness(files)
    config = {"configurable": {
        "thread_id": "erin-1", "identity": identity_handle(
            user_token=jwt,
            workload_access_token=files.env.workload_token(files.workload, user_token=jwt))}}
    result = await h.agent.ainvoke({"messages": [("user", "files")]}, config)
    (request,) = consent_requests(result)
    session = await asyncio.to_thread(files.browse, request.authorization_url)
    with pytest.raises(AccessDeniedError):
        await h.auth.acomplete_consent(session, user_id="erin")
    await h.auth.acomplete_consent(session, user_token=jwt)
    result = await h.agent.ainvoke(request.resume(), config)
    assert json.loads(h.last(result).text)["sub"] == "erin"
    assert not leaks(jwt, h.model.seen(), repr(result))


def test_declined_consent_does_not_rerun_the_tool(files: Any) -> None:
    """Resuming with declined=True tells the model, without calling the service again."""
    h = Harness(files)
    config, request = h.start("grace")
    lookups = files.env.call_count("GetResourceOauth2Token")
    result = h.agent.invoke(request.resume(declined=True), config)
    assert files.env.call_count("GetResourceOauth2Token") == lookups and h.calls == 0
    message = h.last(result)
    assert message.status == "error" and "declined" in message.text
    assert not consent_requests(result)


def test_resume_without_consent_tells_the_model_instead_of_looping(files: Any) -> None:
    """Resumed though the user never consented: no second interrupt, and no link for the model."""
    h = Harness(files)
    config, request = h.start("heidi")
    result = h.agent.invoke(request.resume(), config)
    assert not consent_requests(result)
    message = h.last(result)
    assert message.status == "error" and "not completed the authorization" in message.text
    assert "login_hint" not in h.model.seen()


def test_without_a_checkpointer_the_error_says_so(files: Any) -> None:
    """An interrupt needs a checkpointer: the run fails with a message naming the fix."""
    h = Harness(files, checkpointer=False)
    with pytest.raises(ConfigurationError, match="checkpointer"):
        h.agent.invoke({"messages": [("user", "files")]},
                       {"configurable": {"user_id": "ivan"}})


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def tool_graph(h: Harness, node: ToolNode) -> Any:
    """A StateGraph: a model node emitting the script's tool call, then the ToolNode."""
    def agent(state: State) -> dict[str, Any]:
        return {"messages": [h.model.invoke(state["messages"])]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", node)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", "tools")
    builder.add_edge("tools", END)
    return builder.compile(checkpointer=InMemorySaver())


def test_tool_node_with_the_wrapper_interrupts_instead_of_crashing(files: Any) -> None:
    """ToolNode(wrap_tool_call=...) pauses for consent; a bare ToolNode crashes (the control)."""
    h = Harness(files, call("my_files"), call("my_files"))
    bare = tool_graph(h, ToolNode([h.tool]))
    config = {"configurable": {"thread_id": "bare"}}
    with identity_context(user_id="judy"), pytest.raises(AuthorizationRequiredError):
        bare.invoke({"messages": [("user", "files")]}, config)

    node = ToolNode([h.tool], wrap_tool_call=h.auth.wrap_tool_call,
                    awrap_tool_call=h.auth.awrap_tool_call)
    graph = tool_graph(h, node)
    config = {"configurable": {"thread_id": "wrapped", "user_id": "judy"}}
    result = graph.invoke({"messages": [("user", "files")]}, config)
    (request,) = consent_requests(result)
    (interrupt,) = result["__interrupt__"]
    assert interrupt.value["type"] == CONSENT_INTERRUPT and interrupt.id == request.interrupt_id
    assert consent_requests(graph.get_state(config)) == [request]  # a StateSnapshot works too
    h.auth.complete_consent(files.browse(request.authorization_url), user_id="judy")
    result = graph.invoke(request.resume(), config)
    assert json.loads(h.last(result).text)["sub"] == "judy"
    assert consent_requests(graph.get_state(config)) == []
