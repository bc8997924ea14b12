"""Identity in LlamaIndex's own sink: the Context dict an app saves at the consent pause.

``ctx.store`` is serialized with the workflow Context: a raw JWT or workload access token
put there (the old docs' way) lands in ``ctx.to_dict(serializer=JsonSerializer())`` taken
while the run waits for consent (the control shows it). secure_tool() refuses it, with an
error showing the handle; a handle there leaves the dict clean through the round trip.
``ctx.store`` is the one source of identity: nothing next to a handle, and no tool
argument the model sends, changes who calls.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

from agentcore_auth_llamaindex import (
    acomplete_consent,
    consent_request,
    consent_response,
    secure_tool,
)
from agentcore_auth_llamaindex.testing import ScriptedLLM, call
from li_helpers import files_tool, leaks
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.workflow import Context, InputRequiredEvent, JsonSerializer

from agentcore_auth import current_identity, identity_handle
from agentcore_auth.integration import ConsentSessions


def snapshot(ctx: Context) -> str:
    """The Context as an app saves it; the agent's memory is skipped, as LlamaIndex warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.dumps(ctx.to_dict(serializer=JsonSerializer()))


async def consent_run(files: Any, store: dict[str, Any], jwt: str,
                      **options: Any) -> tuple[list[str], list[str]]:
    """A USER_FEDERATION call: the tool results and the Context dicts taken at each pause."""
    sessions = ConsentSessions(files.resolver)
    agent = FunctionAgent(tools=[secure_tool(files_tool(files), sessions=sessions, **options)],
                          llm=ScriptedLLM(call("my_files"), "done"))
    ctx = Context(agent)
    for key, value in store.items():
        await ctx.store.set(key, value)
    handler = agent.run("my files?", ctx=ctx)
    saved, out = [], []
    async for event in handler.stream_events():
        if isinstance(event, ToolCallResult):
            out.append(str(event.tool_output.content))
        request = consent_request(event) if isinstance(event, InputRequiredEvent) else None
        if request is not None:
            # What an app saves to resume later (e.g. in its database).
            saved.append(snapshot(handler.ctx))
            session = await asyncio.to_thread(files.browse, request.authorization_url)
            await acomplete_consent(session, user_token=jwt, sessions=sessions)
            handler.ctx.send_event(consent_response(event))
    await handler
    saved.append(snapshot(handler.ctx))
    return out, saved


def user(files: Any, name: str) -> tuple[str, str]:
    jwt = files.env.issue_user_token(name)
    return jwt, files.env.workload_token(files.workload, user_token=jwt)


async def test_a_handle_keeps_the_context_dict_clean(files: Any) -> None:
    """Paused for consent, resumed, done as erin: no JWT/WAT encoding in any saved dict."""
    jwt, wat = user(files, "erin")
    handle = identity_handle(user_token=jwt, workload_access_token=wat)
    out, saved = await consent_run(files, {"identity": handle}, jwt)
    (result,) = out
    assert "'sub': 'erin'" in result
    assert len(saved) == 2 and str(handle) in saved[0]  # the pause was saved, with the handle
    assert not leaks(jwt, *saved) and not leaks(wat, *saved)


async def test_control_raw_tokens_in_the_store_leak_into_the_context_dict(files: Any) -> None:
    """Without the refusal (allow_raw_tokens=True), the saved dict carries the JWT and WAT."""
    jwt, wat = user(files, "ivan")
    out, saved = await consent_run(files, {"user_token": jwt, "workload_access_token": wat},
                                   jwt, allow_raw_tokens=True)
    assert "'sub': 'ivan'" in out[0]
    assert leaks(jwt, saved[0]) and leaks(wat, saved[0])


async def test_a_raw_token_in_the_store_is_refused(files: Any) -> None:
    """No call, no consent pause; the error shows the handle and carries no token."""
    jwt, wat = user(files, "judy")
    for store in ({"user_token": jwt}, {"workload_access_token": wat}):
        out, saved = await consent_run(files, store, jwt)
        (result,) = out
        assert "identity_handle" in result and len(saved) == 1  # no pause
        assert not leaks(jwt, result) and not leaks(wat, result)


async def test_nothing_fills_in_or_overrides_the_handle() -> None:
    """A user_id next to a handle is refused; a user_id the model sends is just an argument."""
    async def whoami(user_id: str = "") -> str:
        """Who is asking (the model may claim anyone)."""
        identity = current_identity()
        return f"user={identity.user_id if identity else None}"

    handle = identity_handle(user_id="alice")
    for store, expected in (({"identity": handle}, "user=alice"),
                            ({"identity": handle, "user_id": "mallory"}, "pass it alone")):
        agent = FunctionAgent(tools=[secure_tool(whoami)],
                              llm=ScriptedLLM(call("whoami", {"user_id": "mallory"}), "done"))
        ctx = Context(agent)
        for key, value in store.items():
            await ctx.store.set(key, value)
        handler = agent.run("who am I?", ctx=ctx)
        events = [e async for e in handler.stream_events()]
        await handler
        (result,) = [str(e.tool_output.content) for e in events if isinstance(e, ToolCallResult)]
        assert expected in result
