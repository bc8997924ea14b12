"""Shared pieces of the pydantic-ai adapter's tests: deps, tools over the emulator, span capture."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.models.instrumented import InstrumentationSettings

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
class Deps:
    """The app's per-run deps: who is asking."""

    user_id: str | None = None
    user_token: str | None = None
    workload_access_token: str | None = None
    identity: str | None = None


class Spans:
    """pydantic-ai's OpenTelemetry spans, kept in memory (content capture on)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.capability = Instrumentation(settings=InstrumentationSettings(
            tracer_provider=provider, include_content=True))

    def text(self) -> str:
        """Every finished span's name, attributes and events, as one string."""
        return json.dumps([{"name": s.name, "attributes": dict(s.attributes or {}),
                            "events": [dict(e.attributes or {}) for e in s.events]}
                           for s in self.exporter.get_finished_spans()], default=repr)


def forecast_fn(weather: Any, calls: list[str] | None = None, *, rotate_after: int = 0,
                scrub_result: bool = True) -> Any:
    """A sync API-key tool; the API echoes the key; optionally rotates it after N calls."""

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


def files_fn(files: Any, calls: list[str] | None = None) -> Any:
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
