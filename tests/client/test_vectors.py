"""Progress, uploads and searches against the fake host: correlation, splitting, failures."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from s5vec.client import (
    CLIENT_TIMEOUT,
    CONNECTION_CLOSED,
    NOT_LOADING,
    ClientError,
    LoadingProgress,
    S5VecClient,
    VectorRecord,
)
from s5vec.errors import Cancelled, InvalidMessage, ManifestNotFound, VectorsLoading
from tests.client.fake_host import Refusal, fake_host

OWNER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
DATABASE = (f"home/vector-databases/{OWNER}/my-docs/manifest.json", OWNER)


def _chunk(chunk_id: int, total: int) -> dict[str, Any]:
    percent = 100 * (chunk_id + 1) // total
    return {"event": "chunk_downloaded", "chunk_id": chunk_id, "total": total, "percent": percent}


LOAD = [
    {"event": "manifest_downloaded", "message": "Manifest downloaded"},
    _chunk(0, 3),
    _chunk(1, 3),
    _chunk(2, 3),
    {"event": "index_building", "message": "Building"},
    {"event": "loading_complete", "vector_count": 30, "duration_ms": 12, "message": "done"},
]
FAILED_LOAD = [
    {"event": "manifest_downloaded", "message": "Manifest downloaded"},
    {"event": "loading_error", "error_code": "MANIFEST_NOT_FOUND", "error": "no manifest"},
]
HITS = [{"id": f"doc-{i}", "score": 1.0 - i / 10, "metadata": {"rank": i}} for i in range(10)]


def _vectors(count: int) -> list[dict[str, Any]]:
    return [{"id": f"v{i}", "vector": [float(i), 1.0], "metadata": {"n": i}} for i in range(count)]


async def _events(client: S5VecClient) -> list[LoadingProgress]:
    return [event async for event in client.progress()]


async def test_progress_frames_interleaved_with_replies_reach_the_progress_stream() -> None:
    script = {"load_events": LOAD, "emit": "before_replies", "events_per_reply": 2}
    async with (
        fake_host(search_results=HITS, **script) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1", vector_database=DATABASE)
        uploaded = await client.upload_vectors(_vectors(3))
        first = await client.search([1.0, 0.0], k=2)
        second = await client.search([0.0, 1.0], k=3)
        loaded = await client.wait_loaded()
        events = await _events(client)
    assert uploaded.uploaded == 3
    assert [hit.id for hit in first.results] == ["doc-0", "doc-1"]
    assert [hit.id for hit in second.results] == ["doc-0", "doc-1", "doc-2"]
    assert [event.event for event in events] == [event["event"] for event in LOAD]
    assert [event.percent for event in events if event.event == "chunk_downloaded"] == [33, 66, 100]
    assert (loaded.event, loaded.vector_count, loaded.duration_ms) == ("loading_complete", 30, 12)
    assert host.violations == []


async def test_concurrent_searches_are_matched_by_request_id() -> None:
    async with (
        fake_host(search_results=HITS, reverse_searches=3) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1")
        responses = await asyncio.gather(*(client.search([1.0, 0.0], k=k) for k in (1, 2, 3)))
    assert [len(response.results) for response in responses] == [1, 2, 3]
    sent = [frame["requestId"] for frame in host.frames("searchVectors")]
    assert len(set(sent)) == 3
    assert sorted(response.request_id for response in responses) == sorted(sent)


async def test_search_sends_the_camel_case_frame_of_spec_4() -> None:
    async with (
        fake_host(search_results=HITS) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1")
        query = np.array([0.5, 0.25], dtype=np.float32)
        await client.search(query)
        response = await client.search(
            [1, 0], k=7, threshold=0.5, metadata_filter={"lang": {"$eq": "en"}}
        )
    plain, filtered = host.frames("searchVectors")
    assert plain == {
        "type": "searchVectors",
        "requestId": plain["requestId"],
        "queryVector": [0.5, 0.25],
        "k": 5,
    }
    assert filtered == {
        "type": "searchVectors",
        "requestId": filtered["requestId"],
        "queryVector": [1.0, 0.0],
        "k": 7,
        "threshold": 0.5,
        "metadataFilter": {"lang": {"$eq": "en"}},
    }
    assert host.violations == []
    assert (response.total_vectors, response.search_time_ms) == (10, 0.25)
    assert response.results[0].metadata == {"rank": 0}


async def test_an_upload_of_2500_vectors_goes_out_as_three_messages() -> None:
    async with (
        fake_host(reject_ids={"v5", "v1500", "v2499"}) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1")
        result = await client.upload_vectors(_vectors(2500), replace=True)
    frames = host.frames("uploadVectors")
    assert [len(frame["vectors"]) for frame in frames] == [1000, 1000, 500]
    assert [frame["replace"] for frame in frames] == [True, False, False]
    assert [v["id"] for frame in frames for v in frame["vectors"]] == [f"v{i}" for i in range(2500)]
    assert set(frames[0]) == {"type", "requestId", "replace", "vectors"}
    assert frames[0]["vectors"][1] == {"id": "v1", "vector": [1.0, 1.0], "metadata": {"n": 1}}
    assert host.violations == []
    assert (result.status, result.uploaded, result.rejected, result.messages) == (
        "partial",
        2497,
        3,
        3,
    )
    assert [(error.index, error.id) for error in result.errors] == [
        (5, "v5"),
        (1500, "v1500"),
        (2499, "v2499"),
    ]


async def test_upload_accepts_vector_records_and_reports_success() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        await client.init_session("s1")
        result = await client.upload_vectors([VectorRecord("a", [1.0, 2.0])])
    assert (result.status, result.uploaded, result.errors) == ("success", 1, [])
    assert host.frames("uploadVectors")[0]["vectors"] == [
        {"id": "a", "vector": [1.0, 2.0], "metadata": {}}
    ]


async def test_upload_rejects_a_record_without_a_vector_before_sending() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        await client.init_session("s1")
        with pytest.raises(ValueError, match="vector"):
            await client.upload_vectors([{"id": "a"}])
    assert host.frames("uploadVectors") == []


async def test_an_error_in_a_later_upload_message_says_how_many_went_in() -> None:
    refusal = Refusal("MEMORY_LIMIT_EXCEEDED", "too many uploads")
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        await client.init_session("s1")
        await client.upload_vectors(_vectors(1))
        host.refuse["uploadVectors"] = refusal
        with pytest.raises(ClientError) as caught:
            await client.upload_vectors(_vectors(10))
    assert caught.value.code == "MEMORY_LIMIT_EXCEEDED"
    assert caught.value.request_id == host.frames("uploadVectors")[-1]["requestId"]


async def test_a_search_error_frame_raises_the_mapped_class_with_its_request_id() -> None:
    refusal = Refusal("VECTORS_LOADING", "still loading")
    async with (
        fake_host(refuse={"searchVectors": refusal}) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1", vector_database=DATABASE)
        with pytest.raises(VectorsLoading) as caught:
            await client.search([1.0])
    assert caught.value.retryable
    assert caught.value.request_id == host.frames("searchVectors")[0]["requestId"]


async def test_an_error_naming_no_request_answers_the_oldest_waiting_request() -> None:
    refusal = Refusal("INVALID_MESSAGE", "frame too large", echo=False)
    async with (
        fake_host(refuse={"searchVectors": refusal}) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1")
        with pytest.raises(InvalidMessage, match="frame too large"):
            await client.search([1.0])


async def test_wait_loaded_raises_the_loading_error_code() -> None:
    async with (
        fake_host(load_events=FAILED_LOAD) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1", vector_database=DATABASE)
        with pytest.raises(ManifestNotFound) as caught:
            await client.wait_loaded()
        events = await _events(client)
    assert (caught.value.code, caught.value.message) == ("MANIFEST_NOT_FOUND", "no manifest")
    assert caught.value.session_id == "s1"
    assert [event.event for event in events] == ["manifest_downloaded", "loading_error"]


async def test_a_second_init_ends_the_first_sessions_progress_with_cancelled() -> None:
    script = {"load_events": LOAD, "emit": "before_replies"}
    async with fake_host(**script) as host, S5VecClient.connect(host.url) as client:
        await client.init_session("s1", vector_database=DATABASE)
        await client.upload_vectors(_vectors(1))
        old = client.progress()
        first = await anext(old)
        await client.init_session("s2", vector_database=DATABASE)
        with pytest.raises(Cancelled):
            await anext(old)
        await client.search([1.0])
        await client.search([1.0])
        new_events = [event.event for event in await _events_until(client, 2)]
    assert first.event == "manifest_downloaded"
    cancelled = {
        "type": "vector_loading_progress",
        "session_id": "s1",
        "payload": {"event": "loading_error", "error_code": "CANCELLED", "error": "replaced"},
    }
    ack = next(frame for frame in host.sent if frame.get("session_id") == "s2")
    # The host's CANCELLED for s1 came just before the s2 ack and is not s2's progress.
    assert host.sent[host.sent.index(ack) - 1] == cancelled
    assert new_events == ["manifest_downloaded", "chunk_downloaded"]


async def _events_until(client: S5VecClient, count: int) -> list[LoadingProgress]:
    events: list[LoadingProgress] = []
    async for event in client.progress():
        events.append(event)
        if len(events) == count:
            break
    return events


async def test_a_dropped_connection_fails_the_waiting_request_and_the_load() -> None:
    async with (
        fake_host(drop_on={"searchVectors"}, load_events=LOAD[:2]) as host,
        S5VecClient.connect(host.url) as client,
    ):
        await client.init_session("s1", vector_database=DATABASE)
        with pytest.raises(ClientError) as caught:
            await client.search([1.0])
        with pytest.raises(ClientError) as load_error:
            await client.wait_loaded()
        with pytest.raises(ClientError) as later:
            await client.search([1.0])
    assert caught.value.code == CONNECTION_CLOSED
    assert load_error.value.code == CONNECTION_CLOSED
    assert later.value.code == CONNECTION_CLOSED


async def test_no_reply_within_the_request_timeout_is_client_timeout() -> None:
    async with (
        fake_host(silent_on={"searchVectors"}) as host,
        S5VecClient.connect(host.url, request_timeout=0.05) as client,
    ):
        await client.init_session("s1", vector_database=DATABASE)
        with pytest.raises(ClientError) as caught:
            await client.search([1.0])
        with pytest.raises(ClientError) as load:
            await client.wait_loaded(timeout=0.05)
        # The connection is still usable after a timeout.
        ack = await client.init_session("s2")
    assert caught.value.code == CLIENT_TIMEOUT
    assert load.value.code == CLIENT_TIMEOUT
    assert ack.session_id == "s2"


async def test_progress_of_a_session_without_database_is_not_loading() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        with pytest.raises(ClientError) as before_init:
            await client.wait_loaded()
        await client.init_session("s1")
        with pytest.raises(ClientError) as caught:
            await _events(client)
    assert before_init.value.code == NOT_LOADING
    assert caught.value.code == NOT_LOADING
