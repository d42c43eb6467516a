"""Isolation between users and keys (SPEC sections 2, 5 and 9).

- A cached index is never served to a session with another key, nor to a keyless one: the
  cache key holds a hash of the session key (the reference host's cache let any session
  naming a cached path read it).
- A plain ``session_init`` carries no key, so it cannot load an encrypted database.
- An encrypted init signed by anyone but ``userAddress`` is refused before anything is read.
- Nothing under ``S5VEC_DATA_DIR`` holds an encrypted database's content in the clear.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import numpy as np
import pytest

from s5vec.crypto.envelope import seal_session_init
from s5vec.crypto.secp256k1 import generate_private_key, public_key_from_private
from tests.faults.store import FaultyStore
from tests.reliability.harness import HOST_KEY, HostFactory, file_contents
from tests.reliability.wire import Frame, Peer, encrypted_init, peer, plain_init, search
from tests.server.helpers import OWNER, OWNER_KEY, SESSION_KEY, Database, publish

OTHER_KEY = bytes(range(200, 232))


async def init(p: Peer, message: Frame) -> Frame:
    """Send an init; return its reply (ack or error)."""
    return await p.request(message)


async def end_of(p: Peer, session_id: str) -> Frame:
    """The session's terminal progress payload (exactly one)."""
    end = await p.outcome(session_id)
    assert p.terminals(session_id) == [end]
    return end


async def refused_everything(p: Peer, session_id: str, db: Database) -> str:
    """The session's load failed and no search returns any of ``db``'s vectors; its code."""
    end = await end_of(p, session_id)
    assert end["event"] == "loading_error", end
    reply = await p.request(search(db.vectors[0].tolist(), k=5))
    assert reply["type"] == "error", reply
    assert reply["code"] == end["error_code"]
    assert not any(f.get("type") == "searchVectorsResponse" for f in p.seen)
    code: str = end["error_code"]
    return code


async def loaded(p: Peer, session_id: str, db: Database) -> None:
    """The session loaded ``db`` and finds its vectors."""
    end = await end_of(p, session_id)
    assert end["event"] == "loading_complete", end
    reply = await p.request(search(db.vectors[1].tolist(), k=1))
    assert reply["results"][0]["id"] == db.ids[1]


@pytest.mark.parametrize("mixed", [False, True], ids=["all-encrypted", "plain-manifest"])
async def test_a_cached_index_is_never_served_without_its_key(
    mixed: bool, store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "private", key=SESSION_KEY)
    if mixed:  # deployed clients write a plaintext manifest beside encrypted chunks
        plain_twin = await publish(store.files, "twin", fmt="cbor")  # same counts
        await store.files.put(db.manifest_path, await store.files.get(plain_twin.manifest_path))
    host = await start_host()
    async with peer(http, host.ws_url) as owner, peer(http, host.ws_url) as prober:
        ack = await init(owner, encrypted_init("owner", HOST_KEY, OWNER_KEY, SESSION_KEY, *db.spec))
        assert ack["type"] == "session_init_ack"
        await loaded(owner, "owner", db)
        assert len(host.services.cache) == 1  # the index is cached and leased

        wrong = encrypted_init("wrong-key", HOST_KEY, OWNER_KEY, OTHER_KEY, *db.spec)
        assert (await init(prober, wrong))["type"] == "session_init_ack"
        assert await refused_everything(prober, "wrong-key", db) == "DECRYPTION_FAILED"

        keyless = plain_init("no-key", db.manifest_path, OWNER)
        assert (await init(prober, keyless))["type"] == "session_init_ack"
        code = await refused_everything(prober, "no-key", db)
        assert code in (
            {"INVALID_SESSION_KEY", "CHUNK_PARSE_ERROR"} if mixed else {"INVALID_SESSION_KEY"}
        )

        # The owner's session was never disturbed, and the right key still gets the index.
        reply = await owner.request(search(db.vectors[2].tolist(), k=1))
        assert reply["results"][0]["id"] == db.ids[2]
        again = encrypted_init("again", HOST_KEY, OWNER_KEY, SESSION_KEY, *db.spec)
        assert (await init(prober, again))["type"] == "session_init_ack"
        await loaded(prober, "again", db)


async def test_a_plain_session_cannot_load_an_encrypted_database(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "private", key=SESSION_KEY, fmt="json")
    host = await start_host()
    async with peer(http, host.ws_url) as p:
        assert (await init(p, plain_init("s", db.manifest_path, OWNER)))[
            "type"
        ] == "session_init_ack"
        assert await refused_everything(p, "s", db) == "INVALID_SESSION_KEY"


@pytest.mark.parametrize("eip191", [False, True], ids=["raw-digest", "eip191"])
async def test_a_signer_other_than_user_address_is_refused_before_any_read(
    eip191: bool, store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "victim", key=SESSION_KEY)
    host = await start_host()
    attacker = generate_private_key()
    before = len(store.hits)
    async with peer(http, host.ws_url) as p:
        message = encrypted_init("s", HOST_KEY, attacker, SESSION_KEY, *db.spec)
        if eip191:
            body = {
                "sessionKey": "0x" + SESSION_KEY.hex(),
                "vectorDatabase": {"manifestPath": db.manifest_path, "userAddress": OWNER},
            }
            message["payload"] = seal_session_init(
                body, public_key_from_private(HOST_KEY), attacker, eip191=True
            )
        reply = await init(p, message)
        assert reply["type"] == "error", reply
        assert reply["code"] == "OWNER_MISMATCH"
        assert reply["session_id"] == "s"
        assert not p.progress("s")
    assert store.hits[before:] == []  # nothing was fetched for the refused init


async def test_a_path_under_another_address_is_refused_even_when_signed(
    store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    victim = "0x" + "5a" * 20
    path = f"home/vector-databases/{victim}/docs/manifest.json"
    host = await start_host()
    async with peer(http, host.ws_url) as p:
        reply = await init(p, encrypted_init("s", HOST_KEY, OWNER_KEY, SESSION_KEY, path, OWNER))
        assert reply["code"] == "OWNER_MISMATCH", reply
        reply = await init(p, plain_init("t", path, OWNER))
        assert reply["code"] == "OWNER_MISMATCH", reply


async def test_the_data_directory_never_holds_an_encrypted_database_in_the_clear(
    tmp_path: Path, store: FaultyStore, start_host: HostFactory, http: aiohttp.ClientSession
) -> None:
    db = await publish(store.files, "private", (40, 40), dims=32, key=SESSION_KEY)
    host = await start_host()
    unit = db.vectors / np.linalg.norm(db.vectors, axis=1, keepdims=True)
    needles = [db.ids[5].encode(), db.ids[50].encode(), db.manifest_path.encode()]
    needles += [unit[row].astype(np.float32).tobytes()[:32] for row in (3, 60)]
    async with peer(http, host.ws_url) as p:
        await init(p, encrypted_init("s", HOST_KEY, OWNER_KEY, SESSION_KEY, *db.spec))
        await loaded(p, "s", db)

        def clean() -> bool:
            return not any(
                needle in content
                for _, content in file_contents(tmp_path / "data")
                for needle in needles
            )

        assert clean(), "decrypted content found under S5VEC_DATA_DIR while loaded"
    await host.stop()
    assert clean(), "decrypted content found under S5VEC_DATA_DIR after shutdown"
