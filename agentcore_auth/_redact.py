"""Redaction of live secret values, by value and (in containers) by key name.

A :class:`Redactor` holds every credential value the resolver has fetched,
with the encodings it commonly turns up in (base64 and base32 at any byte
offset, hex, URL once or twice, JSON including ``\\uXXXX`` escapes, HTML,
reprs, ``Bearer``/``Basic`` headers; base64 wrapped at 76 characters is
matched unwrapped), and replaces them with ``[REDACTED:<name>]``. Values a
live cache entry holds are pinned: churn never evicts them.

Matching is one leftmost-longest multi-pattern pass, so an encoding that
contains another (``Bearer <v>``, padded base64) is replaced whole. The
matcher is picked by ``benchmarks/redaction.py`` (1 MB of DEBUG-style logs,
1,000 values: ``ahocorasick_rs`` ~220 MB/s, ``pyahocorasick`` ~150 MB/s, the
pure-Python trie-shaped regex ~130 MB/s but ~20x slower to build), fastest
installed first; the optional packages change speed, never results.

Threads: ``register`` only updates a dict under a lock and bumps a version.
The next ``redact`` that sees a stale version builds the matcher under the
lock and swaps it in with one assignment; otherwise ``redact`` takes no lock.
A few new values get a small "delta" matcher beside the old base instead of a
full rebuild; the two are merged once the extra pass has cost about as much
as a rebuild (ski rental), so a rotation never stalls logging for long.
Most text holds no value: ``redact`` first asks the matcher's native "any
match?" probe, and remembers short texts found clean until the next change.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from ._encodings import MIN_SECRET_LENGTH, secret_patterns
from ._match import MATCHERS, Sub, available_matcher, probe_of
from ._objwalk import ATOMS as _ATOMS
from ._objwalk import empty_like, rebuild, walk_object
from ._secret import Secret

__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "MIN_SECRET_LENGTH",
    "Redactor",
    "default_redactor",
    "redact",
    "redact_obj",
]


DEFAULT_SENSITIVE_KEYS = frozenset(
    {
        "authorization", "proxy_authorization", "x_api_key", "api_key", "apikey",
        "x_auth_token", "token", "access_token", "refresh_token", "id_token",
        "session_token", "x_amz_security_token", "client_secret", "client_assertion",
        "password", "passwd", "secret", "private_key", "aws_secret_access_key",
        "cookie", "set_cookie",
    }
)  # fmt: skip
"""Key names (lower case, ``-`` folded to ``_``) whose string values are blanked."""

KEY_MARKER = "[REDACTED]"

# Base64 wrapped at 76 characters (MIME, ``base64.encodebytes``): full lines, then a last one.
_WRAPPED_B64 = re.compile(r"(?:[A-Za-z0-9+/]{76}\r?\n)+[A-Za-z0-9+/]*={0,2}")
_LINE_BREAK = re.compile(r"\r?\n")
_CLEAN_MAX_CHARS = 512  # texts remembered as clean (per matcher state) ...
_CLEAN_MAX_ENTRIES = 1024  # ... and how many: at most 512 kB of log messages
_MAX_PASSES = 4  # bound on re-scans when a marker could complete a pattern


class _State:
    """What ``redact`` needs, swapped in whole: matchers over a base and a delta."""

    __slots__ = ("version", "seq", "subs", "rescan", "budget", "probe", "clean", "shortest",
                 "formatted")

    def __init__(
        self, version: int, seq: int, subs: tuple[Sub, ...], rescan: bool, shortest: int = 0
    ) -> None:
        self.version = version
        self.seq = seq  # registrations up to this sequence number are in subs[-1]
        self.subs = subs  # delta first (newest names win), then base
        self.rescan = rescan
        self.budget = 0  # characters the delta may still cost before a merge
        # One matcher: redact() asks its probe first; most log text holds no value.
        self.probe = probe_of(subs[0]) if len(subs) == 1 else None
        # Short texts this very matcher found clean: log messages repeat. Valid
        # only for this state; any registration or removal makes a new one.
        self.clean: set[str] = set()
        # The shortest pattern: a shorter text cannot hold one, so it needs no scan.
        self.shortest = shortest
        # For the log hook (``_logging``): template -> the first text formatted from it
        # that this matcher found clean. Arguments vary, so a set of texts would miss;
        # comparing with that one text costs no hashing. Same lifetime as ``clean``.
        self.formatted: dict[str, str] = {}


_EMPTY = _State(0, 0, (), False)
# Ski rental: merge the delta into the base once its extra pass has cost about
# as much as a rebuild would (characters scanned per pattern character built).
_MERGE_FACTOR = {"ahocorasick-rs": 32, "pyahocorasick": 32, "regex": 512}


class Redactor:
    """A thread-safe registry of live secret values that scrubs them from text.

    A value :meth:`pin`-ned by a live cache entry is never forgotten. Other
    values (rotated out, evicted, tokens seen in requests) stay registered,
    because old values still turn up in late logs, until ``max_values`` newer
    unpinned ones push them out (least recently registered or unpinned first).
    So at most ``max_values`` plus one value per live cache entry are held: the
    bound follows the resolvers' ``max_entries``. Values shorter than
    ``min_length`` (8 by default) are refused with a :class:`UserWarning`.
    Subclass and override :meth:`redact_obj` to walk more container types.

    Args:
        max_values: how many unpinned values to keep; the oldest is forgotten beyond that.
        min_length: shortest value, and shortest encoding fragment, to look for.
        sensitive_keys: key names whose string values :meth:`redact_obj` blanks
            (compared lower-cased, ``-`` as ``_``); ``()`` turns that layer off.
        matcher: ``"ahocorasick-rs"``, ``"pyahocorasick"`` or ``"regex"``;
            default: the fastest one installed.

    Example:
        >>> r = Redactor()
        >>> r.register("sk-live-0123456789", name="weather")
        True
        >>> r.redact("Authorization: Bearer sk-live-0123456789")
        'Authorization: [REDACTED:weather]'
    """

    def __init__(
        self,
        *,
        max_values: int = 10_000,
        min_length: int = MIN_SECRET_LENGTH,
        sensitive_keys: Iterable[str] = DEFAULT_SENSITIVE_KEYS,
        matcher: str | None = None,
    ) -> None:
        if matcher is not None and matcher not in MATCHERS:
            from ._exceptions import ConfigurationError

            raise ConfigurationError(f"matcher must be one of {sorted(MATCHERS)}, not {matcher!r}")
        self.max_values = max_values
        self.min_length = min_length
        self.sensitive_keys = frozenset(k.lower().replace("-", "_") for k in sensitive_keys)
        self.matcher = matcher or available_matcher()
        # value -> (name, patterns, sequence number of its last change); oldest first
        self._values: OrderedDict[str, tuple[str, frozenset[str], int]] = OrderedDict()
        self._pins: dict[str, int] = {}  # value -> live cache entries holding it
        self._lock = threading.Lock()
        self._version = 0  # bumped on every change
        self._seq = 0
        self._full_version = 0  # removals since this version need a full rebuild
        self._state = _EMPTY
        self._prefix_cache: Any = None  # _stream's index of pattern prefixes, per version

    def __repr__(self) -> str:
        return f"<Redactor values={len(self._values)} matcher={self.matcher!r}>"

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` (a str or :class:`Secret`) is registered now."""
        raw = value.reveal() if isinstance(value, Secret) else value
        return raw in self._values

    def register(self, value: str | Secret, *, name: str | None = None) -> bool:
        """Start redacting ``value`` (and its encodings) as ``[REDACTED:<name>]``.

        Cheap: registering a known value only refreshes its place, and the
        matcher is rebuilt lazily by the next :meth:`redact`.

        Args:
            value: the secret, plain or as a :class:`Secret`.
            name: what to call it in the marker; defaults to ``value.name``.

        Returns:
            ``False`` (with a warning) if the value is too short to redact safely.
        """
        if isinstance(value, Secret):
            name = name or value.name
            value = value.reveal()
        name = name or "secret"
        if len(value.strip()) < self.min_length:
            warnings.warn(
                f"not redacting the {name!r} credential: values shorter than "
                f"{self.min_length} characters would blank ordinary text",
                UserWarning,
                stacklevel=2,
            )
            return False
        with self._lock:
            known = self._values.get(value)
            if known is not None and known[0] == name:
                self._values.move_to_end(value)  # the matcher is still right
                return True
            patterns = known[1] if known else secret_patterns(value, self.min_length)
            self._seq += 1
            self._values[value] = (name, patterns, self._seq)
            self._values.move_to_end(value)
            self._evict()
            self._version += 1
        return True

    def _evict(self) -> None:
        """Forget the oldest unpinned values beyond ``max_values`` (lock held).

        Evicted values stay in the base matcher until its next rebuild:
        redacting them a little longer is harmless.
        """
        values, pins = self._values, self._pins
        while len(values) - len(pins) > self.max_values:
            oldest = next(iter(values))
            if oldest in pins:
                values.move_to_end(oldest)  # live: skipped, and not looked at again soon
            else:
                del values[oldest]

    def pin(self, value: str | Secret, *, name: str | None = None) -> None:
        """Keep ``value`` registered while a live cache entry holds it (counted).

        Registers it again if churn evicted it in between. Each :meth:`pin` is
        undone by one :meth:`unpin`; values too short to register are ignored.
        """
        raw = value.reveal() if isinstance(value, Secret) else value
        if len(raw.strip()) < self.min_length:
            return
        with self._lock:
            if raw in self._values:
                self._pins[raw] = self._pins.get(raw, 0) + 1
                return
        name = name or (value.name if isinstance(value, Secret) else None) or "secret"
        patterns = secret_patterns(raw, self.min_length)  # outside the lock: the slow part
        with self._lock:
            if raw not in self._values:
                self._seq += 1
                self._values[raw] = (name, patterns, self._seq)
                self._version += 1
            self._pins[raw] = self._pins.get(raw, 0) + 1
            self._evict()

    def unpin(self, value: str | Secret) -> None:
        """Undo one :meth:`pin`; the last one lets the value age out like any other."""
        raw = value.reveal() if isinstance(value, Secret) else value
        with self._lock:
            count = self._pins.get(raw)
            if count is None:
                return
            if count > 1:
                self._pins[raw] = count - 1
                return
            del self._pins[raw]
            if raw in self._values:
                self._values.move_to_end(raw)  # ages out from now on
            self._evict()

    def pinned(self) -> int:
        """How many distinct values live cache entries hold."""
        return len(self._pins)

    def unregister(self, value: str | Secret) -> bool:
        """Stop redacting ``value``; returns whether it was registered."""
        raw = value.reveal() if isinstance(value, Secret) else value
        with self._lock:
            self._pins.pop(raw, None)
            if self._values.pop(raw, None) is None:
                return False
            self._version += 1
            self._full_version = self._version
        return True

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
            self._pins.clear()
            self._version += 1
            self._full_version = self._version

    def _current(self) -> _State:
        state = self._state
        if state.version == self._version:
            return state
        with self._lock:  # only after a change: rebuild once, swap atomically
            if self._state.version != self._version:
                self._state = self._build(self._state)
            return self._state

    def _build(self, old: _State, full: bool = False) -> _State:
        base_ok = not full and old.subs and old.version >= self._full_version
        fresh = [v for v in reversed(self._values.values()) if v[2] > old.seq] if base_ok else []
        if base_ok and len(fresh) <= max(64, len(self._values) // 8):
            # Few additions: a small delta matcher beside the old base, not a rebuild.
            table = self._table(reversed(fresh))
            base = old.subs[-1]
            shortest = min(old.shortest, *map(len, table)) if table else old.shortest
            subs = (MATCHERS[self.matcher](table), base)
            state = _State(self._version, old.seq, subs, True, shortest)
            state.budget = _MERGE_FACTOR[self.matcher] * sum(map(len, table))
            return state
        table = self._table(self._values.values())
        if not table:
            return _State(self._version, self._seq, (), False)
        sub = MATCHERS[self.matcher](table)
        markers = "\n".join(set(table.values()))
        # A pattern with brackets, or inside a marker, could be completed by a
        # marker next to it; only then does redact() re-scan its own output.
        rescan = any("[" in p or "]" in p for p in table) or sub(markers) is not markers
        return _State(self._version, self._seq, (sub,), rescan, min(map(len, table)))

    @staticmethod
    def _table(entries: Iterable[tuple[str, frozenset[str], int]]) -> dict[str, str]:
        table: dict[str, str] = {}
        for name, patterns, _ in entries:  # oldest first, so the newest name wins
            table.update(dict.fromkeys(patterns, f"[REDACTED:{name}]"))
        return table

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered value replaced by its marker.

        Text that holds none of them is returned as the same object.
        """
        if len(text) < self.min_length:
            return text
        state = self._state
        if state.version == self._version and state.probe is not None:
            if len(text) < state.shortest:
                return text  # shorter than every pattern: nothing to look for
            # The fast path every log record takes: one native scan, no match, done.
            clean = state.clean
            if text in clean:
                return text
            try:
                if not state.probe(text) and (len(text) <= 76 or "\n" not in text):
                    if len(text) <= _CLEAN_MAX_CHARS:
                        if len(clean) >= _CLEAN_MAX_ENTRIES:
                            clean.clear()
                        clean.add(text)
                    return text
            except UnicodeEncodeError:  # lone surrogates: the full path copes
                pass
        return self._substitute(text)

    def _substitute(self, text: str) -> str:
        """:meth:`redact` without its fast path (a caller whose probe found a match)."""
        state = self._current()
        if len(state.subs) > 1:
            state.budget -= len(text)  # racy on purpose: a late merge is harmless
            if state.budget < 0:
                with self._lock:
                    if self._state is state:
                        self._state = state = self._build(state, full=True)
        for _ in range(_MAX_PASSES if state.rescan else 1):
            result = text
            for sub in state.subs:
                result = sub(result)
            if result is text:
                break
            text = result
        if len(text) > 76 and "\n" in text and state.subs:
            return self._redact_wrapped(text)
        return text

    def _redact_wrapped(self, text: str) -> str:
        """Redact base64 wrapped at 76 characters by matching each run unwrapped."""
        parts: list[str] = []
        pos = 0
        for match in _WRAPPED_B64.finditer(text):
            run = match.group()
            joined = _LINE_BREAK.sub("", run)
            redacted = self.redact(joined)
            if redacted is not joined:
                parts += (text[pos:match.start()], redacted)
                pos = match.end()
        if not parts:
            return text
        parts.append(text[pos:])
        return "".join(parts)

    def redact_bytes(self, data: bytes) -> bytes:
        """Like :meth:`redact` for bytes; invalid UTF-8 survives the round trip."""
        if len(data) < self.min_length or not self._current().subs:
            return data
        text = data.decode("utf-8", "surrogateescape")
        result = self.redact(text)
        return data if result is text else result.encode("utf-8", "surrogateescape")

    def redact_obj(self, obj: Any) -> Any:
        """Return a scrubbed copy of ``obj``, of the same type.

        Walks mappings (keys and values), sequences, sets, pydantic models and
        dataclasses (their fields; the copy is made without re-validating, so a
        frozen model or a ``__post_init__`` is no obstacle); redacts ``str``,
        ``bytes`` and ``bytearray``. String values under a sensitive key are
        replaced by ``[REDACTED]``. Builtin containers, models and dataclasses are
        always copied; other containers only when something in them changed.
        Anything else is returned unchanged (not copied). Reference cycles are
        kept as cycles.
        """
        return self._walk(obj, {})

    def _walk(self, obj: Any, memo: dict[int, Any]) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if type(obj) in _ATOMS:
            return obj
        if isinstance(obj, bytes | bytearray):
            return type(obj)(self.redact_bytes(bytes(obj)))
        if id(obj) in memo:
            return memo[id(obj)]
        if isinstance(obj, dict):
            out: dict[Any, Any] = {} if type(obj) is dict else empty_like(obj)
            memo[id(obj)] = out
            for key, item in obj.items():
                if isinstance(key, str) and self._is_sensitive(key):
                    if isinstance(item, str):
                        item = KEY_MARKER
                    elif isinstance(item, bytes):
                        item = KEY_MARKER.encode()
                out[self._walk(key, memo)] = self._walk(item, memo)
            return out
        if isinstance(obj, list):
            items: list[Any] = [] if type(obj) is list else empty_like(obj)
            memo[id(obj)] = items
            items.extend(self._walk(item, memo) for item in obj)
            return items
        if isinstance(obj, tuple):
            scrubbed = [self._walk(item, memo) for item in obj]
            return type(obj)(*scrubbed) if hasattr(obj, "_fields") else rebuild(obj, scrubbed)
        if isinstance(obj, set | frozenset):
            return rebuild(obj, [self._walk(item, memo) for item in obj])
        return walk_object(obj, memo, self._walk)

    def _is_sensitive(self, key: str) -> bool:
        return bool(self.sensitive_keys) and key.lower().replace("-", "_") in self.sensitive_keys


_default = Redactor()


def default_redactor() -> Redactor:
    """The process-wide :class:`Redactor` the resolver registers every value in."""
    return _default


def redact(text: str) -> str:
    """Redact ``text`` with :func:`default_redactor`."""
    return _default.redact(text)


def redact_obj(obj: Any) -> Any:
    """Redact a copy of ``obj`` with :func:`default_redactor` (see :meth:`Redactor.redact_obj`)."""
    return _default.redact_obj(obj)
