"""A LlamaIndex workflow's event stream, scrubbed across events: :func:`scrubbed_events`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agentcore_auth import Redactor
from agentcore_auth.integration import FieldStreamScrubber

__all__ = ["scrubbed_events"]


async def scrubbed_events(handler: Any, redactor: Redactor | None = None) -> AsyncIterator[Any]:
    """``handler.stream_events()`` (or any async event stream), every event scrubbed.

    A step that relays an API response with ``ctx.write_event_to_stream`` in pieces
    may split a value across events: each event's text fields are fed through one
    :class:`~agentcore_auth.integration.FieldStreamScrubber`, so the split value is
    caught; events keep their type and order (one may come out a little later).

    Args:
        handler: a ``WorkflowHandler`` (its ``stream_events()`` is read) or an async
            iterator of events.
        redactor: the registry; default the global one.
    """
    stream = handler.stream_events() if hasattr(handler, "stream_events") else handler
    scrubber = FieldStreamScrubber(redactor)
    async for event in stream:
        for out in scrubber.push(event):
            yield out
    for out in scrubber.finish():
        yield out
