"""docs/protocol.md: every marked example is sent to (or compared with) a real host."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from s5vec.errors import ALL_ERRORS
from tests.docs.host import Host
from tests.docs.markdown import marked_blocks, read, region, table_rows
from tests.docs.wire import Wire, assert_like

# The shared docs host starts with the first test that uses it (a busy machine is slow).
pytestmark = pytest.mark.timeout(600)

DOC = read("docs/protocol.md")
EXAMPLES = marked_blocks(DOC, "example")
CODE_EXAMPLES = {"python-client", "js-client"}
"""Run by test_client_examples.py; every other example is JSON checked here."""
COVERED = {
    "http-health",
    "http-version",
    "http-host-key",
    "connected",
    "session-init",
    "session-init-ack",
    "progress-manifest-downloaded",
    "progress-chunk-downloaded",
    "progress-index-building",
    "progress-loading-complete",
    "upload-vectors",
    "upload-vectors-response",
    "search-vectors",
    "search-vectors-response",
    "search-vectors-bad-k",
    "search-vectors-bad-k-error",
    "unknown-type",
    "unknown-type-error",
    "session-init-bad-path",
    "session-init-bad-path-error",
    "encrypted-session-init",
    "encrypted-session-init-ack",
    "encrypted-session-init-bad-nonce",
    "encrypted-session-init-bad-nonce-error",
    "session-init-missing",
    "progress-loading-error",
}


def example(name: str) -> dict[str, object]:
    """The documented JSON of example ``name``."""
    value = EXAMPLES[name].json()
    assert isinstance(value, dict)
    return value


@pytest.fixture
async def wire(docs_host: Host) -> AsyncIterator[Wire]:
    """A socket to the docs host, past its ``connected`` greeting."""
    async with aiohttp.ClientSession() as http, http.ws_connect(docs_host.ws_url) as ws:
        connection = Wire(ws)
        assert_like(await connection.recv(), example("connected"))
        yield connection


def test_every_example_is_checked_by_a_test() -> None:
    assert set(EXAMPLES) == COVERED | CODE_EXAMPLES


def test_every_json_example_is_json() -> None:
    for name in COVERED:
        assert EXAMPLES[name].lang == "json", name
        example(name)


def test_http_examples_match_the_host(docs_host: Host) -> None:
    assert_like(docs_host.get_json("/health"), example("http-health"))
    assert_like(docs_host.get_json("/v1/version"), example("http-version"))
    assert_like(docs_host.get_json("/v1/host-key"), example("http-host-key"))


async def test_plain_session_examples_match_the_host(wire: Wire) -> None:
    await wire.send(example("session-init"))
    assert_like(await wire.recv(), example("session-init-ack"))

    frames = await wire.until_loaded("s1")
    events = [frame["payload"]["event"] for frame in frames]
    # The order the docs give for a cold load of the 3-chunk sample.
    assert events == [
        "manifest_downloaded",
        *(["chunk_downloaded"] * 3),
        "index_building",
        "loading_complete",
    ]
    by_event = {frame["payload"]["event"]: frame for frame in frames}
    assert_like(by_event["manifest_downloaded"], example("progress-manifest-downloaded"))
    assert_like(by_event["index_building"], example("progress-index-building"))
    assert_like(by_event["loading_complete"], example("progress-loading-complete"))
    chunk_doc = example("progress-chunk-downloaded")
    percent = chunk_doc["payload"]["percent"]  # type: ignore[index]
    [chunk_live] = [f for f in frames if f["payload"].get("percent") == percent]
    # Chunks arrive in any order: the chunk id is the only field that may differ.
    chunk_doc["payload"]["chunk_id"] = chunk_live["payload"]["chunk_id"]  # type: ignore[index]
    assert_like(chunk_live, chunk_doc)

    for request, reply in (
        ("upload-vectors", "upload-vectors-response"),
        ("search-vectors", "search-vectors-response"),
        ("search-vectors-bad-k", "search-vectors-bad-k-error"),
        ("unknown-type", "unknown-type-error"),
        ("session-init-bad-path", "session-init-bad-path-error"),
    ):
        await wire.send(example(request))
        assert_like(await wire.recv(), example(reply))


async def test_encrypted_session_examples_match_the_host(wire: Wire) -> None:
    await wire.send(example("encrypted-session-init"))
    assert_like(await wire.recv(), example("encrypted-session-init-ack"))
    frames = await wire.until_loaded("s2")
    assert frames[-1]["payload"]["event"] == "loading_complete", frames[-1]

    await wire.send(example("encrypted-session-init-bad-nonce"))
    assert_like(await wire.recv(), example("encrypted-session-init-bad-nonce-error"))


async def test_loading_error_example_matches_the_host(wire: Wire) -> None:
    await wire.send(example("session-init-missing"))
    ack = await wire.recv()
    assert ack["type"] == "session_init_ack", ack
    [frame] = await wire.until_loaded("s3")
    assert_like(frame, example("progress-loading-error"))


def test_error_table_lists_every_wire_code_once() -> None:
    codes = [row[0].strip("`") for row in table_rows(region(DOC, "error-table"))]
    assert len(codes) == len(set(codes)), codes
    assert set(codes) == {error.code for error in ALL_ERRORS}


def test_error_table_frames_are_known_kinds() -> None:
    for row in table_rows(region(DOC, "error-table")):
        assert set(row[1].replace(" or ", " ").split()) <= {"E", "L", "U"}, row
        assert row[2], row
        assert row[3], row


def test_documented_client_frames_decode_as_the_host_declares_them() -> None:
    # Every documented client message decodes with the host's own message structs.
    from s5vec.sessions.messages import (
        EncryptedSessionInitMessage,
        SearchVectorsMessage,
        SessionInitMessage,
        UploadVectorsMessage,
        decode,
        decode_init,
    )

    kinds = {
        "session_init": lambda m: decode_init(m, SessionInitMessage),
        "encrypted_session_init": lambda m: decode_init(m, EncryptedSessionInitMessage),
        "uploadVectors": lambda m: decode(m, UploadVectorsMessage),
        "searchVectors": lambda m: decode(m, SearchVectorsMessage),
    }
    decoded = set()
    for name in sorted(COVERED - {"search-vectors-bad-k"}):  # that one is invalid on purpose
        message = example(name)
        decoder = kinds.get(str(message.get("type")))
        if decoder is not None:
            decoder(message)
            decoded.add(message["type"])
    assert decoded == set(kinds)
