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
from ._stream import StreamScrubber

__all__ = ["Outbound"]


class Outbound:
    """One decorator's scrubbing of what its function returns, yields and raises.

    Args:
        binding: the decorator's configuration (its resolver says which redactor).
        scrub_result: scrub return values and yielded items (exceptions always are).
    """

    __slots__ = ("_binding", "_scrub_result", "_known", "_short")

    def __init__(self, binding: CredentialBinding, scrub_result: bool) -> None:
        self._binding = binding
        self._scrub_result = scrub_result
        # (resolver, its own redactor or None, shortest value either redactor looks for),
        # for the last resolver seen: fixed when the decorator was given one, else the
        # default resolver, re-read when set_default_resolver() replaced it.
        self._known: tuple[object, Redactor | None, int] | None = None
        # With a fixed resolver, strings shorter than this return before any lookup.
        self._short = self._redactors()[1] if binding._resolver is not None else 0

    def _redactors(self) -> tuple[Redactor | None, int]:
        resolver = self._binding._resolver or default_resolver()
        known = self._known
        if known is None or known[0] is not resolver:
            custom = _custom_of(resolver)
            short = default_redactor().min_length
            if custom is not None:
                short = min(short, custom.min_length)
            known = self._known = (resolver, custom, short)
        return known[1], known[2]

    def result(self, value: Any) -> Any:
        """``value`` with every registered value redacted (the same object if it holds none)."""
        kind = type(value)
        if (kind is str and len(value) < self._short) or kind in ATOMS or not self._scrub_result:
            return value
        custom, short = self._redactors()
        if kind is str and len(value) < short:  # too short to hold any value: the hot path
            return value
        for redactor in (default_redactor(), custom):
            if redactor is None:
                continue
            if type(value) is str:
                value = redactor.redact(value)
            elif not _clean(value, redactor):
                value = redactor.redact_obj(value)
        return value

    def stream(self) -> StreamScrubber | None:
        """A scrubber for one generator's items (None with ``scrub_result=False``)."""
        if not self._scrub_result:
            return None
        custom, _ = self._redactors()
        return StreamScrubber(default_redactor(), *(() if custom is None else (custom,)))

    def exception(self, exc: Exception) -> BaseException:
        """``exc`` scrubbed in place, or a stand-in to raise ``from None`` if it still shows one.

        An :class:`AuthorizationRequiredError` leaves untouched: its message holds no
        value, and its ``authorization_url`` is meant for the user.
        """
        if isinstance(exc, AuthorizationRequiredError):
            return exc
        leaving: BaseException = _sanitize(exc, default_redactor())
        custom, _ = self._redactors()
        if custom is not None:
            leaving = _sanitize(leaving, custom)
        return leaving


def _custom_of(resolver: object) -> Redactor | None:
    """The resolver's own ``redactor=``, when it is not the process-wide one."""
    custom = getattr(resolver, "_redactor", None)
    if isinstance(custom, Redactor) and custom is not default_redactor():
        return custom
    return None


_MAX_CHECK = 10_000  # items the pre-check looks at before it gives up (and walks)


def _clean(value: Any, redactor: Redactor) -> bool:
    """Whether a plain result (builtin containers of text) surely holds nothing to redact.

    One matcher pass over all its strings, joined, instead of one per string; a
    sensitive key, or any other type (models, dataclasses...), means "walk it".
    """
    texts: list[str] = []
    todo = [value]
    for _ in range(_MAX_CHECK):  # bounded: also ends on reference cycles
        if not todo:
            break
        item = todo.pop()
        kind = type(item)
        if kind is str:
            texts.append(item)
        elif kind in ATOMS:
            continue
        elif kind is dict:
            for key, inner in item.items():
                if type(key) is str and redactor._is_sensitive(key) and isinstance(
                        inner, str | bytes):
                    return False
                todo.append(key)
                todo.append(inner)
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            todo.extend(item)
        elif kind is bytes:
            texts.append(item.decode("utf-8", "surrogateescape"))
        else:
            return False
    else:
        return False
    text = "\x00".join(texts)
    return redactor.redact(text) is text


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
