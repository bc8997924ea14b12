"""A workflow step relays the protected API's echo (holding the key) in 16-character events.

What ``scrubbed_events(handler)`` yields shows no encoding of the key, also when the
key is split across events; the control (``handler.stream_events()``) leaks.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from agentcore_auth_llamaindex import scrubbed_events
from workflows import Context, Workflow, step
from workflows.events import Event, StartEvent, StopEvent

from agentcore_auth import redact, requires_api_key
from agentcore_auth._redact import secret_patterns


class Progress(Event):
    delta: str
    source: str


def relay_workflow(weather: Any) -> Workflow:
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver,
                      scrub_result=False)
    async def fetch_key(*, api_key: str) -> str:
        return str(api_key)  # a plain str, as a relaying step would hold it

    class Relay(Workflow):
        @step
        async def relay(self, ctx: Context, ev: StartEvent) -> StopEvent:
            key = await fetch_key()
            async with httpx.AsyncClient() as http, http.stream(
                    "GET", weather.url, params={"echo": 1}, headers={"x-api-key": key}) as r:
                async for text in r.aiter_text(chunk_size=16):
                    ctx.write_event_to_stream(Progress(delta=text, source="weather"))
            return StopEvent(result="done")

    return Relay(timeout=30)


async def consume(weather: Any, scrub: bool) -> list[Any]:
    handler = relay_workflow(weather).run()
    stream = scrubbed_events(handler) if scrub else handler.stream_events()
    events = [ev async for ev in stream]
    await handler
    return events


def test_event_stream_is_scrubbed_across_events(weather: Any) -> None:
    events = asyncio.run(consume(weather, scrub=True))
    progress = [ev for ev in events if isinstance(ev, Progress)]
    text = "".join(ev.delta for ev in progress)
    assert '"ok": true' in text and "[REDACTED" in text, text
    everything = text + repr(events)
    assert not [p for p in secret_patterns(weather.key) if p in everything]
    assert {ev.source for ev in progress} == {"weather"}  # a label is left whole
    control = asyncio.run(consume(weather, scrub=False))
    raw = "".join(ev.delta for ev in control if isinstance(ev, Progress))
    assert weather.key in raw
    assert not any(weather.key in ev.delta for ev in control if isinstance(ev, Progress))
    assert text == redact(raw)  # nothing lost or reordered
