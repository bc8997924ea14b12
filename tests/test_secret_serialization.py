"""Secret refuses every serialization and copy protocol, and no slot holds its plaintext."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from agentcore_auth import Secret

VALUE = "sk-live-serialization-canary-4d1f"

REFUSALS: list[tuple[str, Callable[[Secret], Any]]] = [
    ("getstate", lambda s: s.__getstate__()),
    ("reduce", lambda s: s.__reduce__()),
    *[(f"reduce_ex-{p}", lambda s, p=p: s.__reduce_ex__(p)) for p in range(6)],
    ("object-reduce_ex", lambda s: object.__reduce_ex__(s, 2)),
    ("copyreg-reduce_ex", lambda s: object.__reduce_ex__(s, 0)),
    *[(f"pickle-{p}", lambda s, p=p: pickle.dumps(s, protocol=p))
      for p in range(pickle.HIGHEST_PROTOCOL + 1)],
    ("copy", copy.copy),
    ("deepcopy", copy.deepcopy),
    ("deepcopy-nested", lambda s: copy.deepcopy({"k": [s]})),
    ("copy-dunder", lambda s: s.__copy__()),
    ("deepcopy-dunder", lambda s: s.__deepcopy__({})),
]


@pytest.mark.parametrize("call", [c for _, c in REFUSALS], ids=[n for n, _ in REFUSALS])
def test_every_protocol_refuses(call: Callable[[Secret], Any]) -> None:
    """Each protocol raises TypeError naming reveal(), never the value."""
    with pytest.raises(TypeError, match=r"Secret refuses to be .*reveal\(\)") as info:
        call(Secret(VALUE, name="weather"))
    assert VALUE not in str(info.value) + repr(info.value)


def test_no_attribute_holds_the_plaintext() -> None:
    """vars() does not exist, and no slot's value is (or contains) the plaintext."""
    secret = Secret(VALUE, name="weather")
    with pytest.raises(TypeError):
        vars(secret)
    assert not hasattr(secret, "__dict__")
    slots = [name for cls in type(secret).__mro__ for name in getattr(cls, "__slots__", ())]
    assert slots, "Secret should use __slots__"
    for name in slots:
        held = getattr(secret, name)
        assert held != VALUE and VALUE not in repr(held) and VALUE not in str(held), name
        assert not (isinstance(held, str) and VALUE in held), name
    for name in dir(secret):
        if name in ("reveal", "_reveal", "__class__"):
            continue
        held = getattr(secret, name)
        if not callable(held):
            assert VALUE not in str(held) and VALUE not in repr(held), name


def test_value_semantics_survive() -> None:
    """reveal, equality, hashing and the fingerprint still work."""
    a, b = Secret(VALUE, name="x"), Secret(VALUE)
    assert a.reveal() == VALUE and a == b and hash(a) == hash(b)
    assert a != Secret(VALUE + "-other") and {a, b} == {a}
    assert a.fingerprint == b.fingerprint and VALUE not in a.fingerprint
    with pytest.raises(AttributeError, match="immutable"):
        a._reveal = lambda: "other"  # type: ignore[method-assign]
