"""FrameRouter, upload batching and error mapping as units (no socket)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.client import (
    PROTOCOL_ERROR,
    ClientError,
    SearchResponse,
    SessionAck,
    http_url,
    remote_error,
)
from s5vec.client.frames import (
    EncryptedInitPlaintext,
    UploadError,
    UploadVectorsResponse,
    VectorRecord,
)
from s5vec.client.router import FrameRouter
from s5vec.client.uploads import batches, merge_results
from s5vec.errors import ALL_ERRORS, Cancelled, S5VecError


def _json(frame: dict[str, Any]) -> bytes:
    return msgspec.json.encode(frame)


@pytest.mark.parametrize("error_class", ALL_ERRORS, ids=lambda cls: cls.code)
def test_every_wire_code_maps_to_its_error_class(error_class: type[S5VecError]) -> None:
    error = remote_error(error_class.code, "from the host", request_id="r1")
    assert isinstance(error, error_class)
    assert isinstance(error, ClientError)
    assert (error.code, error.message, error.request_id) == (
        error_class.code,
        "from the host",
        "r1",
    )
    assert error.to_wire() == {"code": error_class.code, "message": "from the host"}


async def test_a_reply_resolves_only_the_future_with_its_request_id() -> None:
    router = FrameRouter()
    first, second = router.expect("r1"), router.expect("r2")
    router.dispatch(
        _json(
            {"type": "searchVectorsResponse", "requestId": "r2", "results": [], "totalVectors": 0}
        )
    )
    assert not first.done()
    reply = second.result()
    assert isinstance(reply, SearchResponse)
    assert reply.request_id == "r2"


async def test_a_malformed_reply_becomes_a_protocol_error_for_its_request() -> None:
    router = FrameRouter()
    future = router.expect("r1")
    router.dispatch(_json({"type": "searchVectorsResponse", "requestId": "r1", "results": 3}))
    outcome = future.result()
    assert isinstance(outcome, ClientError)
    assert outcome.code == PROTOCOL_ERROR
    assert "searchVectorsResponse" in outcome.message


async def test_progress_of_another_session_is_dropped() -> None:
    router = FrameRouter()
    load = router.start_load("s2", requested=True)
    for session in ("s1", "s2"):
        router.dispatch(
            _json(
                {
                    "type": "vector_loading_progress",
                    "session_id": session,
                    "payload": {"event": "manifest_downloaded", "message": session},
                }
            )
        )
    assert [event.message for event in load.events] == ["s2"]


def _progress(session_id: str, **payload: Any) -> bytes:
    return _json({"type": "vector_loading_progress", "session_id": session_id, "payload": payload})


async def test_a_reinit_under_the_same_id_skips_the_replaced_loads_cancelled() -> None:
    router = FrameRouter()
    old = router.start_load("s1", requested=True)
    router.dispatch(_progress("s1", event="manifest_downloaded"))
    future = router.expect("r2")
    new = router.start_load("s1", requested=True)
    router.dispatch(_progress("s1", event="chunk_downloaded", percent=50))
    router.dispatch(_progress("s1", event="loading_error", error_code="CANCELLED", error="x"))
    router.dispatch(
        _json({"type": "session_init_ack", "status": "success", "session_id": "s1", "id": "r2"})
    )
    router.dispatch(_progress("s1", event="manifest_downloaded"))
    assert isinstance(future.result(), SessionAck)
    assert isinstance(old.end, Cancelled)
    assert [event.event for event in new.events] == ["manifest_downloaded"]
    assert new.end is None


async def test_closing_answers_every_waiting_request_and_refuses_new_ones() -> None:
    router = FrameRouter()
    future = router.expect("r1")
    load = router.start_load("s1", requested=True)
    router.close(ClientError("CONNECTION_CLOSED", "gone"))
    assert isinstance(future.result(), ClientError)
    assert isinstance(load.end, ClientError)
    with pytest.raises(ClientError, match="gone"):
        router.expect("r2")


@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
async def test_dispatch_never_raises_on_arbitrary_bytes(data: bytes | str) -> None:
    router = FrameRouter()
    router.dispatch(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_frames = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            [
                "error",
                "session_init_ack",
                "searchVectorsResponse",
                "uploadVectorsResponse",
                "vector_loading_progress",
                "connected",
            ]
        )
    },
    optional={
        "requestId": st.sampled_from(["r1", "r2"]) | _json_values,
        "id": st.sampled_from(["r1", "r2"]) | _json_values,
        "session_id": st.just("s1") | _json_values,
        "payload": _json_values,
        "results": _json_values,
        "code": _json_values,
        "message": _json_values,
    },
)


@given(_frames)
async def test_any_frame_shape_either_answers_a_request_or_is_dropped(
    frame: dict[str, Any],
) -> None:
    router = FrameRouter()
    future = router.expect("r1")
    load = router.start_load("s1", requested=True)
    router.dispatch(_json(frame))
    if future.done():
        assert isinstance(future.result(), ClientError | msgspec.Struct)
    assert all(event.event for event in load.events)


@given(st.lists(st.integers(), max_size=60), st.integers(min_value=1, max_value=25))
def test_batches_cover_every_record_in_order_within_the_size(ids: list[int], size: int) -> None:
    records = [VectorRecord(i, [1.0]) for i in ids]
    parts = list(batches(records, size))
    assert [record for part in parts for record in part] == records
    assert all(len(part) <= size for part in parts)
    assert all(len(part) == size for part in parts[:-1])
    assert len(parts) == max(1, -(-len(records) // size))


@given(st.lists(st.lists(st.booleans(), min_size=1, max_size=12), min_size=1, max_size=5))
def test_merged_error_indexes_count_over_the_whole_upload(rejections: list[list[bool]]) -> None:
    size = 12
    # Every batch but the last is full, as batches() makes them.
    batches_ = [(flags + [False] * size)[:size] for flags in rejections[:-1]] + [rejections[-1]]
    replies = [
        UploadVectorsResponse(
            request_id=f"r{n}",
            status="success" if not any(flags) else "partial",
            uploaded=flags.count(False),
            rejected=flags.count(True),
            errors=[UploadError(i, "INVALID_VECTOR", "bad") for i, bad in enumerate(flags) if bad],
        )
        for n, flags in enumerate(batches_)
    ]
    result = merge_results(replies, size)
    flat = [bad for flags in batches_ for bad in flags]
    assert [error.index for error in result.errors] == [i for i, bad in enumerate(flat) if bad]
    assert (result.uploaded, result.rejected) == (flat.count(False), flat.count(True))
    expected = "success" if not any(flat) else "error" if all(flat) else "partial"
    assert result.status == expected


def test_the_host_key_url_sits_beside_the_websocket_url() -> None:
    assert http_url("ws://127.0.0.1:8080/v1/ws", "/v1/host-key") == (
        "http://127.0.0.1:8080/v1/host-key"
    )
    assert http_url("wss://host.example/v1/ws?x=1", "/v1/host-key") == (
        "https://host.example/v1/host-key"
    )


def test_the_sealed_plaintext_never_shows_the_session_key() -> None:
    plaintext = EncryptedInitPlaintext(session_key="0x" + "ab" * 32, model_name="llama")
    assert "ab" * 32 not in repr(plaintext)
    assert msgspec.json.decode(msgspec.json.encode(plaintext)) == {
        "sessionKey": "0x" + "ab" * 32,
        "modelName": "llama",
    }
