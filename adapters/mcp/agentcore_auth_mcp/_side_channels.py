"""What a tool sends through its MCP ``Context`` besides the result, scrubbed.

``ctx.info()`` / ``debug`` / ``warning`` / ``error`` / ``log`` become
``notifications/message``, ``report_progress(message=...)`` a
``notifications/progress``, ``ctx.elicit(message=...)`` an ``elicitation/create``
request: all leave through the request's ``ServerSession`` (built per request by the
mcp SDK, also under FastMCP). :class:`ScrubbedSession` is that same session with every
registered value redacted from what it sends; the extension hands it to the handler in
the request context, the middleware binds it in FastMCP's request context.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mcp.server.session import ServerSession

from agentcore_auth import Redactor
from agentcore_auth.integration import scrub_result


def _scrub(value: Any, redactor: Redactor | None) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # FastMCP's LogData
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        scrubbed = {k: _scrub(v, redactor) for k, v in fields.items()}
        return value if scrubbed == fields else dataclasses.replace(value, **scrubbed)
    if hasattr(value, "model_dump") and hasattr(type(value), "model_validate"):
        data = value.model_dump(by_alias=True, exclude_unset=True)
        clean = scrub_result(data, redactor)
        return value if clean == data else type(value).model_validate(clean)
    return scrub_result(value, redactor)


class ScrubbedSession(ServerSession):
    """A request's ``ServerSession`` whose logs, progress and requests are scrubbed.

    It shares the wrapped session's state (channels, connection, log levels); only
    what it sends differs: registered values (keys, tokens, JWTs) are redacted from
    log data, progress messages and any other notification or request a tool sends.
    """

    def __init__(self, session: ServerSession, redactor: Redactor | None = None) -> None:
        # Not ServerSession.__init__: the same per-request session, seen through a filter.
        self.__dict__.update(vars(session))
        self._agentcore_auth_redactor = redactor

    async def send_log_message(self, level: Any, data: Any, logger: str | None = None,
                               related_request_id: Any = None) -> None:
        """Send a log message notification, scrubbed."""
        redactor = self._agentcore_auth_redactor
        await super().send_log_message(  # pyright: ignore[reportDeprecated]
            level=level, data=_scrub(data, redactor), logger=_scrub(logger, redactor),
            related_request_id=related_request_id)

    async def report_progress(self, progress: float, total: float | None = None,
                              message: str | None = None) -> None:
        """Report progress for this request, the message scrubbed."""
        await super().report_progress(progress, total,
                                      _scrub(message, self._agentcore_auth_redactor))

    async def send_notification(self, notification: Any, related_request_id: Any = None,
                                ) -> None:
        """Send a notification, scrubbed."""
        await super().send_notification(_scrub(notification, self._agentcore_auth_redactor),
                                        related_request_id)

    async def send_request(self, request: Any, result_type: Any, *args: Any,
                           **kwargs: Any) -> Any:
        """Send a request to the client (an elicitation's message, say), scrubbed."""
        return await super().send_request(_scrub(request, self._agentcore_auth_redactor),
                                          result_type, *args, **kwargs)


def scrubbed_session(session: Any, redactor: Redactor | None) -> Any:
    """``session`` behind a :class:`ScrubbedSession` (as is if not a ``ServerSession``)."""
    if isinstance(session, ScrubbedSession) or not isinstance(session, ServerSession):
        return session
    return ScrubbedSession(session, redactor)
