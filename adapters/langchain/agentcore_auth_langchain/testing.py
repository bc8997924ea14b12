"""A scripted LangChain chat model for tests and offline examples (no provider, no network).

Built on LangChain's ``GenericFakeChatModel``: it answers from a list of turns and
records every request, so a test can check what the model was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

__all__ = ["ScriptedChatModel", "call", "tool_messages"]

_counter = iter(range(1, 1_000_000))


def call(name: str, args: dict[str, Any] | None = None) -> AIMessage:
    """A model turn calling tool ``name`` with ``args``."""
    return AIMessage("", tool_calls=[{"name": name, "args": args or {},
                                      "id": f"call_{next(_counter)}", "type": "tool_call"}])


class ScriptedChatModel(GenericFakeChatModel):
    """Answers with ``turns`` in order (then ``"done"``); records what it was sent.

    Attributes:
        requests: the messages of every call, in order.
        bound_tools: the tool schemas ``bind_tools`` was given last.
    """

    requests: list[list[BaseMessage]] = Field(default_factory=list)
    bound_tools: list[Any] = Field(default_factory=list)

    def __init__(self, *turns: AIMessage | str, **kwargs: Any) -> None:
        def script() -> Iterator[AIMessage | str]:
            yield from turns
            while True:
                yield "done"

        super().__init__(messages=script(), **kwargs)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Record the tools; the script decides the calls."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        self.bound_tools = [convert_to_openai_tool(t) for t in tools]
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        self.requests.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)

    def seen(self) -> str:
        """Everything the model was sent, as one string."""
        return json.dumps([[m.model_dump() for m in r] for r in self.requests], default=repr)


def tool_messages(messages: Sequence[BaseMessage]) -> list[ToolMessage]:
    """The tool messages among ``messages``."""
    return [m for m in messages if isinstance(m, ToolMessage)]
