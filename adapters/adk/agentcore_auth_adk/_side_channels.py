"""ADK events scrubbed before the runner persists and yields them (``on_event_callback``)."""

from __future__ import annotations

from typing import Any

from agentcore_auth import Redactor
from agentcore_auth.integration import scrub_result

__all__ = ["scrub_event"]


def scrub_event(event: Any, redactor: Redactor | None) -> Any:
    """A scrubbed copy of ``event`` (content parts, function responses, ``state_delta``)."""
    return scrub_result(event, redactor)
