"""Hostile ``uploadVectors`` and ``searchVectors`` (SPEC sections 4 and 7).

Uploads: every record is accepted or rejected alone with ``INVALID_VECTOR`` or
``DIMENSION_MISMATCH`` (wrong types, NaN-like overflow, zero vectors, 0 or 4097 dimensions,
metadata over 10 KB or nested too deep, duplicate ids which replace); a message is refused
whole with ``INVALID_MESSAGE`` when ill-typed or over 1000 vectors. Searches: ``k``,
``threshold``, ``queryVector`` and ``metadataFilter`` out of their documented ranges get
``INVALID_MESSAGE``; anything else is answered, best first, within ``k`` and ``threshold``.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st

from s5vec.formats.metadata import MAX_METADATA_DEPTH, nested_deeper_than
from s5vec.index.filters import MAX_FILTER_DEPTH
from tests.faults.store import FaultyStore
from tests.reliability.fuzzing import (
    FUZZ,
    SOAK,
    Target,
    ask,
    error_code,
    host_view,
    open_target,
)
from tests.reliability.harness import Figures, HostFactory, soak
from tests.reliability.hostile import (
    HUGE_NUMBERS,
    MAX_DIMS,
    MAX_K,
    MAX_METADATA_BYTES,
    UNICODE_TRICKS,
    as_float,
    deep,
    filter_values,
    hostile_values,
    is_number,
    json_values,
)
from tests.reliability.wire import Frame

DIMS = 4

numbers = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-1000, 1000),
    HUGE_NUMBERS,
    st.floats(allow_nan=False, allow_infinity=False),
)
vectors = st.one_of(
    st.lists(numbers, min_size=DIMS, max_size=DIMS),
    st.lists(numbers, min_size=0, max_size=8),
    st.builds(lambda n: [0.5] * n, st.sampled_from([0, 1, MAX_DIMS, MAX_DIMS + 1])),
    st.just([0, 0, 0, 0]),
    st.lists(st.one_of(numbers, st.booleans(), st.text(max_size=3), st.none()), max_size=5),
    hostile_values,
)
metadata = st.one_of(
    st.none(),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.builds(lambda n: {"text": "x" * n}, st.sampled_from([100, 10_000, 10_230, 10_240, 20_000])),
    # Around the bound (200 levels, formats/metadata.py) and orjson's limit (254 levels).
    deep(depths=(50, 199, 200, 201, 252, 253, 254, 255, 300, 500, 800)),
    json_values,
    HUGE_NUMBERS,
)
ids = st.one_of(
    st.sampled_from(["a", "b", "c"]), st.text(max_size=8), UNICODE_TRICKS, hostile_values
)


@st.composite
def records(draw: st.DrawFn) -> Any:
    """One upload record: mostly object-shaped, each field possibly hostile or missing."""
    if draw(st.integers(0, 9)) == 0:
        return draw(hostile_values)
    record: Frame = {}
    for key, strategy in (("id", ids), ("vector", vectors), ("metadata", metadata)):
        if draw(st.integers(0, 9)):
            record[key] = draw(strategy)
    return record


def record_verdict(record: Any, dims: int | None) -> tuple[set[str], int | None]:
    """The codes the record may be rejected with (empty when it must be accepted) and the
    dimension it fixes if accepted."""
    if not isinstance(record, dict):
        return {"INVALID_VECTOR"}, None
    codes: set[str] = set()
    rid = record.get("id")
    if not isinstance(rid, str) or not rid:
        codes.add("INVALID_VECTOR")
    vector = record.get("vector")
    length: int | None = None
    if not isinstance(vector, list) or not all(is_number(x) for x in vector):
        codes.add("INVALID_VECTOR")
    else:
        length = len(vector)
        if not 1 <= length <= MAX_DIMS or (dims is not None and length != dims):
            codes.add("DIMENSION_MISMATCH")
        values = [as_float(x) for x in vector]
        if any(v is None for v in values) or not any(values):
            codes.add("INVALID_VECTOR")  # not finite as a double, or the zero vector
    meta = record.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        codes.add("INVALID_VECTOR")
    elif nested_deeper_than(meta, MAX_METADATA_DEPTH):
        codes.add("INVALID_VECTOR")  # a search reply could not carry it (formats/metadata.py)
    elif meta is not None and len(orjson.dumps(meta)) > MAX_METADATA_BYTES:
        codes.add("INVALID_VECTOR")
    return codes, (None if codes else length)


@st.composite
def uploads(draw: st.DrawFn) -> Frame:
    """An ``uploadVectors`` message, mostly well-formed at the top, hostile inside."""
    message: Frame = {"type": "uploadVectors", "requestId": "u"}
    kind = draw(st.sampled_from(["records", "records", "records", "many", "ill-typed"]))
    if kind == "many":
        count = draw(st.sampled_from([999, 1000, 1001, 1500]))
        message["vectors"] = [{"id": f"v{i}", "vector": [1, i, 0, 1]} for i in range(count)]
    elif kind == "ill-typed":
        message["vectors"] = draw(hostile_values.filter(lambda v: not isinstance(v, list)))
    else:
        message["vectors"] = draw(st.lists(records(), max_size=8))
    if draw(st.booleans()):
        message["replace"] = draw(st.one_of(st.booleans(), hostile_values))
    if draw(st.integers(0, 4)) == 0:
        message["requestId"] = draw(
            st.one_of(st.text(), st.integers(-(2**63), 2**63 - 1), json_values)
        )
    return message


async def _upload(target: Target, message: Frame) -> None:
    received = host_view(message)
    reply, p = await target.exchange(message)
    code = error_code(reply)
    if received is ...:  # e.g. an integer past float64: not JSON to the host
        assert code == "INVALID_MESSAGE", reply
        await target.probe(p)
        return
    batch = received.get("vectors")
    request_id = received.get("requestId")
    top_ill_typed = (
        not isinstance(batch, list)
        or not isinstance(received.get("replace", False), bool)
        or not isinstance(request_id, str | int | None)
        or isinstance(request_id, bool)
    )
    if top_ill_typed or len(batch) > 1000:
        assert code == "INVALID_MESSAGE", reply
        await target.probe(p)
        return
    assert reply["type"] == "uploadVectorsResponse", reply
    got = {entry["index"]: entry["code"] for entry in reply["errors"]}
    dims: int | None = None
    accepted: set[str] = set()
    for index, record in enumerate(batch):
        codes, fixed = record_verdict(record, dims)
        if index in got:
            assert got[index] in codes, (index, got[index], codes, record)
        else:
            assert not codes, (index, codes, record)
            dims = dims or fixed
            accepted.add(record["id"])
    assert reply["rejected"] == len(got)
    assert reply["uploaded"] == len(batch) - len(got)
    assert reply["status"] == (
        "success" if not got else "error" if len(got) == len(batch) else "partial"
    )
    if accepted:  # duplicates replaced: every distinct id is searchable once
        assert dims is not None
        found = await p.request({"type": "searchVectors", "queryVector": [1.0] * dims, "k": MAX_K})
        assert found["type"] == "searchVectorsResponse", found
        assert found["totalVectors"] == len(accepted)
        ids_found = {hit["id"] for hit in found["results"]}
        assert len(ids_found) == min(len(accepted), MAX_K)
        assert ids_found <= accepted
    await target.probe(p)


@FUZZ
@given(message=uploads())
async def test_upload_records_are_accepted_or_rejected_alone(
    target: Target, message: Frame
) -> None:
    await _upload(target, message)


@soak
@SOAK
@given(message=uploads())
async def test_upload_records_are_accepted_or_rejected_alone_soak(
    target: Target, message: Frame
) -> None:
    await _upload(target, message)


# --- searchVectors ----------------------------------------------------------------------

STORED = [
    {"id": f"s{i}", "vector": [1.0, i, (i * 7) % 5, -i], "metadata": {"tag": "ab"[i % 2], "n": i}}
    for i in range(1, 13)
]

filters = st.one_of(
    st.none(),
    st.sampled_from(["a", "b", "c", 1, 2, None, True]).map(lambda v: {"tag": v}),
    st.sampled_from(["a", "b"]).map(lambda v: {"tag": {"$eq": v}}),
    st.lists(st.sampled_from(["a", "b", 3, None]), max_size=4).map(lambda v: {"tag": {"$in": v}}),
    st.builds(
        lambda v, n: {"tag": v, "n": {"$in": n}},
        st.sampled_from(["a", "b"]),
        st.lists(st.integers(0, 14), max_size=4),
    ),
    st.dictionaries(st.text(max_size=5), filter_values, max_size=3),
    st.dictionaries(
        st.sampled_from(["tag", "n"]),
        st.dictionaries(
            st.sampled_from(["$eq", "$in", "$gt", "$ne", "$regex", "eq"]),
            filter_values,
            min_size=1,
            max_size=2,
        ),
        min_size=1,
        max_size=2,
    ),
    st.builds(lambda d: {"tag": {"$eq": d}}, deep(300)),  # deeper: see filter_values
    st.builds(lambda n: {"tag": {"$in": list(range(n))}}, st.sampled_from([1024, 1025, 5000])),
    hostile_values,
)


def filter_verdict(flt: Any) -> tuple[bool | None, Any]:
    """(well-formed?, a matcher) by SPEC 4; None when the SPEC leaves it open."""
    if flt is None:
        return True, lambda meta: True
    if not isinstance(flt, dict) or nested_deeper_than(flt, MAX_FILTER_DEPTH):
        return False, None  # deeper than metadata can be (index/filters.py)
    conditions = []
    open_question = False
    for field, cond in flt.items():
        if not field:
            open_question = True
        if isinstance(cond, dict) and any(str(k).startswith("$") for k in cond):
            allowed_sets = []
            for op, operand in cond.items():
                if op == "$eq":
                    allowed_sets.append([operand])
                elif op == "$in":
                    if not isinstance(operand, list):
                        return False, None
                    if len(operand) > 1024:
                        open_question = True  # the host may bound $in lists
                    allowed_sets.append(operand)
                else:
                    return False, None
            conditions.append((field, allowed_sets))
        else:
            conditions.append((field, [[cond]]))

    def matches(meta: dict[str, Any]) -> bool:
        for field, allowed_sets in conditions:
            if field not in meta:
                return False
            for allowed in allowed_sets:
                if not any(_json_equal(meta[field], value) for value in allowed):
                    return False
        return True

    return (None if open_question else True), matches


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


@st.composite
def searches(draw: st.DrawFn) -> Frame:
    """A ``searchVectors`` message with hostile ``k``, ``threshold``, query and filter."""
    message: Frame = {"type": "searchVectors", "requestId": "q"}
    message["k"] = draw(
        st.one_of(st.integers(1, MAX_K), st.integers(-5, 200), HUGE_NUMBERS, hostile_values)
    )
    if draw(st.booleans()):
        message["threshold"] = draw(
            st.one_of(
                st.floats(-1, 1),
                st.floats(-3, 3, allow_nan=False),
                st.integers(-2, 2),
                HUGE_NUMBERS,
                hostile_values,
            )
        )
    message["queryVector"] = draw(
        st.one_of(st.lists(numbers, min_size=DIMS, max_size=DIMS), vectors)
    )
    if draw(st.booleans()):
        message["metadataFilter"] = draw(filters)
    return message


def search_verdict(received: Frame) -> bool | None:
    """Must the search be answered (True), refused with INVALID_MESSAGE (False), or may it go
    either way (None: the SPEC leaves the case open)?"""
    k = received.get("k")
    if isinstance(k, float) and k.is_integer() and 1 <= k <= MAX_K:
        return None  # 5.0: a JSON number equal to an integer in range
    if not is_number(k) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        return False
    threshold = received.get("threshold")
    if threshold is not None and (not is_number(threshold) or not -1 <= threshold <= 1):
        return False
    query = received.get("queryVector")
    if not isinstance(query, list) or len(query) != DIMS or not all(is_number(x) for x in query):
        return False
    well_formed, _ = filter_verdict(received.get("metadataFilter"))
    if well_formed is False:
        return False
    if not any(query) or well_formed is None:
        return None  # a zero query, a bounded $in: the SPEC does not say
    return True


async def _search(target: Target, message: Frame) -> None:
    reply, p = await target.exchange({"type": "uploadVectors", "vectors": STORED})
    assert reply["uploaded"] == len(STORED), reply
    received = host_view(message)
    reply = await ask(p, message)
    code = error_code(reply)
    assert code != "INTERNAL_ERROR", reply
    verdict = False if received is ... else search_verdict(received)
    if verdict is False:
        assert code == "INVALID_MESSAGE", (reply, received)
    elif verdict is True:
        assert reply["type"] == "searchVectorsResponse", (reply, received)
    else:
        assert code in (None, "INVALID_MESSAGE"), reply
    if reply["type"] == "searchVectorsResponse":
        _, matches = filter_verdict(received.get("metadataFilter"))
        results = reply["results"]
        scores = [hit["score"] for hit in results]
        assert len(results) <= received["k"]
        assert scores == sorted(scores, reverse=True)
        assert all(np.isfinite(scores))
        if received.get("threshold") is not None:
            assert all(score >= received["threshold"] - 1e-6 for score in scores)
        assert all(matches(hit["metadata"]) for hit in results), (received, results)
        if received.get("threshold") is None:  # the k best of the matching stored vectors
            matching = [r for r in STORED if matches(r["metadata"])]
            assert len(results) == min(received["k"], len(matching))
        assert reply["totalVectors"] == len(STORED)
    await target.probe(p)


@FUZZ
@given(message=searches())
async def test_search_fields_out_of_range_are_invalid_message(
    target: Target, message: Frame
) -> None:
    await _search(target, message)


@soak
@SOAK
@given(message=searches())
async def test_search_fields_out_of_range_are_invalid_message_soak(
    target: Target, message: Frame
) -> None:
    await _search(target, message)


async def test_uploads_past_the_session_limit_are_memory_limit_exceeded(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession, figures: Figures
) -> None:
    host = await start_host(S5VEC_MAX_UPLOADED_VECTORS="5")
    async with open_target(store, host, http, figures, "upload_limit") as target:
        reply, p = await target.exchange({"type": "uploadVectors", "vectors": STORED[:4]})
        assert reply["uploaded"] == 4
        over = await p.request({"type": "uploadVectors", "vectors": STORED[4:6]})
        assert error_code(over) == "MEMORY_LIMIT_EXCEEDED", over
        found = await p.request({"type": "searchVectors", "queryVector": [1, 1, 1, 1], "k": 10})
        assert found["totalVectors"] == 4  # the refused batch changed nothing
        await target.probe(p)
