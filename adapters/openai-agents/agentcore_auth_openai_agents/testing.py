"""A scripted OpenAI Agents SDK ``Model`` for tests and offline examples (no provider, no network).

It answers from a list of turns and records every request, so a test can check what
the model was sent and which tool schemas it was offered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from agents import FunctionTool, Model, ModelResponse, Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

__all__ = ["ScriptedModel", "call"]


def call(name: str, args: dict[str, Any] | None = None) -> ResponseFunctionToolCall:
    """A model turn item calling tool ``name`` with ``args``."""
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    return ResponseFunctionToolCall(type="function_call", call_id=call_id, id=f"fc_{call_id}",
                                    name=name, arguments=json.dumps(args or {}))


class ScriptedModel(Model):
    """Answers with ``turns`` in order (then ``"done"``); records what it was sent.

    A turn is a text, a :func:`call`, or a list of calls made at once.

    Attributes:
        requests: ``(instructions, input)`` of every call, in order.
        tools: the function tools (name, parameters) offered in the last call.
    """

    def __init__(self, *turns: str | ResponseFunctionToolCall | list[ResponseFunctionToolCall],
                 ) -> None:
        self._turns = list(turns)
        self.requests: list[tuple[str | None, Any]] = []
        self.tools: dict[str, dict[str, Any]] = {}

    async def get_response(self, system_instructions: str | None, input: Any,  # noqa: A002
                           model_settings: Any, tools: list[Any], output_schema: Any,
                           handoffs: list[Any], tracing: Any, **kwargs: Any) -> ModelResponse:
        """The next scripted turn."""
        self.requests.append((system_instructions, input))
        self.tools = {t.name: t.params_json_schema for t in tools if isinstance(t, FunctionTool)}
        turn = self._turns.pop(0) if self._turns else "done"
        if isinstance(turn, str):
            output: list[Any] = [ResponseOutputMessage(
                id=f"msg_{uuid.uuid4().hex[:12]}", role="assistant", status="completed",
                type="message",
                content=[ResponseOutputText(type="output_text", text=turn, annotations=[])])]
        else:
            output = list(turn) if isinstance(turn, list) else [turn]
        return ModelResponse(output=output, usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Not scripted: use ``Runner.run``."""
        raise NotImplementedError("ScriptedModel answers Runner.run only, not streaming")

    def seen(self) -> str:
        """Everything the model was sent, as one string."""
        return json.dumps(self.requests, default=repr)
