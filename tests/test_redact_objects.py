"""redact_obj beyond builtin containers: pydantic models, dataclasses, other mappings/sequences."""

from __future__ import annotations

import collections
import dataclasses
import enum
import types
from typing import Any

import pydantic
import pytest

from agentcore_auth import Redactor

KEY = "sk-objects-0123456789abcdef"
MARK = "[REDACTED:weather]"


@pytest.fixture
def redactor() -> Redactor:
    r = Redactor()
    r.register(KEY, name="weather")
    return r


class Inner(pydantic.BaseModel):
    text: str


class Outer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="allow")
    inner: Inner
    items: list[Inner]
    note: str = "default"
    _private: str = pydantic.PrivateAttr(default="")

    @pydantic.field_validator("note")
    @classmethod
    def no_brackets(cls, value: str) -> str:
        if value.startswith("["):
            raise ValueError("validators are not re-run by scrubbing")
        return value


def test_pydantic_models_are_copied_without_revalidation(redactor: Redactor) -> None:
    """Fields, nested models, extra fields and private attributes; fields_set kept."""
    model = Outer(inner=Inner(text=KEY), items=[Inner(text=f"a {KEY}")], note=KEY, extra=KEY)
    model._private = KEY
    out = redactor.redact_obj(model)
    assert type(out) is Outer and out is not model
    assert out.inner.text == MARK and out.items[0].text == f"a {MARK}" and out.note == MARK
    assert out.model_extra == {"extra": MARK} and out._private == MARK
    assert out.model_fields_set == model.model_fields_set
    assert model.inner.text == KEY  # the original is untouched
    assert KEY not in repr(out) and KEY not in out.model_dump_json()


def test_root_models_and_clean_models(redactor: Redactor) -> None:
    """A RootModel is scrubbed; a model without any value comes back as itself."""
    root = pydantic.RootModel[list[str]]([KEY, "x"])
    assert redactor.redact_obj(root).root == [MARK, "x"]
    clean = Inner(text="nothing to see")
    assert redactor.redact_obj(clean) is clean


@dataclasses.dataclass(slots=True)
class Node:
    name: str
    computed: int = dataclasses.field(init=False, default=0)
    child: Node | None = None
    posts: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.posts.append("post_init ran")


def test_dataclasses_keep_type_and_skip_init(redactor: Redactor) -> None:
    """Slotted dataclasses with init=False fields are copied; __post_init__ is not re-run."""
    node = Node(KEY, child=Node(f"child {KEY}"))
    node.computed = 7
    out = redactor.redact_obj(node)
    assert type(out) is Node and out.name == MARK and out.computed == 7
    assert out.child is not None and out.child.name == f"child {MARK}"
    assert out.posts == ["post_init ran"]


def test_cycles_through_objects_point_at_the_copies(redactor: Redactor) -> None:
    """A dataclass referring to itself: the copy refers to the copy, never the original."""
    node = Node(KEY)
    node.child = node
    out = redactor.redact_obj(node)
    assert out.child is out and out.name == MARK


class Pair(collections.namedtuple("Pair", "left right")):
    pass


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize("value", [
    collections.OrderedDict(a=KEY),
    collections.defaultdict(list, a=KEY),
    collections.Counter({KEY: 1}),
    types.MappingProxyType({"a": KEY}),
    collections.deque([KEY]),
    collections.UserList([KEY]),
    Pair(KEY, 1),
    frozenset({KEY}),
], ids=lambda v: type(v).__name__)
def test_other_containers_keep_their_type(redactor: Redactor, value: Any) -> None:
    """Mappings and sequences other than dict and list come back as their own type."""
    out = redactor.redact_obj(value)
    assert type(out) is type(value) and KEY not in repr(out) and MARK in repr(out)
    if isinstance(value, collections.defaultdict):
        assert out.default_factory is list


def test_things_without_text_are_left_alone(redactor: Redactor) -> None:
    """Ranges, enums, atoms and containers without a value come back as the same objects."""
    big = range(10**9)
    assert redactor.redact_obj(big) is big
    assert redactor.redact_obj(Colour.RED) is Colour.RED
    deque = collections.deque(["nothing"])
    assert redactor.redact_obj(deque) is deque
    assert redactor.redact_obj(3.5) == 3.5 and redactor.redact_obj(None) is None


def test_mcp_call_tool_result(redactor: Redactor) -> None:
    """An MCP SDK CallToolResult comes back scrubbed, of the same type, and valid."""
    types_ = pytest.importorskip("mcp.types")
    result = types_.CallToolResult(
        content=[types_.TextContent(type="text", text=f"echo {KEY}"),
                 types_.EmbeddedResource(type="resource", resource=types_.TextResourceContents(
                     uri="file:///x", text=KEY))],
        structuredContent={"key": KEY}, isError=False)
    out = redactor.redact_obj(result)
    assert type(out) is types_.CallToolResult and KEY not in out.model_dump_json()
    again = types_.CallToolResult.model_validate(out.model_dump(by_alias=True))
    assert again == out and out.content[1].resource.text == MARK
