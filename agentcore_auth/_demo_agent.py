"""The demo's Strands part: a scripted model that emits tool calls, and the agent around it.

Imported only when Strands is installed (it is a dev dependency, not a core one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from strands import Agent, tool
from strands.hooks import AfterToolCallEvent, BeforeToolCallEvent
from strands.models import Model

if TYPE_CHECKING:
    from ._demo import Step, _Tracer

__all__ = ["ScriptedModel", "run_agent"]


class ScriptedModel(Model):
    """A model that plays ``steps``: one tool call per turn, then a final answer.

    Each step's ``before`` runs just before its tool call is emitted, which is how
    the demo rotates secrets in the middle of a run.
    """

    def __init__(self, steps: list[Step]) -> None:
        self.steps = list(steps)
        self.turn = 0
        self.tool_specs: list[Any] = []

    def update_config(self, **model_config: Any) -> None:
        """Nothing to configure."""

    def get_config(self) -> dict[str, Any]:
        """No configuration."""
        return {}

    def structured_output(self, *args: Any, **kwargs: Any) -> Any:
        """Not used by the demo."""
        raise NotImplementedError("ScriptedModel has no structured output")

    async def stream(  # type: ignore[override]  # accepts every keyword Strands passes
        self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Emit the next scripted tool call, or the final text."""
        self.tool_specs = list(tool_specs or [])
        yield {"messageStart": {"role": "assistant"}}
        if self.turn < len(self.steps):
            step = self.steps[self.turn]
            self.turn += 1
            if step.before is not None:
                step.before()
            start = {"toolUse": {"toolUseId": f"call-{self.turn}", "name": step.tool}}
            yield {"contentBlockStart": {"start": start}}
            yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(step.input)}}}}
            yield {"contentBlockStop": {}}
            yield {"messageStop": {"stopReason": "tool_use"}}
            return
        yield {"contentBlockDelta": {"delta": {"text": "Weather and calendar checked."}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}


def _plugins(resolver: Any) -> tuple[list[Any], str]:
    """The agentcore-auth-strands plugin when that adapter is installed."""
    try:
        import agentcore_auth_strands as adapter  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return [], "Strands"
    plugin = getattr(adapter, "AgentCoreAuthPlugin", None)
    if plugin is None:
        return [], "Strands"
    return [plugin(resolver)], "Strands + agentcore-auth-strands plugin"


def run_agent(tools: dict[str, Callable[..., str]], steps: list[Step], tracer: _Tracer,
              say: Callable[[str], None], resolver: Any) -> str:
    """Run a Strands agent over ``tools`` playing ``steps``; return what ran it."""
    model = ScriptedModel(steps)
    plugins, label = _plugins(resolver)
    agent = Agent(model=model, tools=[tool(fn) for fn in tools.values()],
                  callback_handler=None, plugins=plugins or None)

    def before(event: Any) -> None:
        tracer.start()

    def after(event: Any) -> None:
        use, res = event.tool_use, event.result
        text = " ".join(c.get("text", "") for c in res.get("content", []) if isinstance(c, dict))
        if res.get("status") != "success":
            text = f"error: {text}"
        tracer.finish(use["name"], dict(use.get("input") or {}), text)

    agent.hooks.add_callback(BeforeToolCallEvent, before)
    agent.hooks.add_callback(AfterToolCallEvent, after)
    schema = {t["toolSpec"]["name"] if "toolSpec" in t else t["name"]:
              sorted(t["inputSchema"]["json"]["properties"]) for t in _specs(agent)}
    say(f"  runner: {label}; tool schemas the model sees: "
        + ", ".join(f"{n}({', '.join(p)})" for n, p in schema.items())
        + "  (no api_key parameter)")
    answer = agent("What's the weather, and what's on my calendar?")
    say(f"  agent answered: {str(answer).strip()}")
    return label


def _specs(agent: Any) -> list[Any]:
    return list(agent.tool_registry.get_all_tool_specs())
