"""Scrubbing a stream of structured items (dicts, events, models) field by field.

A framework's side channel rarely carries bare text: LangGraph's stream writer
takes ``{"progress": chunk}``, LlamaIndex streams ``Event`` models with a
``delta`` field, ADK yields ``Event`` objects. A value split across two items
sits in the same field of consecutive items, so :class:`FieldStreamScrubber`
keeps one :class:`~agentcore_auth.StreamScrubber` per (item type, field) and
holds each field's uncertain tail until the next item of that shape, or
:meth:`FieldStreamScrubber.finish`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from .._redact import Redactor, default_redactor
from .._stream import StreamScrubber

__all__ = ["FieldStreamScrubber", "scrubbing_writer"]


class FieldStreamScrubber:
    """Redacts a stream of items so no value survives being split across items.

    Text and bytes items form one stream (as with :meth:`StreamScrubber.push`);
    the top-level ``str`` fields of dicts, pydantic models and dataclasses each
    form a stream of their own, keyed by the item's type and the field name. An
    item comes out as a copy with each such field replaced by what its stream
    releases now (possibly ``""``), everything else scrubbed whole
    (:meth:`Redactor.redact_obj`). :meth:`finish` returns, for each shape with
    held text, one more copy of its last item carrying the tails. Not thread-safe:
    one per stream (a tool call, a run).

    Args:
        redactor: the registry; default :func:`agentcore_auth.default_redactor`.
        extra: further registries to scrub with.
    """

    __slots__ = ("_redactors", "_text", "_fields", "_last")

    def __init__(self, redactor: Redactor | None = None, *extra: Redactor) -> None:
        first = redactor or default_redactor()
        self._redactors = (first, *(r for r in extra if r is not first))
        self._text = StreamScrubber(*self._redactors)
        self._fields: dict[tuple[type, str], StreamScrubber] = {}
        self._last: dict[type, Any] = {}  # the last item of each shape with text fields

    @property
    def pending(self) -> bool:
        """Whether some text is held back."""
        return self._text.pending or any(s.pending for s in self._fields.values())

    def push(self, item: Any) -> list[Any]:
        """The items to pass on for ``item`` (held text of a bare-text stream comes first)."""
        if isinstance(item, str | bytes | bytearray):
            return self._text.push(item)
        out = self._text.finish()
        names = _text_fields(item)
        if names:
            kind = type(item)
            released = {name: self._stream(kind, name).feed(_field(item, name))
                        for name in names}
            self._last[kind] = item
            item = _replace(item, released)
        out.append(self._scrub(item))
        return out

    def finish(self) -> list[Any]:
        """The held text as items to pass on (``[]`` when none): call it at the end."""
        out = self._text.finish()
        for kind, last in self._last.items():
            tails = {name: stream.flush() for (k, name), stream in self._fields.items()
                     if k is kind and stream.pending}
            if tails:
                blank = {name: "" for name in _text_fields(last)}
                out.append(self._scrub(_replace(last, {**blank, **tails})))
        self._last.clear()
        return out

    def _stream(self, kind: type, name: str) -> StreamScrubber:
        stream = self._fields.get((kind, name))
        if stream is None:
            stream = self._fields[kind, name] = StreamScrubber(*self._redactors)
        return stream

    def _scrub(self, item: Any) -> Any:
        for redactor in self._redactors:
            item = redactor.redact_obj(item)
        return item


def scrubbing_writer(write: Callable[[Any], Any],
                     scrubber: FieldStreamScrubber) -> Callable[[Any], None]:
    """A writer passing each chunk through ``scrubber`` to ``write`` (call ``finish`` after)."""
    def scrubbed(chunk: Any) -> None:
        for piece in scrubber.push(chunk):
            write(piece)

    return scrubbed


def _field(item: Any, name: str) -> Any:
    """``item[name]`` for a mapping, else ``getattr(item, name)``."""
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def _text_fields(item: Any) -> list[str]:
    """The names of ``item``'s top-level ``str`` fields (none for other kinds of item)."""
    if isinstance(item, Mapping):
        return [k for k, v in item.items() if isinstance(k, str) and isinstance(v, str)]
    fields: Mapping[str, Any] | None = getattr(type(item), "model_fields", None)
    if fields is not None and hasattr(item, "model_copy"):
        return [k for k in fields if isinstance(getattr(item, k, None), str)]
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return [f.name for f in dataclasses.fields(item)
                if isinstance(getattr(item, f.name, None), str)]
    return []


def _replace(item: Any, values: dict[str, str]) -> Any:
    """A copy of ``item`` with ``values`` for those fields."""
    if isinstance(item, Mapping):
        try:
            made = copy.copy(item)
            made.update(values)  # type: ignore[attr-defined]
            return made
        except (AttributeError, TypeError):
            return {**item, **values}
    if hasattr(item, "model_copy"):
        return item.model_copy(update=values)
    return dataclasses.replace(item, **values)
