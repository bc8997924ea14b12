"""A scripted LlamaIndex function-calling LLM for tests and offline examples (no network).

It answers from a list of turns and records every request, so a test can check what the
model was sent and which tool schemas it was offered.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from pydantic import PrivateAttr

__all__ = ["ScriptedLLM", "call"]


def call(name: str, args: dict[str, Any] | None = None) -> ToolSelection:
    """A model turn calling tool ``name`` with ``args``."""
    return ToolSelection(tool_id=f"call_{uuid.uuid4().hex[:12]}", tool_name=name,
                         tool_kwargs=args or {})


class ScriptedLLM(FunctionCallingLLM):
    """Answers with ``turns`` in order (then ``"done"``); records what it was sent.

    A turn is a text, a :func:`call`, or a list of calls made at once.
    """

    _turns: list[Any] = PrivateAttr(default_factory=list)
    _requests: list[Any] = PrivateAttr(default_factory=list)
    _tools: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, *turns: str | ToolSelection | list[ToolSelection]) -> None:
        super().__init__()
        self._turns = list(turns)

    @property
    def metadata(self) -> LLMMetadata:
        """A function-calling chat model."""
        return LLMMetadata(is_chat_model=True, is_function_calling_model=True,
                           model_name="scripted")

    @property
    def tools(self) -> dict[str, Any]:
        """The tool schemas (name -> parameters) offered in the last call."""
        return self._tools

    def seen(self) -> str:
        """Everything the model was sent, as one string."""
        return json.dumps(self._requests, default=repr)

    def _prepare_chat_with_tools(self, tools: Sequence[Any], user_msg: Any = None,
                                 chat_history: list[ChatMessage] | None = None,
                                 verbose: bool = False, allow_parallel_tool_calls: bool = False,
                                 tool_required: bool = False, **kwargs: Any) -> dict[str, Any]:
        self._tools = {t.metadata.name: t.metadata.get_parameters_dict() for t in tools}
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(user_msg if isinstance(user_msg, ChatMessage)
                            else ChatMessage(role=MessageRole.USER, content=str(user_msg)))
        return {"messages": messages}

    def get_tool_calls_from_response(self, response: ChatResponse,
                                     error_on_no_tool_call: bool = True,
                                     **kwargs: Any) -> list[ToolSelection]:
        """The scripted calls of a response."""
        return list(response.message.additional_kwargs.get("tool_calls", []))

    def _next(self, messages: Sequence[ChatMessage]) -> ChatResponse:
        self._requests.append([m.model_dump(mode="json") for m in messages])
        turn = self._turns.pop(0) if self._turns else "done"
        if isinstance(turn, str):
            return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=turn))
        calls = turn if isinstance(turn, list) else [turn]
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="",
                                                additional_kwargs={"tool_calls": calls}))

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """The next scripted turn."""
        return self._next(messages)

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """The next scripted turn."""
        return self._next(messages)

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """The next scripted turn, as one chunk."""
        yield self._next(messages)

    async def astream_chat(self, messages: Sequence[ChatMessage],
                           **kwargs: Any) -> ChatResponseAsyncGen:
        """The next scripted turn, as one chunk."""
        response = self._next(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield response

        return gen()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Not scripted."""
        raise NotImplementedError("ScriptedLLM answers chat calls only")

    async def acomplete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponse:
        """Not scripted."""
        raise NotImplementedError("ScriptedLLM answers chat calls only")

    def stream_complete(self, prompt: str, formatted: bool = False,
                        **kwargs: Any) -> CompletionResponseGen:
        """Not scripted."""
        raise NotImplementedError("ScriptedLLM answers chat calls only")

    async def astream_complete(self, prompt: str, formatted: bool = False,
                               **kwargs: Any) -> CompletionResponseAsyncGen:
        """Not scripted."""
        raise NotImplementedError("ScriptedLLM answers chat calls only")
