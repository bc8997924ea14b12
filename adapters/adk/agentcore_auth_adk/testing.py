"""A scripted ADK model for tests and offline examples (no provider, no network).

It answers from a list of turns and records every request, so a test can check what the
model was sent and which tool declarations it was offered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from pydantic import PrivateAttr

__all__ = ["ScriptedLlm", "call"]


def call(name: str, args: dict[str, Any] | None = None) -> types.FunctionCall:
    """A model turn calling tool ``name`` with ``args``."""
    return types.FunctionCall(id=f"call_{uuid.uuid4().hex[:12]}", name=name, args=args or {})


class ScriptedLlm(BaseLlm):
    """Answers with ``turns`` in order (then ``"done"``); records what it was sent.

    A turn is a text, a :func:`call`, or a list of calls made at once.
    """

    model: str = "scripted"
    _turns: list[Any] = PrivateAttr(default_factory=list)
    _requests: list[Any] = PrivateAttr(default_factory=list)
    _tools: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, *turns: str | types.FunctionCall | list[types.FunctionCall]) -> None:
        super().__init__(model="scripted")
        self._turns = list(turns)

    @property
    def tools(self) -> dict[str, Any]:
        """The function declarations (name -> parameters) offered in the last call."""
        return self._tools

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False,
                                     ) -> AsyncGenerator[LlmResponse, None]:
        """The next scripted turn."""
        self._requests.append([c.model_dump(mode="json", exclude_none=True)
                               for c in llm_request.contents])
        declarations = {name: tool._get_declaration()
                        for name, tool in llm_request.tools_dict.items()}
        self._tools = {name: d.model_dump(mode="json", exclude_none=True)
                       for name, d in declarations.items() if d is not None}
        turn = self._turns.pop(0) if self._turns else "done"
        if isinstance(turn, str):
            parts = [types.Part(text=turn)]
        else:
            calls = turn if isinstance(turn, list) else [turn]
            parts = [types.Part(function_call=c.model_copy()) for c in calls]
        yield LlmResponse(content=types.Content(role="model", parts=parts))

    def seen(self) -> str:
        """Everything the model was sent, as one string."""
        return json.dumps(self._requests, default=repr)
