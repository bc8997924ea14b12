"""What leaves a decorated tool: results and streamed items scrubbed, exceptions sanitized.

Frameworks record a tool's output (in trace spans, stream events, callbacks,
metrics) before any hook of theirs can change it, so the decorators scrub it
where it leaves the wrapped function: the return value, each item a generator
yields and its return value, with :meth:`Redactor.redact_obj` (same types back);
and any exception, with :func:`~agentcore_auth._scrub.sanitize_exception`, which
fails closed to a :class:`~agentcore_auth.RedactedError` when scrubbing in place
cannot reach the value.

Values are looked up in the process-wide redactor (every resolver registers
there) and, when the decorator's resolver has its own ``redactor=``, in that one too.
"""

from __future__ import annotations

from typing import Any

from ._exceptions import AgentCoreAuthError, AuthorizationRequiredError, RedactedError
from ._objwalk import ATOMS
from ._redact import Redactor, default_redactor
from ._rejection import CredentialBinding
from ._resolver import default_resolver
from ._scrub import leaks, sanitize_exception, scrub_exception

__all__ = ["Outbound"]


class Outbound:
    """One decorator's scrubbing of what its function returns, yields and raises.

    Args:
        binding: the decorator's configuration (its resolver says which redactor).
        scrub_result: scrub return values and yielded items (exceptions always are).
    """

    __slots__ = ("_binding", "_scrub_result")

    def __init__(self, binding: CredentialBinding, scrub_result: bool) -> None:
        self._binding = binding
        self._scrub_result = scrub_result

    def result(self, value: Any) -> Any:
        """``value`` with every registered value redacted (the same object if it holds none)."""
        if not self._scrub_result or type(value) in ATOMS:
            return value
        redactor = default_redactor()
        value = redactor.redact(value) if type(value) is str else redactor.redact_obj(value)
        custom = self._custom_redactor()
        if custom is not None:
            value = custom.redact_obj(value)
        return value

    def exception(self, exc: Exception) -> BaseException:
        """``exc`` scrubbed in place, or a stand-in to raise ``from None`` if it still shows one.

        An :class:`AuthorizationRequiredError` leaves untouched: its message holds no
        value, and its ``authorization_url`` is meant for the user.
        """
        if isinstance(exc, AuthorizationRequiredError):
            return exc
        leaving: BaseException = _sanitize(exc, default_redactor())
        custom = self._custom_redactor()
        if custom is not None:
            leaving = _sanitize(leaving, custom)
        return leaving

    def _custom_redactor(self) -> Redactor | None:
        resolver = self._binding._resolver or default_resolver()
        custom = getattr(resolver, "_redactor", None)
        if isinstance(custom, Redactor) and custom is not default_redactor():
            return custom
        return None


def _sanitize(exc: BaseException, redactor: Redactor) -> BaseException:
    """:func:`sanitize_exception`, keeping the library's own errors (their type matters).

    A :class:`CredentialRejectedError` (say) never holds a value in its own text,
    only maybe in what is chained to it: the chained exceptions are replaced by
    their stand-ins instead, so callers can still catch it by type.
    """
    if not isinstance(exc, AgentCoreAuthError) or isinstance(exc, RedactedError):
        return sanitize_exception(exc, redactor)
    scrub_exception(exc, redactor)
    if not leaks(exc, redactor):
        return exc
    for attr in ("__cause__", "__context__"):
        inner = getattr(exc, attr)
        if inner is not None:
            setattr(exc, attr, sanitize_exception(inner, redactor))
    return sanitize_exception(exc, redactor)
