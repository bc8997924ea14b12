"""Consent on MCP 2026-07-28: an ``input_required`` result with a URL elicitation, and its retry.

On protocol 2026-07-28 error -32042 is retired: a ``tools/call`` that needs the user's
consent answers ``{"resultType": "input_required", "inputRequests": {...}, "requestState":
...}`` and the client re-sends the call with ``inputResponses`` and the state. Both
server libraries seal ``requestState`` on the wire (AES-GCM, bound to the request, the
authenticated principal and a TTL) and hand handlers the plaintext; this module writes
that plaintext and checks it on the retry: the caller it was issued to (also when the
library knows no principal: stdio, the Runtime header, an ``identity=`` mapping), the
tool, its own shorter lifetime. It holds digests only, never a token or a session URI.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    ElicitRequest,
    ElicitRequestURLParams,
    InputRequiredResult,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentcore_auth import AuthorizationRequiredError, ConfigurationError, Secret
from agentcore_auth.integration import ConsentSession, ConsentSessions, user_token_fingerprint

logger = logging.getLogger("agentcore_auth_mcp")

INPUT_KEY = "agentcore-auth/consent"
"""The ``inputRequests`` key of the consent elicitation (its answer comes back under it)."""

_PREFIX = "agentcore-auth/consent/v1:"
DEFAULT_STATE_TTL = 600.0


def multi_round_trip(protocol_version: str | None) -> bool:
    """True when this request's protocol has input-required results (2026-07-28 on)."""
    return protocol_version in MODERN_PROTOCOL_VERSIONS


def caller_fingerprint(identity: Mapping[str, Any]) -> str:
    """A digest naming the caller: the user id, else the JWT's, else the Runtime token's."""
    for key in ("user_id", "user_token", "workload_access_token"):
        value = identity.get(key)
        if isinstance(value, Secret):
            value = value.reveal()
        if isinstance(value, str) and value:
            material = user_token_fingerprint(value) if key != "user_id" else value
            return hashlib.sha256(f"agentcore-auth-mcp/caller/{key}/{material}".encode()
                                  ).hexdigest()
    return "nobody"


@dataclass(frozen=True, slots=True)
class _Round:
    caller: str
    tool: str
    provider: str | None
    expires_at: float

    def encode(self) -> str:
        return _PREFIX + json.dumps({"c": self.caller, "t": self.tool, "p": self.provider,
                                     "e": self.expires_at}, separators=(",", ":"))


class _Pending:
    """What a needed consent left in one call, copied out before anything scrubs it."""

    __slots__ = ("provider", "session", "url")

    def __init__(self) -> None:
        self.url: str | None = None
        self.provider: str | None = None
        self.session: ConsentSession | None = None


class ConsentRounds:
    """One call's consent on 2026-07-28: the handler, the result, the retry's check."""

    def __init__(self, sessions: ConsentSessions, ttl: float) -> None:
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ConfigurationError("request_state_ttl= must be a number of seconds > 0")
        self._sessions = sessions
        self._ttl = float(ttl)

    def handler(self, signal: Callable[[], BaseException], identity: Mapping[str, Any],
                ) -> tuple[_Pending, Callable[[AuthorizationRequiredError], BaseException]]:
        """A ``consent_handler`` keeping the raw URL aside and raising ``signal()``."""
        pending = _Pending()

        def keep(error: AuthorizationRequiredError) -> BaseException:
            pending.url = error.authorization_url
            pending.provider = error.provider_name
            pending.session = self._sessions.session_for(error, identity)
            return signal()

        return pending, keep

    async def input_required(self, pending: _Pending, identity: Mapping[str, Any],
                             tool: str) -> InputRequiredResult:
        """The input-required result asking the caller to open their own authorization URL."""
        if pending.session is not None:
            await self._sessions.store.aput(pending.session)
        provider = pending.provider or "the service this tool calls"
        state = _Round(caller_fingerprint(identity), tool, pending.provider,
                       time.time() + self._ttl)
        return InputRequiredResult(input_requests={INPUT_KEY: ElicitRequest(
            params=ElicitRequestURLParams(
                mode="url", url=pending.url or "",
                message=f"Authorize access to {provider} in your browser, then continue."))},
            request_state=state.encode())

    def check_retry(self, state: str | None, responses: Mapping[str, Any] | None,
                    identity: Mapping[str, Any], tool: str) -> str | None:
        """Check a retry's state; return the refusal text when the user declined, else None.

        A state of another extension (or none) passes. Ours must name this caller and this
        tool and be unexpired, or the call is refused as the library refuses a bad seal
        (-32602 "Invalid or expired requestState"), the reason logged at WARNING.
        """
        if not isinstance(state, str) or not state.startswith(_PREFIX):
            return None
        try:
            data = json.loads(state[len(_PREFIX):])
            asked = _Round(str(data["c"]), str(data["t"]), data["p"], float(data["e"]))
        except (ValueError, KeyError, TypeError):
            _refuse(tool, "malformed")
        if not hmac.compare_digest(asked.caller, caller_fingerprint(identity)):
            _refuse(tool, "issued to another caller")
        if asked.tool != tool:
            _refuse(tool, "issued for another tool")
        if not time.time() < asked.expires_at:
            _refuse(tool, "expired")
        answer = (responses or {}).get(INPUT_KEY)
        action = answer.get("action") if isinstance(answer, Mapping) else getattr(
            answer, "action", None)
        if action in ("decline", "cancel"):
            provider = asked.provider or "the service this tool calls"
            done = "declined" if action == "decline" else "cancelled"
            return (f"The user {done} the authorization for provider {provider!r}: tool "
                    f"{tool!r} did not run. Call it again to be asked again.")
        return None


def _refuse(tool: str, reason: str) -> Any:
    logger.warning("consent requestState refused on tools/call %r: %s", tool, reason)
    raise MCPError(code=INVALID_PARAMS, message="Invalid or expired requestState",
                   data={"reason": "invalid_request_state"})
