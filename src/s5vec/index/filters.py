"""Metadata filters (SPEC section 4): parsing, and matching one record or a whole column.

A filter is ``{"field": {"$eq": x}}``, ``{"field": {"$in": [..]}}`` or ``{"field": x}`` (a bare
value means ``$eq``); several fields are ANDed, several operators on one field too. Equality
is JSON equality: ``1 == 1.0`` but ``true != 1``; a missing field never matches.

Large stores match through :class:`FilterMatcher`, which turns each filtered field into a
column of value codes once (lazily, on the first filter naming it), so a filtered search costs
one vectorised comparison per field instead of a Python pass over the records. A column takes
the narrowest integer type its vocabulary fits (one byte per row for up to 128 values).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from s5vec.errors import InvalidMessage
from s5vec.formats.metadata import MAX_METADATA_DEPTH, nested_deeper_than

OPERATORS = ("$eq", "$in")
MAX_IN_VALUES = 1024
"""Bound on one ``$in`` list, so a filter cannot make matching arbitrarily expensive."""

_Codes = npt.NDArray[np.signedinteger[Any]]

MISSING: Any = object()
"""What a record source yields for a field the record lacks."""


def value_key(value: Any) -> Hashable:
    """Return a hashable key equal for JSON-equal values (bool is not a number)."""
    if isinstance(value, bool):
        return ("b", value)  # apart from numbers: True == 1 in Python, not in JSON
    if isinstance(value, str | int | float):
        return value  # numbers hash and compare by value (1 == 1.0); never equal to a str
    if value is None:
        return ("z",)
    if isinstance(value, list | tuple):
        return ("l", tuple(value_key(v) for v in value))
    if isinstance(value, dict):
        return ("d", frozenset((str(k), value_key(v)) for k, v in value.items()))
    raise TypeError(f"not a JSON value: {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class FieldCondition:
    """One field must hold one of ``allowed`` (canonical value keys)."""

    field: str
    allowed: frozenset[Hashable]


@dataclass(frozen=True, slots=True)
class MetadataFilter:
    """An AND of field conditions; build it with :func:`parse_filter`."""

    conditions: tuple[FieldCondition, ...]

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """Return whether one record's metadata satisfies every condition."""
        for cond in self.conditions:
            value = metadata.get(cond.field, MISSING)
            if value is MISSING:
                return False
            try:
                key = value_key(value)
            except TypeError:
                return False
            if key not in cond.allowed:
                return False
        return True


MAX_FILTER_DEPTH = MAX_METADATA_DEPTH + 3
"""The filter object, an operator object and a ``$in`` list around a metadata value."""


def parse_filter(obj: Any) -> MetadataFilter:
    """Parse a wire ``metadataFilter``; raise InvalidMessage when it is malformed."""
    if not isinstance(obj, dict):
        raise InvalidMessage("metadataFilter must be an object")
    if nested_deeper_than(obj, MAX_FILTER_DEPTH):
        # Deeper operands could never equal accepted metadata, and keying them recurses.
        raise InvalidMessage(f"metadataFilter nests more than {MAX_FILTER_DEPTH} levels deep")
    conditions = []
    for field, spec in obj.items():
        if not isinstance(field, str) or not field:
            raise InvalidMessage("metadataFilter field names must be non-empty strings")
        conditions.append(FieldCondition(field, _parse_field(field, spec)))
    return MetadataFilter(tuple(conditions))


def _parse_field(field: str, spec: Any) -> frozenset[Hashable]:
    """Return the allowed value keys of one field's condition."""
    operators = isinstance(spec, dict) and any(str(k).startswith("$") for k in spec)
    if not operators:
        return frozenset((_key_or_invalid(field, spec),))
    parts = []
    for op, operand in spec.items():
        if op == "$eq":
            keys = frozenset((_key_or_invalid(field, operand),))
        elif op == "$in":
            if not isinstance(operand, list):
                raise InvalidMessage(f"metadataFilter: $in of '{field}' must be a list")
            if len(operand) > MAX_IN_VALUES:
                raise InvalidMessage(f"metadataFilter: $in takes at most {MAX_IN_VALUES} values")
            keys = frozenset(_key_or_invalid(field, v) for v in operand)
        else:
            raise InvalidMessage(
                f"metadataFilter: unsupported operator {str(op)[:32]!r} on '{field}' "
                f"(supported: {', '.join(OPERATORS)})"
            )
        parts.append(keys)
    return frozenset.intersection(*parts)


def _key_or_invalid(field: str, value: Any) -> Hashable:
    """Canonical key of a filter operand, or InvalidMessage for a non-JSON operand."""
    try:
        return value_key(value)
    except TypeError:
        raise InvalidMessage(f"metadataFilter: value of '{field}' is not a JSON value") from None


class FilterMatcher:
    """Evaluates filters over a fixed set of records into boolean row masks.

    ``field_values(field)`` yields each record's value of ``field`` in row order (``MISSING``
    for a record without it); it is called once per distinct filtered field.
    Safe to share between threads.
    """

    def __init__(self, size: int, field_values: Callable[[str], Iterable[Any]]) -> None:
        self._size = size
        self._field_values = field_values
        self._columns: dict[str, tuple[_Codes, dict[Hashable, int]]] = {}
        self._lock = threading.Lock()

    def mask(self, flt: MetadataFilter) -> npt.NDArray[np.bool_]:
        """Return the rows whose metadata satisfies ``flt``."""
        result = np.ones(self._size, dtype=np.bool_)
        for cond in flt.conditions:
            codes, vocab = self._column(cond.field)
            wanted = [vocab[key] for key in cond.allowed if key in vocab]
            if not wanted:
                return np.zeros(self._size, dtype=np.bool_)
            if len(wanted) == 1:
                result &= codes == wanted[0]
            else:
                result &= np.isin(codes, np.asarray(wanted, dtype=np.int32))
        return result

    def nbytes(self) -> int:
        """Approximate bytes held by the built columns (codes plus vocabularies)."""
        return sum(codes.nbytes + 100 * len(vocab) for codes, vocab in self._columns.values())

    def _column(self, field: str) -> tuple[_Codes, dict[Hashable, int]]:
        """Return (codes, vocabulary) of ``field``; code -1 marks a missing or odd value."""
        with self._lock:
            column = self._columns.get(field)
            if column is None:
                vocab: dict[Hashable, int] = {}
                codes = np.fromiter(
                    (_code(vocab, v) for v in self._field_values(field)),
                    dtype=np.int32,
                    count=self._size,
                )
                column = self._columns[field] = (_narrowest(codes, len(vocab)), vocab)
            return column


def _narrowest(codes: npt.NDArray[np.int32], vocabulary: int) -> _Codes:
    """``codes`` (-1 .. vocabulary - 1) in the smallest signed integer type that holds them."""
    for dtype in (np.int8, np.int16):
        if vocabulary - 1 <= np.iinfo(dtype).max:
            narrow: _Codes = codes.astype(dtype)
            return narrow
    return codes


def _code(vocab: dict[Hashable, int], value: Any) -> int:
    """Code of ``value`` in ``vocab`` (added when new), -1 when missing or not JSON."""
    if value is MISSING:
        return -1
    try:
        key = value_key(value)
    except TypeError:
        return -1
    return vocab.setdefault(key, len(vocab))
