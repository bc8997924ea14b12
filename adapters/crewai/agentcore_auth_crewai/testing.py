"""A scripted CrewAI LLM for tests and offline examples (no provider, no network).

It answers from a list of ReAct turns and records every request, so a test can check
what the model was sent.
"""

from __future__ import annotations

import json
from typing import Any

from crewai.llms.base_llm import BaseLLM
from pydantic import PrivateAttr

__all__ = ["ScriptedLLM", "action", "final"]


def action(tool: str, args: dict[str, Any] | None = None) -> str:
    """A ReAct turn calling ``tool`` with ``args``."""
    return (f"Thought: I should use {tool}.\nAction: {tool}\n"
            f"Action Input: {json.dumps(args or {})}")


def final(text: str = "done") -> str:
    """A ReAct turn giving the final answer."""
    return f"Thought: I now know the final answer\nFinal Answer: {text}"


class ScriptedLLM(BaseLLM):
    """Answers with ``turns`` in order (then :func:`final`); records what it was sent."""

    _turns: list[str] = PrivateAttr(default_factory=list)
    _requests: list[Any] = PrivateAttr(default_factory=list)

    def __init__(self, *turns: str) -> None:
        super().__init__(model="scripted")
        self._turns = list(turns)

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
             available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
             response_model: Any = None) -> str:
        """The next scripted turn."""
        self._requests.append(messages)
        return self._turns.pop(0) if self._turns else final()

    def supports_function_calling(self) -> bool:
        """ReAct text only."""
        return False

    def seen(self) -> str:
        """Everything the model was sent, as one string."""
        return json.dumps(self._requests, default=repr)
