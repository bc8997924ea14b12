"""Shared pieces of the LlamaIndex adapter's tests: tools, a run helper, leak checks."""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
from llama_index_instrumentation.span.simple import SimpleSpan
from llama_index_instrumentation.span_handlers.base import BaseSpanHandler
from pydantic import Field

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
    """An async API-key tool; the API echoes the key; optionally rotates it after N calls."""

    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    async def forecast(city: str, *, api_key: str) -> dict[str, Any]:
        """The weather in a city."""
        if calls is not None:
            calls.append(city)
        async with httpx.AsyncClient() as http:
            response = await http.get(weather.url, params={"echo": 1},
                                      headers={"x-api-key": api_key})
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


class SpanResults(BaseSpanHandler[SimpleSpan]):
    """A LlamaIndex span handler keeping the repr of every span's result."""

    results: list[str] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        """The handler's name."""
        return "SpanResults"

    def new_span(self, id_: str, bound_args: inspect.BoundArguments,
                 instance: Any | None = None, parent_span_id: str | None = None,
                 tags: dict[str, Any] | None = None, **kwargs: Any) -> SimpleSpan | None:
        """A plain span."""
        return SimpleSpan(id_=id_, parent_id=parent_span_id, tags=tags or {})

    def prepare_to_exit_span(self, id_: str, bound_args: inspect.BoundArguments,
                             instance: Any | None = None, result: Any | None = None,
                             **kwargs: Any) -> SimpleSpan | None:
        """Keep the result."""
        self.results.append(repr(result))
        return self.open_spans.get(id_)

    def prepare_to_drop_span(self, id_: str, bound_args: inspect.BoundArguments,
                             instance: Any | None = None, err: BaseException | None = None,
                             **kwargs: Any) -> SimpleSpan | None:
        """Keep the error."""
        self.results.append(repr(err))
        return self.open_spans.get(id_)

    def text(self) -> str:
        """Every result seen, as one string."""
        return "\n".join(self.results)
