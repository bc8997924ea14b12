"""Identity in LangGraph's own sinks: SqliteSaver checkpoints, tracer run metadata, state history.

A raw JWT or workload access token in ``config["configurable"]`` (where the old docs put
it) is copied into every checkpoint and every traced run (the controls show it); the
middleware refuses it with an error showing the handle, and a handle there (or a token in
``context=``, which LangGraph never records) leaves every sink clean. One trusted source:
a client-sent ``context`` never outranks LangGraph Platform's authenticated user.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from agentcore_auth_langchain import AgentCoreAuthMiddleware
from agentcore_auth_langchain.testing import ScriptedChatModel, call, tool_messages
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_core.tracers.langchain import LangChainTracer, _patch_missing_metadata
from langchain_core.tracers.schemas import Run
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langsmith import Client

from agentcore_auth import (
    AccessDeniedError,
    ConfigurationError,
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


def recording_tracer() -> tuple[LangChainTracer, list[str]]:
    """A LangChainTracer keeping every run it would post or patch (metadata included)."""
    sink: list[str] = []

    class Recorder(LangChainTracer):
        def _persist_run_single(self, run: Run) -> None:
            _patch_missing_metadata(self, run)  # what LangChainTracer adds before posting
            sink.append(run.model_dump_json())

        @staticmethod
        def _update_run_single(run: Run) -> None:
            sink.append(run.model_dump_json())

    class Offline(Client):
        """Records instead of posting (no LangSmith server here)."""

        def create_run(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            sink.append(repr((args, kwargs)))

        def update_run(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            sink.append(repr((args, kwargs)))

    return Recorder(client=Offline(api_key="unused", api_url="http://127.0.0.1:9",
                                   auto_batch_tracing=False)), sink


def sqlite_dump(path: Path) -> str:
    """Every table of the saver's database, blobs decoded as latin-1."""
    with sqlite3.connect(path) as db:
        rows = []
        for (table,) in db.execute("select name from sqlite_master where type='table'"):
            for row in db.execute(f"select * from {table}"):  # noqa: S608 - our own tables
                rows.append(repr([c.decode("latin-1") if isinstance(c, bytes) else c
                                  for c in row]))
    return "\n".join(rows)


def files_tool(files: Any) -> Any:
    @tool
    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    def my_files(*, access_token: str) -> dict[str, Any]:
        """The user's files."""
        response = httpx.get(files.url, headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    return my_files


@dataclass
class Ctx:
    identity: str | None = None
    user_token: str | None = None
    langgraph_auth_user_id: str | None = None


def run(files: Any, tmp_path: Path, config: dict[str, Any], *, context: Any = None,
        middleware: list[Any] | None = None) -> tuple[dict[str, Any], str, str]:
    """One tool-calling run on a SqliteSaver with a tracer; the result and both sinks' text."""
    path = tmp_path / f"{uuid.uuid4()}.sqlite"
    tracer, traced = recording_tracer()
    with SqliteSaver.from_conn_string(str(path)) as saver:
        agent = create_agent(ScriptedChatModel(call("my_files")), [files_tool(files)],
                             middleware=middleware or [], context_schema=Ctx,
                             checkpointer=saver)
        config = {**config, "callbacks": [tracer]}
        try:
            result = agent.invoke({"messages": [("user", "my files?")]}, config,
                                  context=context)
        except ConfigurationError as exc:
            result = {"error": exc}
        history = repr(list(agent.get_state_history(config)))
    return result, sqlite_dump(path) + history, "\n".join(traced)


def thread(**configurable: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": str(uuid.uuid4()), **configurable}}


def test_a_token_in_configurable_leaks_without_the_middleware_and_is_refused_with_it(
        files: Any, tmp_path: Path) -> None:
    """Control: the raw JWT/WAT reach checkpoints and run metadata; the middleware refuses them."""
    jwt = files.env.issue_user_token("alice")
    wat = files.env.workload_token(files.workload, user_token=jwt)
    config = thread(user_token=jwt, workload_access_token=wat)
    _, saved, traced = run(files, tmp_path, config)  # the control: no middleware
    assert leaks(saved, jwt, wat) and traced
    # LangGraph keeps keys naming a token out of tracer metadata, not a renamed key.
    _, _, traced = run(files, tmp_path, thread(jwt=jwt))
    assert leaks(traced, jwt)
    result, _, _ = run(files, tmp_path, thread(jwt=jwt), middleware=[AgentCoreAuthMiddleware(
        identity_source="configurable", user_token_key="jwt")])  # noqa: S106 - a key name
    assert "identity_handle" in str(result["error"])

    result, _, _ = run(files, tmp_path, config,
                       middleware=[AgentCoreAuthMiddleware(identity_source="configurable")])
    error = str(result["error"])
    assert "identity_handle" in error and "config['configurable']" in error
    assert not leaks(error, jwt, wat)
    result, _, _ = run(files, tmp_path, config, context=Ctx(),
                       middleware=[AgentCoreAuthMiddleware()])  # context= the trusted source
    assert "identity_handle" in str(result["error"])


@pytest.mark.parametrize("where", ["configurable", "context"])
def test_a_handle_leaves_every_sink_clean(files: Any, tmp_path: Path, where: str) -> None:
    """A handle (in configurable or context=): the tool runs as the user, no sink has a token."""
    jwt = files.env.issue_user_token("bea")
    wat = files.env.workload_token(files.workload, user_token=jwt)
    handle = identity_handle(user_token=jwt, workload_access_token=wat)
    _consent(files, handle)
    if where == "configurable":
        config, context = thread(identity=handle), None
        middleware = AgentCoreAuthMiddleware(identity_source="configurable")
    else:
        config, context = thread(), Ctx(identity=handle)
        middleware = AgentCoreAuthMiddleware()
    result, saved, traced = run(files, tmp_path, config, context=context,
                                middleware=[middleware])
    (message,) = tool_messages(result["messages"])
    assert json.loads(message.text)["sub"] == "bea"
    assert not leaks(saved + traced + repr(result), jwt, wat)
    if where == "configurable":
        assert str(handle) in saved  # the reference is what was recorded


def test_a_raw_token_in_context_is_made_safe_by_langgraph(files: Any, tmp_path: Path) -> None:
    """context= is neither checkpointed nor traced: a JWT there keeps working and stays out."""
    jwt = files.env.issue_user_token("cai")
    _consent(files, identity_handle(user_token=jwt))
    result, saved, traced = run(files, tmp_path, thread(), context=Ctx(user_token=jwt),
                                middleware=[AgentCoreAuthMiddleware()])
    (message,) = tool_messages(result["messages"])
    assert json.loads(message.text)["sub"] == "cai"
    assert not leaks(saved + traced, jwt)


def test_a_client_context_never_outranks_the_platform_user(files: Any) -> None:
    """identity_source='langgraph_auth': the verified user decides; a client-sent one is refused."""
    for user in ("alice", "bob"):
        files.consent(user)

    def invoke(middleware: AgentCoreAuthMiddleware, context: Ctx) -> Any:
        agent = create_agent(ScriptedChatModel(call("my_files")), [files_tool(files)],
                             middleware=[middleware], context_schema=Ctx,
                             checkpointer=InMemorySaver())
        config = thread(langgraph_auth_user_id="bob")  # what the platform's auth handler wrote
        return agent.invoke({"messages": [("user", "files")]}, config, context=context)

    platform = AgentCoreAuthMiddleware(identity_source="langgraph_auth")
    (message,) = tool_messages(invoke(platform, Ctx())["messages"])
    assert json.loads(message.text)["sub"] == "bob"
    with pytest.raises(ConfigurationError, match="only from config"):
        invoke(platform, Ctx(langgraph_auth_user_id="alice"))  # bob's request, alice's name
    # Control: read from context=, the client's value is what a tool would run as.
    context_mw = AgentCoreAuthMiddleware(user_id_key="langgraph_auth_user_id")
    with pytest.raises(ConfigurationError, match="only from the run's context="):
        invoke(context_mw, Ctx(langgraph_auth_user_id="alice"))
    with pytest.raises(ConfigurationError, match="identity_source"):
        AgentCoreAuthMiddleware(identity_source="anywhere")  # type: ignore[arg-type]


def _consent(files: Any, handle: Any) -> None:
    """Give the handle's user a token in the vault, outside any agent."""
    from agentcore_auth import AuthorizationRequiredError, identity_context

    with identity_context(handle):
        try:
            files.resolver.get_oauth2_token(files.provider, scopes=["files"],
                                            auth_flow="USER_FEDERATION",
                                            callback_url=files.return_url)
        except AuthorizationRequiredError as exc:
            identity = handle.identity()
            files.env.complete_consent(exc.authorization_url,
                                       user_token=identity.user_token.reveal())


def test_a_subgraph_keeps_identity_and_the_consent_gate(files: Any) -> None:
    """The agent as a node of a parent graph: its tools run as the parent's caller, and a
    user who must consent gets the interrupt through the parent (control: no middleware)."""
    from agentcore_auth_langchain import consent_requests
    from langgraph.graph import START, MessagesState, StateGraph

    files.consent("sia")

    def parent(middleware: list[Any]) -> Any:
        agent = create_agent(ScriptedChatModel(call("my_files")), [files_tool(files)],
                             middleware=middleware, context_schema=Ctx)
        graph = StateGraph(MessagesState, context_schema=Ctx)
        graph.add_node("agent", agent)
        graph.add_edge(START, "agent")
        return graph.compile(checkpointer=InMemorySaver())

    def invoke(middleware: list[Any], user: str) -> Any:
        return parent(middleware).invoke({"messages": [("user", "files")]}, thread(),
                                         context=Ctx(identity=identity_handle(user_id=user)))

    with pytest.raises(ConfigurationError, match="needs the user's identity"):
        invoke([], "sia")  # the control: without the middleware the subgraph's tool has no one
    (message,) = tool_messages(invoke([AgentCoreAuthMiddleware()], "sia")["messages"])
    assert json.loads(message.text)["sub"] == "sia"
    gate = AgentCoreAuthMiddleware(files.resolver)
    (request,) = consent_requests(invoke([gate], "tia"))  # asked as tia, through the parent
    session = files.browse(request.authorization_url)
    with pytest.raises(AccessDeniedError):
        gate.complete_consent(session, user_id="sia")
    gate.complete_consent(session, user_id="tia")
