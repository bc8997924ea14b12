"""Multi-pattern matchers for redaction: each turns {pattern: marker} into a substituter.

All three replace leftmost-longest matches in one pass and give the same
results; they differ in speed (``benchmarks/redaction.py``): ``ahocorasick-rs``
and ``pyahocorasick`` are optional accelerators, the trie-shaped regex is the
pure-Python fallback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["MATCHERS", "Spans", "Sub", "available_matcher", "probe_of", "spans_of"]

_SURROGATE = re.compile("[\ud800-\udfff]")

Sub = Callable[[str], str]
"""Replace every match in a text; return the same object when nothing matched."""

Probe = Callable[[str], object]
"""Truthy when a text may hold a match (it may raise ``UnicodeEncodeError``: ask the Sub)."""


Spans = Callable[[str], list[tuple[int, int]]]
"""The (start, end) of every match a Sub would replace, left to right."""


def spans_of(sub: Sub) -> Spans:
    """Where ``sub`` would replace: the builders attach it (stream scrubbing reads it)."""
    spans: Spans = sub.spans  # type: ignore[attr-defined]
    return spans


def probe_of(sub: Sub) -> Probe | None:
    """The cheap "any match?" test a builder attached to ``sub``, if any."""
    probe: Probe | None = getattr(sub, "probe", None)
    return probe


def _join(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    pos = 0
    for start, end, marker in spans:
        parts.append(text[pos:start])
        parts.append(marker)
        pos = end
    if not parts:
        return text  # unchanged: hand back the same object
    parts.append(text[pos:])
    return "".join(parts)


def _build_ahocorasick_rs(table: dict[str, str]) -> Sub:
    import ahocorasick_rs

    patterns = list(table)
    markers = [table[p] for p in patterns]
    automaton = ahocorasick_rs.AhoCorasick(
        patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest
    )
    find = automaton.find_matches_as_indexes

    def sub(text: str) -> str:
        try:
            found = find(text)
        except UnicodeEncodeError:  # lone surrogates (from surrogateescape) are not UTF-8
            found = find(_SURROGATE.sub("\ufffd", text))  # same length, same indexes
        if not found:
            return text
        return _join(text, ((s, e, markers[i]) for i, s, e in found))

    def spans(text: str) -> list[tuple[int, int]]:
        try:
            found = find(text)
        except UnicodeEncodeError:
            found = find(_SURROGATE.sub("\ufffd", text))
        return [(s, e) for _, s, e in found]

    sub.probe = find  # type: ignore[attr-defined]
    sub.spans = spans  # type: ignore[attr-defined]
    return sub


def _build_pyahocorasick(table: dict[str, str]) -> Sub:
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for pattern, marker in table.items():
        automaton.add_word(pattern, (len(pattern), marker))
    automaton.make_automaton()
    iter_long = automaton.iter_long

    def sub(text: str) -> str:
        return _join(text, ((e - n + 1, e + 1, m) for e, (n, m) in iter_long(text)))

    sub.probe = lambda text: next(iter_long(text), None) is not None  # type: ignore[attr-defined]
    sub.spans = lambda text: [(e - n + 1, e + 1) for e, (n, _) in iter_long(text)]  # type: ignore[attr-defined]
    return sub


def _trie_regex(patterns: Iterable[str]) -> str:
    """One regex shaped like a trie; greedy optional tails make it prefer the longest."""
    trie: dict[str, Any] = {}
    for pattern in patterns:
        node = trie
        for char in pattern:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        # Runs of single-child nodes become one literal, so recursion only
        # deepens at branch points (a 3 KB PEM line is one run, not 3,000 frames).
        run: list[str] = []
        while len(node) == 1 and "" not in node:
            ((char, node),) = node.items()
            run.append(char)
        literal = re.escape("".join(run))
        branches = [re.escape(c) + render(child) for c, child in node.items() if c]
        if not branches:
            return literal
        body = "(?:" + "|".join(branches) + ")"
        return literal + (body + "?" if "" in node else body)

    return render(trie)


def _build_regex(table: dict[str, str]) -> Sub:
    regex = re.compile(_trie_regex(sorted(table)))
    finditer = regex.finditer

    def sub(text: str) -> str:
        return _join(text, ((m.start(), m.end(), table[m.group()]) for m in finditer(text)))

    sub.probe = regex.search  # type: ignore[attr-defined]
    sub.spans = lambda text: [m.span() for m in finditer(text)]  # type: ignore[attr-defined]
    return sub


MATCHERS: dict[str, Callable[[dict[str, str]], Sub]] = {
    "ahocorasick-rs": _build_ahocorasick_rs,
    "pyahocorasick": _build_pyahocorasick,
    "regex": _build_regex,
}
"""Matcher builders, fastest first (see ``benchmarks/redaction.py``)."""


def available_matcher() -> str:
    """The fastest matcher installed."""
    for name, module in (("ahocorasick-rs", "ahocorasick_rs"), ("pyahocorasick", "ahocorasick")):
        try:
            __import__(module)
        except ImportError:
            continue
        return name
    return "regex"
