"""LangGraph's stream writer and "messages" stream: a key relayed in 16-character chunks.

The tool streams the protected API's echo (it holds the key) to the ``custom`` stream,
through ``get_stream_writer()`` (sync) or ``runtime.stream_writer`` (async), in writes
of 16 characters, so the key is split across writes. What the stream consumer receives
(each chunk, and all of them joined) shows no encoding of it; the control (no
middleware: the plain writer) leaks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from agentcore_auth_langchain import AgentCoreAuthMiddleware
from agentcore_auth_langchain.testing import ScriptedChatModel, call
from langchain.agents import create_agent
from langchain.tools import ToolRuntime
from langchain_core.tools import tool
from langgraph.config import get_stream_writer

from agentcore_auth import redact, requires_api_key
from agentcore_auth._redact import secret_patterns

CHUNK = 16


def leaks(value: str, *texts: str) -> list[str]:
    return [p for p in secret_patterns(value) for text in texts if p in text]


def relay_tools(weather: Any) -> list[Any]:
    decorate = requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                                scrub_result=False)

    @tool
    @decorate
    def relay(city: str, *, api_key: str) -> str:
        """Streams the weather for a city."""
        write = get_stream_writer()
        with httpx.stream("GET", weather.url, params={"echo": 1},
                          headers={"x-api-key": api_key}) as response:
            for text in response.iter_text(chunk_size=CHUNK):
                write(text)  # bare text
        return "done"

    @tool
    @decorate
    async def arelay(city: str, runtime: ToolRuntime, *, api_key: str) -> str:
        """Streams the weather for a city, async."""
        async with httpx.AsyncClient() as http, http.stream(
                "GET", weather.url, params={"echo": 1}, headers={"x-api-key": api_key}) as response:
            async for text in response.aiter_text(chunk_size=CHUNK):
                runtime.stream_writer({"progress": text, "city": city})  # a dict field
        return "done"

    return [relay, arelay]


def run(weather: Any, name: str, middleware: list[Any]) -> tuple[list[Any], list[Any]]:
    """The custom chunks and the "messages" chunks a consumer receives."""
    model = ScriptedChatModel(call(name, {"city": "Paris"}), "done", disable_streaming=True)
    agent = create_agent(model, relay_tools(weather), middleware=middleware)
    inputs = {"messages": [("user", "weather in Paris?")]}
    modes = ["custom", "messages"]
    if name == "relay":
        items = list(agent.stream(inputs, stream_mode=modes))
    else:
        async def consume() -> list[Any]:
            return [item async for item in agent.astream(inputs, stream_mode=modes)]
        items = asyncio.run(consume())
    custom = [chunk for mode, chunk in items if mode == "custom"]
    messages = [chunk for mode, chunk in items if mode == "messages"]
    return custom, messages


def joined(custom: list[Any]) -> str:
    return "".join(c if isinstance(c, str) else c["progress"] for c in custom)


@pytest.mark.parametrize("name", ["relay", "arelay"])
def test_stream_writer_chunks_are_scrubbed_across_writes(weather: Any, name: str) -> None:
    custom, messages = run(weather, name, [AgentCoreAuthMiddleware()])
    text = joined(custom)
    assert '"ok": true' in text and "[REDACTED" in text, text  # the API took the key
    assert not leaks(weather.key, text, repr(custom), repr(messages))
    # Dict writes keep their shape (a held tail comes out in a copy of the last write).
    assert all(c["city"] in ("Paris", "") for c in custom if isinstance(c, dict)), custom
    # The control: the plain writer, split across writes.
    control, _ = run(weather, name, [])
    raw = joined(control)
    assert weather.key in raw
    assert not any(weather.key in c for c in map(str, control))  # no chunk holds it whole
    # Nothing lost or reordered: the scrubbed stream is the whole text redacted.
    assert text == redact(raw)


def test_messages_stream_tool_message_is_scrubbed(weather: Any) -> None:
    """The "messages" stream carries the tool message the middleware scrubbed."""

    @tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=False)
    def forecast(city: str, *, api_key: str) -> str:
        """The weather in a city (the API echoes the key)."""
        return httpx.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key}).text

    def tool_texts(middleware: list[Any]) -> str:
        model = ScriptedChatModel(call("forecast", {"city": "Oslo"}), "done",
                                  disable_streaming=True)
        agent = create_agent(model, [forecast], middleware=middleware)
        items = list(agent.stream({"messages": [("user", "weather?")]}, stream_mode="messages"))
        return " ".join(str(message.content) for message, _ in items
                        if message.type == "tool")

    scrubbed = tool_texts([AgentCoreAuthMiddleware()])
    assert '"ok": true' in scrubbed and not leaks(weather.key, scrubbed)
    assert weather.key in tool_texts([])  # the control
