"""A per-call hook choosing what a needed USER_FEDERATION consent raises.

The tool decorators raise :class:`~agentcore_auth.AuthorizationRequiredError` when
a user must consent. An adapter whose framework expects another exception (an
MCP URL elicitation, a framework's own "input required" error) sets a handler
for the duration of a call with :func:`consent_handler`; the decorators then
raise what it returns instead, chained ``from`` the original.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ._exceptions import AuthorizationRequiredError, ConfigurationError, CredentialRejectedError

__all__ = ["ConsentHandler", "RejectionHandler", "consent_error", "consent_handler",
           "rejection_error", "rejection_handler"]

ConsentHandler = Callable[[AuthorizationRequiredError], BaseException | None]
"""Given the pending consent, the exception to raise instead (None: raise the original)."""

_handler: ContextVar[ConsentHandler | None] = ContextVar("agentcore_auth_consent_handler",
                                                         default=None)


@contextmanager
def consent_handler(handler: ConsentHandler) -> Iterator[None]:
    """Within this block, a needed consent raises what ``handler`` returns.

    It lives in a contextvar, so it follows the call into asyncio tasks and the
    library's worker threads, and never leaks to concurrent calls.

    Example:
        >>> with consent_handler(lambda pending: ElicitationRequired(pending.authorization_url)):
        ...     await tool(**arguments)
    """
    if not callable(handler):
        raise ConfigurationError("consent_handler(handler) needs a callable taking the "
                                 "AuthorizationRequiredError and returning an exception or None")
    token = _handler.set(handler)
    try:
        yield
    finally:
        _handler.reset(token)


def consent_error(pending: AuthorizationRequiredError) -> BaseException:
    """What to raise for ``pending``: the current handler's answer, or ``pending`` itself."""
    handler = _handler.get()
    if handler is None:
        return pending
    replacement = handler(pending)
    if replacement is None or replacement is pending:
        return pending
    if not isinstance(replacement, BaseException):
        return ConfigurationError(
            f"the consent handler returned {type(replacement).__name__}, not an exception")
    if replacement.__cause__ is None:
        replacement.__cause__ = pending
    return replacement


RejectionHandler = Callable[[CredentialRejectedError], BaseException | None]
"""Given the final refusal, the exception to raise instead (None: raise the original)."""

_rejection: ContextVar[RejectionHandler | None] = ContextVar(
    "agentcore_auth_rejection_handler", default=None)


@contextmanager
def rejection_handler(handler: RejectionHandler) -> Iterator[None]:
    """Within this block, a credential refused after the decorators' refetch raises ``handler``'s.

    The twin of :func:`consent_handler`, for frameworks that only let an adapter see
    exceptions of their own kind (the mcp SDK passes an ``MCPError`` on, and turns
    anything else into a result).
    """
    if not callable(handler):
        raise ConfigurationError("rejection_handler(handler) needs a callable taking the "
                                 "CredentialRejectedError and returning an exception or None")
    token = _rejection.set(handler)
    try:
        yield
    finally:
        _rejection.reset(token)


def rejection_error(error: BaseException) -> BaseException:
    """What to raise for ``error``: the handler's answer for a refusal, else ``error``."""
    handler = _rejection.get()
    if handler is None or not isinstance(error, CredentialRejectedError):
        return error
    replacement = handler(error)
    if replacement is None or replacement is error:
        return error
    if not isinstance(replacement, BaseException):
        return ConfigurationError(
            f"the rejection handler returned {type(replacement).__name__}, not an exception")
    if replacement.__cause__ is None:
        replacement.__cause__ = error
    return replacement
