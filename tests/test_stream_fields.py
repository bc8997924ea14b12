"""FieldStreamScrubber: dicts, models and dataclasses streamed field by field."""

from __future__ import annotations

import dataclasses
from typing import Any

import pydantic
import pytest

from agentcore_auth import Redactor
from agentcore_auth._redact import secret_patterns
from agentcore_auth.integration import FieldStreamScrubber, scrubbing_writer

KEY = "sk-fields-0123456789abcdef0123456789"
TEXT = f'{{"ok": true, "echo": "{KEY}", "again": "{KEY}"}} tail'


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.register(KEY, name="weather")
    return r


class Delta(pydantic.BaseModel):
    delta: str
    tool: str
    n: int


@dataclasses.dataclass
class Piece:
    delta: str
    tool: str


def pieces(size: int) -> list[str]:
    return [TEXT[i:i + size] for i in range(0, len(TEXT), size)]


MAKERS: dict[str, Any] = {
    "dict": lambda text: {"delta": text, "tool": "sk", "n": 1},
    "model": lambda text: Delta(delta=text, tool="sk", n=1),
    "dataclass": lambda text: Piece(delta=text, tool="sk"),
}


def field(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, dict) else getattr(item, name)


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("size", [1, 3, 16, 17, 1000])
def test_split_values_are_caught_labels_kept(redactor: Redactor, kind: str, size: int) -> None:
    make = MAKERS[kind]
    scrubber, out = FieldStreamScrubber(redactor), []
    for text in pieces(size):
        out += scrubber.push(make(text))
    out += scrubber.finish()
    assert not scrubber.pending
    assert all(type(item) is type(make("")) for item in out)
    joined = "".join(field(item, "delta") for item in out)
    assert joined == redactor.redact(TEXT)  # nothing lost or reordered
    assert not [p for p in secret_patterns(KEY) if p in repr(out)]
    # "sk" begins the key, yet as a field that never changes it comes out whole.
    assert {field(item, "tool") for item in out} == {"sk"}
    # The control: each item scrubbed on its own lets a split key through.
    if size < len(KEY):
        alone = "".join(redactor.redact(text) for text in pieces(size))
        assert KEY in alone


def test_text_items_and_order(redactor: Redactor) -> None:
    written: list[Any] = []
    scrubber = FieldStreamScrubber(redactor)
    write = scrubbing_writer(written.append, scrubber)
    write("key " + KEY[:10])
    write({"delta": KEY[10:] + " end"})
    write(KEY[:5])
    write(42)
    for item in scrubber.finish():
        written.append(item)
    # Bare text, a dict, text, a non-text item: released in the order written.
    kinds = [type(x).__name__ for x in written]
    assert kinds[-1] == "int" and kinds.index("dict") < len(kinds) - 1
    assert written[0].startswith("key ") and written[-2] == KEY[:5]
