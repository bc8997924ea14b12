"""A warning for sync lookups that block a running event loop (logged once per provider).

A sync decorated tool called directly in a coroutine runs its cache miss (an
AgentCore Identity call, seconds under throttling) on the loop's thread, blocking
every other task. Only the miss path calls :func:`warn_if_loop_blocked`, so a
cache hit costs nothing.
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["warn_if_loop_blocked"]

logger = logging.getLogger("agentcore_auth")

_warned: set[str] = set()


def warn_if_loop_blocked(provider_name: str) -> None:
    """Log one WARNING per provider when called on a thread that runs an event loop."""
    if provider_name in _warned:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    _warned.add(provider_name)
    logger.warning(
        "a sync credential lookup for provider %r missed the cache on a thread running an "
        "asyncio event loop, which is blocked until AgentCore Identity answers: make the tool "
        "`async def` (requires_api_key / requires_access_token support it), or await "
        "aget_api_key / aget_oauth2_token / aresolve, or use httpx.AsyncClient with "
        "AgentCoreAuth (logged once per provider)", provider_name)
