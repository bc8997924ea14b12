"""Shared pieces of the CrewAI adapter's tests: tools, a crew runner, leak checks."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
from agentcore_auth_crewai import secure_tool
from agentcore_auth_crewai.testing import ScriptedLLM
from crewai import Agent, Crew, Task
from crewai.events import ToolUsageFinishedEvent, crewai_event_bus
from crewai.tools import BaseTool, tool

from agentcore_auth import requires_access_token, requires_api_key


def encodings(value: str) -> set[str]:
    """Encodings of ``value`` computed here, independently of the library's redactor."""
    data = value.encode()
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), data.hex(),
            base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode().rstrip("=")}


def leaks(value: str, *texts: str) -> list[str]:
    """Every encoding of ``value`` found in ``texts``."""
    return [e for e in encodings(value) for text in texts if e in text]


def forecast_tool(weather: Any, calls: list[str] | None = None) -> BaseTool:
    """A sync API-key tool; the API echoes the key."""

    @tool("forecast")
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city."""
        if calls is not None:
            calls.append(city)
        response = httpx.get(weather.url, params={"echo": 1}, headers={"x-api-key": api_key})
        response.raise_for_status()
        return dict(response.json(), city=city)

    return forecast


def files_tool(files: Any, calls: list[str] | None = None) -> BaseTool:
    """A sync USER_FEDERATION tool; the API echoes the user's token."""

    @tool("my_files")
    @requires_access_token(provider_name=files.provider, scopes=["files"],
                           auth_flow="USER_FEDERATION", callback_url=files.return_url,
                           resolver=files.resolver)
    def my_files(folder: str, *, access_token: str) -> dict[str, Any]:
        """The caller's files in a folder."""
        if calls is not None:
            calls.append(folder)
        response = httpx.get(files.url, params={"echo": 1},
                             headers={"Authorization": f"Bearer {access_token}"})
        response.raise_for_status()
        return dict(response.json(), folder=folder)

    return my_files


def crew(llm: ScriptedLLM, tools: list[BaseTool], sessions: Any = None,
         pending: Any = None, secured: bool = True, cache: bool = False) -> Crew:
    """One agent, one task, the given tools (secured unless told not to)."""
    agent = Agent(role="assistant", goal="help the user", backstory="a helpful assistant",
                  llm=llm, tools=[secure_tool(t, sessions=sessions, pending=pending)
                                  if secured else t for t in tools],
                  verbose=False, max_iter=6)
    task = Task(description="Help the user.", expected_output="an answer", agent=agent)
    return Crew(agents=[agent], tasks=[task], verbose=False, cache=cache)


class Finished:
    """The output of every ToolUsageFinishedEvent, while in its ``with`` block."""

    def __init__(self) -> None:
        self.outputs: list[str] = []
        self._scope: Any = None

    def __enter__(self) -> Finished:
        self._scope = crewai_event_bus.scoped_handlers()
        self._scope.__enter__()

        @crewai_event_bus.on(ToolUsageFinishedEvent)
        def keep(source: Any, event: ToolUsageFinishedEvent) -> None:
            self.outputs.append(str(event.output))

        return self

    def __exit__(self, *exc: object) -> None:
        crewai_event_bus.flush()
        self._scope.__exit__(*exc)

    def text(self) -> str:
        """Every output, as one string."""
        crewai_event_bus.flush()
        return "\n".join(self.outputs)
