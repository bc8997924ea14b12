"""Shared pieces of the ADK adapter's tests: tools, a runner, span capture, leak checks."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from agentcore_auth_adk import AgentCoreAuthPlugin
from agentcore_auth_adk.testing import ScriptedLlm
from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.events.event import Event
from google.adk.runners import InMemoryRunner
from google.genai import types

from agentcore_auth import requires_access_token, requires_api_key


def encodings(value: str) -> set[str]:
    """Encodings of ``value`` computed here, independently of the library's redactor."""
    data = value.encode()
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), data.hex(),
            base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode().rstrip("=")}


def leaks(value: str, *texts: str) -> list[str]:
    """Every encoding of ``value`` found in ``texts``."""
    return [e for e in encodings(value) for text in texts if e in text]


def forecast_tool(weather: Any, calls: list[str] | None = None,
                  *, rotate_after: int = 0) -> Callable[..., Any]:
    """A sync API-key tool; the API echoes the key; optionally rotates it after N calls."""

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city."""
        if calls is not None:
            calls.append(city)
        response = httpx.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        if rotate_after and calls is not None and len(calls) == rotate_after:
            weather.rotate()
        return dict(response.json(), city=city)

    return forecast


def files_tool(files: Any, calls: list[str] | None = None) -> Callable[..., Any]:
    """An async USER_FEDERATION tool; the API echoes the user's token."""

    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    async def my_files(*, access_token: str) -> dict[str, Any]:
        """The caller's files."""
        if calls is not None:
            calls.append("my_files")
        async with httpx.AsyncClient() as http:
            response = await http.get(files.url, params={"echo": 1},
                                      headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    return my_files


class Run:
    """An ADK runner around one scripted agent, with the plugin (or without)."""

    def __init__(self, model: ScriptedLlm, tools: list[Any],
                 plugin: AgentCoreAuthPlugin | None = None) -> None:
        self.model = model
        agent = LlmAgent(name="assistant", model=model, tools=tools)
        app = App(name="app", root_agent=agent, plugins=[plugin] if plugin else [])
        self.runner = InMemoryRunner(app=app)
        self.events: list[Event] = []

    async def session(self, user_id: str, state: dict[str, Any] | None = None) -> str:
        session = await self.runner.session_service.create_session(
            app_name="app", user_id=user_id, state=state)
        return session.id

    async def send(self, user_id: str, session_id: str,
                   message: str | types.Content,
                   state_delta: dict[str, Any] | None = None) -> list[Event]:
        content = (types.Content(role="user", parts=[types.Part(text=message)])
                   if isinstance(message, str) else message)
        events = [e async for e in self.runner.run_async(
            user_id=user_id, session_id=session_id, new_message=content,
            state_delta=state_delta)]
        self.events.extend(events)
        return events


def responses(events: list[Event]) -> list[dict[str, Any]]:
    """The function responses in ``events``, in order."""
    return [r.response or {} for e in events for r in e.get_function_responses()]


def dump(events: list[Event]) -> str:
    """The events, as one string."""
    return json.dumps([e.model_dump(mode="json", exclude_none=True) for e in events])


_EXPORTER: Any = None


def span_exporter() -> Any:
    """An in-memory exporter behind the process's tracer provider (set once; nothing leaves)."""
    global _EXPORTER  # noqa: PLW0603 - one provider per process
    if _EXPORTER is None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        _EXPORTER = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    return _EXPORTER


def spans_text(exporter: Any) -> str:
    """Every finished span's name and attributes, as one string."""
    return json.dumps([{"name": s.name, "attributes": dict(s.attributes or {})}
                       for s in exporter.get_finished_spans()], default=repr)
