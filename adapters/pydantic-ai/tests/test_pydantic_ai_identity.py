"""Identity in pydantic-ai's sinks: message history, spans, deps as durable execution saves them.

pydantic-ai keeps deps out of message history and spans, but durable execution (Temporal,
DBOS) serializes deps with pydantic, and apps log them. The capability takes identity from
deps only, as a handle (or a plain user id): a raw token string is refused before any tool
runs. The consent pause lives in the run itself (deferred tool requests in the history).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agentcore_auth_pydantic_ai import AgentCoreAuthCapability, consent_requests
from agentcore_auth_pydantic_ai.testing import Script, call
from pai_helpers import Deps, Spans, files_fn, leaks
from pydantic import TypeAdapter
from pydantic_ai import Agent, DeferredToolRequests, RunContext, Tool
from pydantic_ai.messages import ModelMessagesTypeAdapter

from agentcore_auth import ConfigurationError, current_identity, identity_handle


class Harness:
    """An agent with a USER_FEDERATION tool and a plain tool echoing a deps value."""

    def __init__(self, files: Any, *turns: Any, **options: Any) -> None:
        self.script, self.spans = Script(*turns), Spans()
        self.auth = AgentCoreAuthCapability(files.resolver, **options)

        def echo_deps(ctx: RunContext[Deps]) -> str:
            """A careless tool: returns the raw token it finds in deps (for the control)."""
            return str(ctx.deps.user_token)

        self.agent = Agent(self.script.model, deps_type=Deps,
                           tools=[Tool(files_fn(files)), Tool(echo_deps, takes_ctx=True)],
                           capabilities=[self.auth, self.spans.capability],
                           output_type=[str, DeferredToolRequests])

    def sinks(self, messages: Any, deps: Deps) -> str:
        """Message history as saved, spans, and deps as pydantic serializes them."""
        return "\n".join((ModelMessagesTypeAdapter.dump_json(messages).decode(),
                          self.spans.text(), TypeAdapter(Deps).dump_json(deps).decode()))


def user(files: Any, name: str) -> tuple[str, str]:
    jwt = files.env.issue_user_token(name)
    return jwt, files.env.workload_token(files.workload, user_token=jwt)


async def test_a_handle_keeps_history_spans_and_deps_clean(files: Any) -> None:
    """Deferred for consent, completed, resumed as erin: no JWT/WAT encoding in any sink."""
    jwt, wat = user(files, "erin")
    h = Harness(files, call("my_files"))
    deps = Deps(identity=identity_handle(user_token=jwt, workload_access_token=wat))
    result = await h.agent.run("files", deps=deps)
    (request,) = consent_requests(result.output)
    paused = h.sinks(result.all_messages(), deps)
    assert request.authorization_url and not leaks(jwt, paused) and not leaks(wat, paused)
    session = await asyncio.to_thread(files.browse, request.authorization_url)
    await h.auth.acomplete_consent(session, user_token=jwt)
    resumed = await h.agent.run(message_history=result.all_messages(), deps=deps,
                                deferred_tool_results=request.results())
    text = h.sinks(resumed.all_messages(), deps)
    assert '"sub":"erin"' in text.replace(" ", "")
    assert not leaks(jwt, text) and not leaks(wat, text)


async def test_control_raw_tokens_in_deps_leak_where_deps_are_saved(files: Any) -> None:
    """The old raw carrier (allow_raw_tokens=True): deps as saved carry the JWT and WAT.

    A careless tool returning the raw JWT is still scrubbed (identity values are
    registered with the redactor), so history and spans keep the redacted form only.
    """
    jwt, wat = user(files, "ivan")
    h = Harness(files, call("echo_deps"), allow_raw_tokens=True)
    deps = Deps(user_token=jwt, workload_access_token=wat)
    result = await h.agent.run("echo", deps=deps)
    saved = TypeAdapter(Deps).dump_json(deps).decode()
    assert leaks(jwt, saved) and leaks(wat, saved)
    history = ModelMessagesTypeAdapter.dump_json(result.all_messages()).decode()
    assert "echo_deps" in history and "[REDACTED" in history
    assert not leaks(jwt, history) and not leaks(jwt, h.spans.text())


@pytest.mark.parametrize("field", ["user_token", "workload_access_token"])
async def test_a_raw_token_in_deps_is_refused(files: Any, field: str) -> None:
    """No tool runs; the error shows the handle and carries no token."""
    jwt, wat = user(files, "judy")
    h = Harness(files, call("echo_deps"))
    value = jwt if field == "user_token" else wat
    with pytest.raises(ConfigurationError, match="identity_handle") as refused:
        await h.agent.run("echo", deps=Deps(**{field: value}))
    assert not leaks(value, str(refused.value)) and not leaks(value, h.spans.text())
    assert not leaks(value, h.script.seen())


async def test_nothing_fills_in_or_overrides_the_handle(files: Any) -> None:
    """A user_id next to a handle is refused; a user_id the model sends is just an argument."""
    seen: list[Any] = []

    def whoami(user_id: str = "") -> str:
        """Who is asking (the model may claim anyone)."""
        seen.append(current_identity())
        return "ok"

    script = Script(call("whoami", {"user_id": "mallory"}), "ok",
                    call("whoami", {"user_id": "mallory"}))
    agent = Agent(script.model, deps_type=Deps, tools=[Tool(whoami)],
                  capabilities=[AgentCoreAuthCapability(files.resolver)])
    handle = identity_handle(user_id="alice")
    await agent.run("who?", deps=Deps(identity=handle))
    assert [i.user_id for i in seen] == ["alice"]
    with pytest.raises(ConfigurationError, match="pass it alone"):
        await agent.run("who?", deps=Deps(identity=handle, user_id="mallory"))
    assert len(seen) == 1
