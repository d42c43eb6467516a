"""The nesting bound of echoed fields (sessions/messages.py)."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from s5vec.formats.metadata import nested_deeper_than
from s5vec.sessions.messages import MAX_ECHO_DEPTH, ReplyContext

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=30,
)


def depth(value: Any) -> int:
    """Container levels of ``value``, recursively (the reference)."""
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def nest(levels: int) -> Any:
    value: Any = "x"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


@given(json_values, st.integers(0, 6))
def test_nested_deeper_than_matches_the_recursive_depth(value: Any, limit: int) -> None:
    assert nested_deeper_than(value, limit) == (depth(value) > limit)


def test_an_echo_field_past_the_bound_is_named_and_not_echoed() -> None:
    ctx = ReplyContext.of({"type": "searchVectors", "id": 7, "requestId": nest(MAX_ECHO_DEPTH + 1)})
    assert (ctx.unechoable, ctx.request_id, ctx.id) == ("requestId", None, 7)
    ctx = ReplyContext.of({"type": "searchVectors", "id": nest(MAX_ECHO_DEPTH), "requestId": "r"})
    assert (ctx.unechoable, ctx.request_id) == (None, "r")
    assert ctx.id == nest(MAX_ECHO_DEPTH)


def test_every_echo_field_past_the_bound_is_dropped() -> None:
    deep = nest(MAX_ECHO_DEPTH + 1)
    ctx = ReplyContext.of({"type": "searchVectors", "id": deep, "requestId": deep})
    assert (ctx.unechoable, ctx.id, ctx.request_id) == ("id", msgspec.UNSET, None)
