"""ADK events a runner yields: a tool writes the echoed key into its state delta.

``tool_context.state`` changes ride in ``event.actions.state_delta`` of the event
``Runner.run_async`` yields (and the session persists): the plugin's
``on_event_callback`` scrubs them; the control (no plugin) leaks.
"""

from __future__ import annotations

from typing import Any

import httpx
from adk_helpers import Run, dump, leaks
from agentcore_auth_adk import AgentCoreAuthPlugin
from agentcore_auth_adk.testing import ScriptedLlm, call
from google.adk.tools.tool_context import ToolContext

from agentcore_auth import requires_api_key


def noting_tool(weather: Any) -> Any:
    @requires_api_key(provider_name=weather.provider, resolver=weather.resolver)
    async def note(city: str, tool_context: ToolContext, *, api_key: str) -> dict[str, Any]:
        """Notes the weather for a city in the session state."""
        async with httpx.AsyncClient() as http:
            response = await http.get(weather.url, params={"echo": 1},
                                      headers={"x-api-key": api_key})
        tool_context.state["last_response"] = response.text  # a side channel
        return {"noted": city}

    return note


async def test_state_delta_in_events_is_scrubbed(weather: Any) -> None:
    for plugins in ([AgentCoreAuthPlugin()], []):
        model = ScriptedLlm(call("note", {"city": "Paris"}), "done")
        run = Run(model, [noting_tool(weather)], *plugins)
        events = await run.send("alice", await run.session("alice"), "note it")
        text = dump(events)
        assert "last_response" in text and '\\"ok\\": true' in text or '"ok": true' in text
        assert bool(leaks(weather.key, text)) is (not plugins), text[:500]
