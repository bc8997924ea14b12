"""Where a run's identity comes from: ``Runner.run(..., context=...)``, a handle or a user id.

The SDK serializes the run context into ``result.to_state().to_string()`` (the blob an
app saves during the consent round trip), so a raw JWT or workload access token there
is refused, before the first model call and at every tool call, with an error showing
:func:`agentcore_auth.identity_handle`.
"""

from __future__ import annotations

import copy
from typing import Any

from agents import Agent, AgentHooks

from agentcore_auth.integration import IdentityKeys, identity_from

__all__ = ["check_on_start", "read_identity"]

WHERE = "Runner.run(context=...)"


def read_identity(context: Any, keys: IdentityKeys) -> dict[str, Any]:
    """The ``identity_context`` arguments of the run context (a handle or a user id)."""
    return identity_from(context, keys=keys, where=WHERE)


def check_on_start(agent: Agent[Any], keys: IdentityKeys) -> Any:
    """``agent.hooks`` (a copy) whose ``on_start`` first refuses a raw token in the context."""
    hooks = copy.copy(agent.hooks) if agent.hooks is not None else AgentHooks()
    original = hooks.on_start
    if getattr(original, "__agentcore_auth_secured__", False):
        return hooks

    async def on_start(context: Any, started: Agent[Any]) -> None:
        read_identity(context.context, keys)
        await original(context, started)

    on_start.__agentcore_auth_secured__ = True  # type: ignore[attr-defined]
    hooks.on_start = on_start  # type: ignore[method-assign,assignment]
    return hooks
