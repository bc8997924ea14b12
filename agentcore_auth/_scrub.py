"""Scrub registered secrets out of an exception and everything chained to it.

:func:`scrub_exception` rewrites, in place, what an exception's message is made
of, so ``str()``, ``repr()`` and formatted tracebacks show markers instead of
values:

- ``args`` (strings and bytes, recursively through tuples, lists and dicts);
- ``__notes__``;
- string and container attributes in ``__dict__`` (botocore's
  ``ClientError.response``, ``CredentialError`` fields, ...);
- ``OSError`` ``strerror``/``filename``/``filename2``;
- attached HTTP request/response objects (``httpx.HTTPStatusError.request`` and
  ``.response``): headers, URL and an already-read body;
- ``__cause__``, ``__context__`` and the members of exception groups.

It cannot reach local variables in ``__traceback__`` frames (tools that print
locals may still show a value) nor text an exception computes in a custom
``__str__`` from objects it hides. It never raises.

:func:`sanitize_exception` fails closed where in-place scrubbing cannot reach:
it scrubs, then renders the exception (``str``, ``repr``, the formatted
traceback with its chain) and, if a registered value still shows, returns a
:class:`~agentcore_auth.RedactedError` carrying the original type's name and
the redacted text, to be raised ``from None`` outside the ``except`` block.
"""

from __future__ import annotations

import traceback
from typing import Any

from ._exceptions import RedactedError
from ._redact import Redactor, default_redactor

__all__ = ["leaks", "sanitize_exception", "scrub_exception"]


def scrub_exception(exc: BaseException, redactor: Redactor | None = None) -> BaseException:
    """Redact ``exc`` and its chain in place and return it.

    Args:
        exc: the exception; ``__cause__``, ``__context__`` and group members too.
        redactor: the registry to use; default :func:`default_redactor`.

    Returns:
        ``exc`` itself, so ``raise scrub_exception(err)`` reads naturally.
    """
    redactor = redactor or default_redactor()
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        try:
            _scrub_one(current, redactor, todo)
        except Exception:  # noqa: S110  # best effort: scrubbing must never mask the error
            pass
    return exc


def _scrub_one(exc: BaseException, redactor: Redactor, todo: list[BaseException]) -> None:
    todo.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
    todo.extend(getattr(exc, "exceptions", ()) if isinstance(exc, BaseExceptionGroup) else ())
    scrubbed = redactor.redact_obj(exc.args)
    if scrubbed != exc.args:
        exc.args = scrubbed
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes[:] = [redactor.redact(n) if isinstance(n, str) else n for n in notes]
    if isinstance(exc, OSError):
        for attr in ("strerror", "filename", "filename2"):
            value = getattr(exc, attr, None)
            if isinstance(value, str | bytes):
                setattr(exc, attr, redactor.redact_obj(value))
    for key, value in list(getattr(exc, "__dict__", {}).items()):
        if isinstance(value, BaseException):
            todo.append(value)
        elif isinstance(value, str | bytes | tuple | list | dict | set | frozenset):
            new = redactor.redact_obj(value)
            if new != value:
                exc.__dict__[key] = new
        elif hasattr(value, "headers") and hasattr(value, "url"):
            _scrub_http_message(value, redactor)


def _scrub_http_message(message: Any, redactor: Redactor) -> None:
    """Scrub an httpx-style Request/Response: headers, URL, body if already read."""
    headers = message.headers
    for key, value in list(headers.items()):
        new = redactor.redact_obj({key: value})[key]
        if new != value:
            headers[key] = new
    request = getattr(message, "_request", None)  # a Response's own request
    if request is not None and request is not message:
        _scrub_http_message(request, redactor)
    url = message.url
    text = str(url)
    new_url = redactor.redact(text)
    if new_url is not text:
        try:
            message.url = type(url)(new_url)
        except Exception:  # noqa: S110  # a read-only URL stays; the message text is scrubbed
            pass
    # httpx keeps a read body in ``_content``; a streamed, unread body has none.
    content = getattr(message, "_content", None)
    if isinstance(content, bytes):
        message._content = redactor.redact_bytes(content)


def sanitize_exception(exc: BaseException, redactor: Redactor | None = None) -> BaseException:
    """Scrub ``exc`` in place; return it if no rendering shows a value, else a stand-in.

    The stand-in is a :class:`~agentcore_auth.RedactedError` whose message is
    ``"<original type>: <redacted str(exc)>"``. Raise it outside the ``except``
    block that caught ``exc`` (and ``from None``) so that neither ``__cause__``
    nor ``__context__`` refers to the original.

    Args:
        exc: the exception leaving our code.
        redactor: the registry to use; default :func:`default_redactor`.

    Returns:
        ``exc`` itself when it is clean after scrubbing, otherwise the stand-in.
    """
    redactor = redactor or default_redactor()
    scrub_exception(exc, redactor)
    if not leaks(exc, redactor):
        return exc
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else (
        f"{kind.__module__}.{kind.__qualname__}")
    text = redactor.redact(_render(str, exc))
    return RedactedError(f"{name}: {text}" if text else name, original_type=name)


def leaks(exc: BaseException, redactor: Redactor) -> bool:
    """Whether ``str``, ``repr`` or the formatted traceback of ``exc`` shows a registered value."""
    for render in (str, repr, _format):
        text = _render(render, exc)
        if redactor.redact(text) is not text:
            return True
    return False


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _render(render: Any, exc: BaseException) -> str:
    try:
        text = render(exc)
    except Exception:  # a __str__ that raises renders as nothing, like traceback does
        return ""
    return text if isinstance(text, str) else ""
