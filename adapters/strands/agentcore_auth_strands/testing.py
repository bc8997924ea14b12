"""Test helpers: a scripted Strands model that emits tool calls and records what it is sent.

For tests and offline examples; it is not a model. Importing this module imports
nothing beyond Strands itself.

No network: each ``stream`` call pops the next turn of the script. A turn is a list
of :class:`Call` (a tool use) and ``str`` (text); a callable turn is called with the
messages first, so a turn can depend on earlier tool results. When the script is
used up the model answers ``"done"``.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from strands.models import Model
from strands.types.content import Messages, SystemContentBlock
from strands.types.streaming import StreamEvent
from strands.types.tools import ToolChoice, ToolSpec

if TYPE_CHECKING:
    from strands.agent.agent_metadata import AgentMetadata

__all__ = ["Call", "ScriptedModel", "tool_results"]

_ids = itertools.count(1)


@dataclass
class Call:
    """One tool use the model emits."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"tooluse_{next(_ids)}")


Turn = Sequence[Call | str] | Callable[[Messages], Sequence[Call | str]]


class ScriptedModel(Model):
    """A :class:`strands.models.Model` whose answers come from a script."""

    def __init__(self, *turns: Turn) -> None:
        self.script = list(turns)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> dict[str, Any]:
        return {}

    async def structured_output(self, output_model: Any, prompt: Any,
                                system_prompt: str | None = None,
                                **kwargs: Any) -> AsyncGenerator[dict[str, Any], None]:
        raise NotImplementedError("the scripted model has no structured output")
        yield {}  # pragma: no cover

    async def stream(  # the base class's signature, spelled out for mypy
        self,
        messages: Messages,
        tool_specs: list[ToolSpec] | None = None,
        system_prompt: str | None = None,
        *,
        tool_choice: ToolChoice | None = None,
        system_prompt_content: list[SystemContentBlock] | None = None,
        invocation_state: dict[str, Any] | None = None,
        cancel_signal: threading.Event | None = None,
        agent_metadata: AgentMetadata | None = None,
        structured_output_model: type[BaseModel] | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[StreamEvent, None]:
        with self._lock:
            self.requests.append(copy.deepcopy({
                "messages": messages, "tool_specs": tool_specs, "system_prompt": system_prompt}))
            turn = self.script.pop(0) if self.script else ["done"]
        blocks = turn(messages) if callable(turn) else turn
        yield {"messageStart": {"role": "assistant"}}
        for block in blocks:
            if isinstance(block, Call):
                yield {"contentBlockStart": {"start": {"toolUse": {"toolUseId": block.id,
                                                                   "name": block.name}}}}
                yield {"contentBlockDelta": {"delta": {"toolUse": {
                    "input": json.dumps(block.input)}}}}
            else:
                yield {"contentBlockDelta": {"delta": {"text": block}}}
            yield {"contentBlockStop": {}}
        calls = any(isinstance(block, Call) for block in blocks)
        yield {"messageStop": {"stopReason": "tool_use" if calls else "end_turn"}}
        yield {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
                            "metrics": {"latencyMs": 1}}}

    def seen(self) -> str:
        """Everything the model was sent, as one string (to search for secrets)."""
        return json.dumps(self.requests, default=repr)


def tool_results(messages: Messages) -> list[Any]:
    """The toolResult blocks in ``messages``, oldest first."""
    return [block["toolResult"] for message in messages for block in message["content"]
            if "toolResult" in block]
