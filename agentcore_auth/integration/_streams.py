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
    form a stream of their own, keyed by the item's type and the field name.
    An item whose field ends with what could start a registered value is held
    (one item at most) until the next one decides: a field that changes is a
    stream, its tail moves to the next item's field; a field that stays the same
    (a label such as a tool name) is released whole. Everything else is scrubbed
    whole (:meth:`Redactor.redact_obj`). Items keep their order and shape; call
    :meth:`finish` at the end. Not thread-safe: one per stream (a tool call, a run).

    Args:
        redactor: the registry; default :func:`agentcore_auth.default_redactor`.
        extra: further registries to scrub with.
    """

    __slots__ = ("_redactors", "_text", "_fields", "_held")

    def __init__(self, redactor: Redactor | None = None, *extra: Redactor) -> None:
        first = redactor or default_redactor()
        self._redactors = (first, *(r for r in extra if r is not first))
        self._text = StreamScrubber(*self._redactors)
        self._fields: dict[tuple[type, str], StreamScrubber] = {}
        self._held: Any = _NOTHING  # an item waiting for the next one of its shape

    @property
    def pending(self) -> bool:
        """Whether some text (or an item) is held back."""
        return self._text.pending or self._held is not _NOTHING or any(
            s.pending for s in self._fields.values())

    def push(self, item: Any) -> list[Any]:
        """The items to pass on for ``item``, in order (held ones first)."""
        if isinstance(item, str | bytes | bytearray):
            out = self._release_held(None)
            out.extend(self._text.push(item))
            return out
        out = self._text.finish()
        out.extend(self._release_held(item))
        names = _text_fields(item)
        if names and any(self._would_hold(type(item), n, _field(item, n)) for n in names):
            self._held = item
            return out
        out.append(self._release(item, None) if names else self._scrub(item))
        return out

    def finish(self) -> list[Any]:
        """The held text and item to pass on (``[]`` when none): call it at the end."""
        out = self._text.finish()
        out.extend(self._release_held(None))
        for stream in self._fields.values():
            stream.flush()
        return out

    def _release_held(self, following: Any) -> list[Any]:
        held, self._held = self._held, _NOTHING
        if held is _NOTHING:
            return []
        if following is not None and type(following) is not type(held):
            following = None
        return [self._release(held, following)]

    def _release(self, item: Any, following: Any) -> Any:
        """``item`` with its text fields fed; a field ``following`` does not change is flushed."""
        kind, released = type(item), {}
        for name in _text_fields(item):
            value = _field(item, name)
            stream = self._stream(kind, name)
            text = stream.feed(value)
            if following is None or _field(following, name, None) == value:
                text += stream.flush()
            released[name] = text
        return self._scrub(_replace(item, released))

    def _would_hold(self, kind: type, name: str, value: str) -> bool:
        trial = copy.copy(self._stream(kind, name))
        trial.feed(value)
        return trial.pending

    def _stream(self, kind: type, name: str) -> StreamScrubber:
        stream = self._fields.get((kind, name))
        if stream is None:
            stream = self._fields[kind, name] = StreamScrubber(*self._redactors)
        return stream

    def _scrub(self, item: Any) -> Any:
        for redactor in self._redactors:
            item = redactor.redact_obj(item)
        return item


_NOTHING: Any = object()


def scrubbing_writer(write: Callable[[Any], Any],
                     scrubber: FieldStreamScrubber) -> Callable[[Any], None]:
    """A writer passing each chunk through ``scrubber`` to ``write`` (call ``finish`` after)."""
    def scrubbed(chunk: Any) -> None:
        for piece in scrubber.push(chunk):
            write(piece)

    return scrubbed


def _field(item: Any, name: str, *default: Any) -> Any:
    """``item[name]`` for a mapping, else ``getattr(item, name)``."""
    if isinstance(item, Mapping):
        return item.get(name, *default) if default else item[name]
    return getattr(item, name, *default)


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
