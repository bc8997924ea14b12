"""Shared pieces of the OpenAI Agents SDK adapter's tests: context, tools, span capture."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from agents import FunctionTool, function_tool
from agents.tracing import Span, Trace, TracingProcessor

from agentcore_auth import requires_access_token, requires_api_key


def encodings(value: str) -> set[str]:
    """Encodings of ``value`` computed here, independently of the library's redactor."""
    data = value.encode()
    return {value, json.dumps(value)[1:-1], quote(value, safe=""), data.hex(),
            base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode().rstrip("=")}


def leaks(value: str, *texts: str) -> list[str]:
    """Every encoding of ``value`` found in ``texts``."""
    return [e for e in encodings(value) for text in texts if e in text]


@dataclass
class Ctx:
    """The app's run context: who is asking."""

    user_id: str | None = None
    user_token: str | None = None
    identity: str | None = None


class Spans(TracingProcessor):
    """Every span the SDK finishes, exported to a list (nothing leaves the process)."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []

    def on_trace_start(self, trace: Trace) -> None:
        """Nothing to do."""

    def on_trace_end(self, trace: Trace) -> None:
        """Nothing to do."""

    def on_span_start(self, span: Span[Any]) -> None:
        """Nothing to do."""

    def on_span_end(self, span: Span[Any]) -> None:
        """Keep the exported span."""
        self.spans.append(span.export() or {})

    def shutdown(self) -> None:
        """Nothing to do."""

    def force_flush(self) -> None:
        """Nothing to do."""

    def text(self) -> str:
        """Every span, as one string."""
        return json.dumps(self.spans, default=repr)

    def function_spans(self) -> list[dict[str, Any]]:
        """The function (tool) spans' data."""
        return [s["span_data"] for s in self.spans if s.get("span_data", {}).get("type") ==
                "function"]


def forecast_tool(weather: Any, calls: list[str] | None = None, *,
                  rotate_after: int = 0, scrub_result: bool = True) -> FunctionTool:
    """A sync API-key tool; the API echoes the key; optionally rotates it after N calls."""

    @function_tool
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=scrub_result)
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


def files_tool(files: Any, calls: list[str] | None = None) -> FunctionTool:
    """An async USER_FEDERATION tool; the API echoes the user's token."""

    @function_tool
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
