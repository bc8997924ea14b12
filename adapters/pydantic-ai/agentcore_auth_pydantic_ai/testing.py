"""A scripted pydantic-ai model for tests and offline examples (no provider, no network).

Built on pydantic-ai's ``FunctionModel``: it answers from a list of turns and records
every request, so a test can check what the model was sent.
"""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelResponse,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition

__all__ = ["Script", "call"]

_counter = iter(range(1, 1_000_000))


def call(name: str, args: dict[str, Any] | None = None) -> ToolCallPart:
    """A model turn part calling tool ``name`` with ``args``."""
    return ToolCallPart(name, args or {}, tool_call_id=f"call_{next(_counter)}")


class Script:
    """Answers with ``turns`` in order (then ``"done"``); records what the model was sent.

    A turn is a text, a :func:`call`, or a list of calls made at once. Pass
    :attr:`model` to the agent.

    Attributes:
        model: the ``FunctionModel`` to give the agent.
        requests: the messages of every model request, in order.
        tools: the tool definitions of the last request.
    """

    def __init__(self, *turns: str | ToolCallPart | list[ToolCallPart]) -> None:
        self._turns = list(turns)
        self.requests: list[list[ModelMessage]] = []
        self.tools: list[ToolDefinition] = []
        self.model = FunctionModel(self._respond, model_name="scripted")

    def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.requests.append(list(messages))
        self.tools = list(info.function_tools)
        turn = self._turns.pop(0) if self._turns else "done"
        if isinstance(turn, str):
            return ModelResponse(parts=[TextPart(turn)])
        calls = turn if isinstance(turn, list) else [turn]
        return ModelResponse(parts=list(calls))

    def seen(self) -> str:
        """Everything the model was sent, as one JSON string."""
        return "\n".join(ModelMessagesTypeAdapter.dump_json(r).decode() for r in self.requests)
