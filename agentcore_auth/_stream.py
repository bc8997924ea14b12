"""Scrubbing a stream whose chunks may split a value: :class:`StreamScrubber`.

Scrubbing each chunk on its own misses a value cut in two (``"...sk-li"``,
``"ve-0123..."``). The scrubber holds back the shortest tail of the text so far
that could still be the start of a registered value in any encoding the
redactor knows, and releases it with the next chunk (or at the end). What it
releases is redacted exactly as the whole text would be: the joined output is
``redactor.redact(joined input)``, nothing lost, nothing reordered.

How the tail is found: every pattern of every registered value goes, sorted,
into a :class:`_Prefixes` index (built lazily, once per change of the
registry); the candidate starts in the last ``longest - 1`` characters are
those whose first two characters begin some pattern (one C-level regex scan),
and each is checked with a bisection. A match that starts before the tail and
ends inside it moves the cut past its end, so no match is ever cut.

The decorators' generator wrappers and the adapters that forward streams use
it; :meth:`StreamScrubber.push` also takes non-text items (scrubbed whole, after
releasing any held text first) so a wrapper can hand it whatever a tool yields.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from ._match import spans_of
from ._redact import Redactor, default_redactor

__all__ = ["StreamScrubber", "truncated_tail"]


class _Prefixes:
    """The registry's patterns, indexed to find a tail that begins one of them."""

    __slots__ = ("version", "patterns", "starts", "firsts", "longest")

    def __init__(self, version: int, patterns: Sequence[str]) -> None:
        self.version = version
        self.patterns = sorted(set(patterns))
        self.longest = max(map(len, self.patterns), default=0)
        self.firsts = frozenset(p[0] for p in self.patterns)
        bigrams = sorted({p[:2] for p in self.patterns})
        # Lookahead, so overlapping candidates are all found in one scan.
        self.starts = re.compile(
            "(?=(?:" + "|".join(map(re.escape, bigrams)) + "))") if bigrams else None

    def uncertain(self, text: str, start: int = 0) -> int:
        """The earliest index ``i >= start`` where ``text[i:]`` is a proper prefix of a pattern.

        ``len(text)`` when there is none: all of ``text`` can be released.
        """
        n = len(text)
        if self.starts is None or n == 0:
            return n
        lo = max(start, n - self.longest + 1)
        patterns = self.patterns
        for match in self.starts.finditer(text, lo, n):
            i = match.start()
            if self._begins(text[i:], patterns):
                return i
        if n - 1 >= lo and text[-1] in self.firsts and self._begins(text[-1], patterns):
            return n - 1
        return n

    @staticmethod
    def _begins(tail: str, patterns: list[str]) -> bool:
        k = bisect_left(patterns, tail)
        if k < len(patterns) and patterns[k] == tail:
            k += 1  # a whole pattern: only a longer one can still grow out of it
        return k < len(patterns) and patterns[k].startswith(tail)


def _prefixes(redactor: Redactor) -> _Prefixes:
    """The index of ``redactor``'s patterns now (rebuilt after a registration)."""
    cached: _Prefixes | None = redactor._prefix_cache
    version = redactor._version
    if cached is not None and cached.version == version:
        return cached
    with redactor._lock:
        version = redactor._version
        patterns = [p for _, forms, _ in redactor._values.values() for p in forms]
    index = _Prefixes(version, patterns)
    redactor._prefix_cache = index
    return index


def _cut(redactor: Redactor, text: str, cut: int) -> int:
    """``cut`` moved past the end of any match that starts before it and ends after it."""
    subs = redactor._current().subs
    moved = True
    while moved:
        moved = False
        for sub in subs:
            for start, end in spans_of(sub)(text):
                if start < cut < end:
                    cut, moved = end, True
                elif start >= cut:
                    break
    return cut


def truncated_tail(text: str, redactor: Redactor, min_chars: int) -> str:
    """``text`` with a tail of at least ``min_chars`` that begins a registered form redacted.

    For a string something cut short (an attribute the OpenTelemetry SDK truncated):
    the cut-off value would otherwise leave its first characters behind.
    """
    index = _prefixes(redactor)
    at = index.uncertain(text)
    if len(text) - at < min_chars:
        return text
    return text[:at] + "[REDACTED]"


class StreamScrubber:
    """Redacts a stream chunk by chunk, so no value survives being split across chunks.

    Feed it the chunks in order; each call returns what can be released now,
    redacted. It holds back the shortest tail that could still be the start of
    a registered value in one of its encodings (raw, JSON, URL, base64, hex...)
    until the next chunk or :meth:`flush` decides it. The releases joined are the
    whole text redacted: nothing is lost or reordered. Not thread-safe: one per stream.

    Args:
        redactor: the registry; default :func:`agentcore_auth.default_redactor`.
        extra: further registries to scrub with (a resolver's own ``redactor=``).

    Example:
        >>> r = Redactor()
        >>> r.register("sk-live-0123456789", name="weather")
        True
        >>> s = StreamScrubber(r)
        >>> s.feed("key: sk-live-01") + s.feed("23456789 ok") + s.flush()
        'key: [REDACTED:weather] ok'
    """

    __slots__ = ("_redactors", "_held", "_bytes")

    def __init__(self, redactor: Redactor | None = None, *extra: Redactor) -> None:
        first = redactor or default_redactor()
        self._redactors = (first, *(r for r in extra if r is not first))
        self._held = ""  # text not released yet
        self._bytes = False  # whether the held text came from bytes chunks

    @property
    def pending(self) -> bool:
        """Whether some text is held back."""
        return bool(self._held)

    def feed(self, chunk: str) -> str:
        """Release what ``chunk`` (after the held text) lets go, redacted."""
        text = self._held + chunk if self._held else chunk
        cut = len(text)
        for redactor in self._redactors:
            cut = min(cut, _prefixes(redactor).uncertain(text))
        if cut < len(text):
            for redactor in self._redactors:
                cut = _cut(redactor, text, cut)
        self._held = text[cut:]
        return self._redact(text[:cut] if cut < len(text) else text)

    def flush(self) -> str:
        """Release the held tail, redacted (the stream ended)."""
        text, self._held = self._held, ""
        return self._redact(text)

    def _redact(self, text: str) -> str:
        for redactor in self._redactors:
            text = redactor.redact(text)
        return text

    def push(self, item: Any) -> list[Any]:
        """The items to pass on for ``item``: zero, one or (releasing held text) two.

        ``str`` and ``bytes`` chunks go through :meth:`feed` (bytes as UTF-8, with
        invalid bytes kept); an empty release is not passed on. Anything else
        releases the held text first, then comes out scrubbed with
        :meth:`Redactor.redact_obj`.
        """
        if isinstance(item, str):
            out = self._switch(False)
            released = self.feed(item)
            if released:
                out.append(released)
            return out
        if isinstance(item, bytes | bytearray):
            out = self._switch(True)
            released = self.feed(bytes(item).decode("utf-8", "surrogateescape"))
            if released:
                out.append(type(item)(released.encode("utf-8", "surrogateescape")))
            return out
        out = self.finish()
        for redactor in self._redactors:
            item = redactor.redact_obj(item)
        out.append(item)
        return out

    def finish(self) -> list[Any]:
        """The held text as an item to pass on (``[]`` when none): call it at the end."""
        if not self._held:
            return []
        text = self.flush()
        return [text.encode("utf-8", "surrogateescape") if self._bytes else text]

    def _switch(self, as_bytes: bool) -> list[Any]:
        """Release held text of the other kind before a chunk of this kind."""
        out = self.finish() if self._bytes is not as_bytes else []
        self._bytes = as_bytes
        return out
