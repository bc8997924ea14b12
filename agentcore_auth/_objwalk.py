"""What :meth:`Redactor.redact_obj` does with objects beyond the builtin containers.

Pydantic models (an MCP ``CallToolResult``, a tool's own output model) and
dataclasses are copied field by field, without re-validating or re-running
``__init__``/``__post_init__``: the copy is of the same type, and a model stays
valid because a scrubbed string is still a string. Other mappings and sequences
(``MappingProxyType``, ``deque``, ``UserList``...) are rebuilt as their own type
only when something in them changed. Nothing here imports pydantic: models are
recognised by the attributes pydantic 2 gives them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["ATOMS", "empty_like", "rebuild", "walk_object"]

ATOMS = frozenset({type(None), bool, int, float, complex})
"""Types that never hold text: returned as they are, before any other check."""

Walk = Callable[[Any, dict[int, Any]], Any]

# Sequences whose items cannot hold text, or that are too big to walk for nothing.
_SKIP = (range, memoryview)


def empty_like(container: Any) -> Any:
    """An empty container of the same type (``defaultdict`` keeps its factory), or a builtin."""
    base: type = dict if isinstance(container, dict) else list
    try:
        new = copy.copy(container)
        new.clear()
    except Exception:  # a subclass that cannot be copied: the builtin holds the same data
        return base()
    return new


def rebuild(original: Any, items: list[Any]) -> Any:
    """``type(original)(items)``, or the builtin base type if that constructor refuses."""
    try:
        return type(original)(items)
    except Exception:
        for base in (tuple, frozenset, set, list):
            if isinstance(original, base):
                return base(items)
        return items


def walk_object(obj: Any, memo: dict[int, Any], walk: Walk) -> Any:
    """Scrub a model, dataclass, or other mapping or sequence; return anything else as is."""
    cls = type(obj)
    if getattr(cls, "__pydantic_fields__", None) is not None and hasattr(
            obj, "__pydantic_fields_set__"):
        return _model(obj, memo, walk)
    if hasattr(cls, "__dataclass_fields__") and not isinstance(obj, type):
        return _dataclass(obj, memo, walk)
    if isinstance(obj, Mapping):
        return _mapping(obj, memo, walk)
    if isinstance(obj, Sequence) and not isinstance(obj, _SKIP):
        items = list(obj)
        scrubbed = [walk(item, memo) for item in items]
        if all(a is b for a, b in zip(items, scrubbed, strict=True)):
            return obj
        return rebuild(obj, scrubbed)
    return obj


def _model(obj: Any, memo: dict[int, Any], walk: Walk) -> Any:
    """A pydantic 2 model: fields, extra fields and private attributes, no validation."""
    new = obj.__copy__()  # shallow: __dict__, extra, fields_set and private are copies
    memo[id(obj)] = new  # a cycle back to obj lands on the copy
    changed = _update(obj.__dict__, new.__dict__, memo, walk)
    for attr in ("__pydantic_extra__", "__pydantic_private__"):
        source, target = getattr(obj, attr, None), getattr(new, attr, None)
        if isinstance(source, dict) and isinstance(target, dict):
            changed = _update(source, target, memo, walk) or changed
    if not changed:
        memo[id(obj)] = obj
        return obj
    return new


def _dataclass(obj: Any, memo: dict[int, Any], walk: Walk) -> Any:
    """A dataclass (frozen and slotted ones too): copied, then fields set directly."""
    try:
        new = copy.copy(obj)
    except Exception:  # not copyable: nothing we can hand back instead
        return obj
    memo[id(obj)] = new
    changed = False
    for field in dataclasses.fields(obj):
        try:
            value = getattr(obj, field.name)
        except AttributeError:  # an unset slot
            continue
        scrubbed = walk(value, memo)
        if scrubbed is not value:
            object.__setattr__(new, field.name, scrubbed)
            changed = True
    if not changed:
        memo[id(obj)] = obj
        return obj
    return new


def _mapping(obj: Mapping[Any, Any], memo: dict[int, Any], walk: Walk) -> Any:
    items = list(obj.items())
    plain = dict(items)
    # The dict walk applies the sensitive-key layer. It memoises by id(), so the
    # temporary dict must outlive the walk (its id must not be reused): keep it.
    memo.setdefault(-1, []).append(plain)
    scrubbed = walk(plain, memo)
    pairs = list(scrubbed.items())
    if len(pairs) == len(items) and all(
            a is c and b is d for (a, b), (c, d) in zip(items, pairs, strict=True)):
        return obj
    try:
        return type(obj)(scrubbed)  # type: ignore[call-arg]
    except Exception:
        return scrubbed


def _update(source: dict[str, Any], target: dict[str, Any], memo: dict[int, Any],
            walk: Walk) -> bool:
    changed = False
    for key, value in source.items():
        scrubbed = walk(value, memo)
        if scrubbed is not value:
            target[key] = scrubbed
            changed = True
    return changed
