"""Persisted indexes at rest (SPEC section 9): an encrypted database's saved index is
unreadable without its session key, and a restarted host never serves it to another key.

The scan looks for the database's ids and its float32 unit vectors in every file under
``S5VEC_DATA_DIR``. As a control, the same scan must find them in the saved index of a
plaintext database (saved as a plain image), so a clean result means something.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import numpy as np
import pytest

from s5vec.config import Settings
from tests.faults.store import FaultyStore
from tests.reliability.harness import (
    HOST_KEY,
    Figures,
    HostFactory,
    eventually,
    file_contents,
    files_under,
)
from tests.reliability.wire import Peer, encrypted_init, peer, plain_init, search
from tests.server.helpers import OWNER, OWNER_KEY, SESSION_KEY, Database, publish

pytestmark = pytest.mark.skipif(
    "s5vec_persist_indexes" not in Settings.model_fields,
    reason="persisted indexes (SPEC 9) are not implemented yet",
)
OTHER_KEY = bytes(range(200, 232))
SAVE_WAIT_S = 30.0
SUFFIX = ".s5vi"


def saved(root: Path) -> list[Path]:
    """The saved index files."""
    return [path for path in files_under(root) if path.name.endswith(SUFFIX)]


def needles(db: Database) -> list[bytes]:
    """Bytes of ``db``'s content as an index image would hold them in the clear."""
    unit = db.vectors / np.linalg.norm(db.vectors, axis=1, keepdims=True)
    found = [db.ids[row].encode() for row in (4, 41, 77)]
    found += [unit[row].astype(np.float32).tobytes() for row in (4, 41, 77)]
    return found


def exposed(root: Path, db: Database) -> list[str]:
    """Files under ``root`` holding any of ``db``'s content in the clear."""
    return [
        str(path.relative_to(root))
        for path, content in file_contents(root)
        for needle in needles(db)
        if needle in content
    ]


async def load(p: Peer, session_id: str, message: dict[str, object]) -> dict[str, object]:
    """Send an init; return the load's terminal payload."""
    ack = await p.request(message)
    assert ack["type"] == "session_init_ack", ack
    end = await p.outcome(session_id)
    assert p.terminals(session_id) == [end]
    return end


async def test_an_encrypted_database_index_is_sealed_at_rest_and_never_served_to_another_key(
    tmp_path: Path,
    store: FaultyStore,
    start_host: HostFactory,
    http: aiohttp.ClientSession,
    figures: Figures,
) -> None:
    data = tmp_path / "data"
    secret = await publish(store.files, "secret", (50, 50), dims=32, key=SESSION_KEY)
    public = await publish(store.files, "public", (50, 50), dims=32, seed=5)
    host = await start_host()
    async with peer(http, host.ws_url) as p:
        spec = secret.spec
        end = await load(p, "enc", encrypted_init("enc", HOST_KEY, OWNER_KEY, SESSION_KEY, *spec))
        assert end["event"] == "loading_complete"
        await eventually(lambda: len(saved(data)) == 1, "the encrypted index saved", SAVE_WAIT_S)
        end = await load(p, "plain", plain_init("plain", public.manifest_path, OWNER))
        assert end["event"] == "loading_complete"
        await eventually(lambda: len(saved(data)) == 2, "the plain index saved", SAVE_WAIT_S)
    await host.stop()

    assert exposed(data, public), "control: the scan must see a plain image's content"
    assert exposed(data, secret) == [], "an encrypted database's index is readable at rest"

    restarted = await start_host()
    chunk_gets = sum(1 for hit in store.hits if "/secret/chunk-" in hit.key)
    async with peer(http, restarted.ws_url) as p:
        wrong = encrypted_init("wrong", HOST_KEY, OWNER_KEY, OTHER_KEY, *secret.spec)
        end = await load(p, "wrong", wrong)
        assert end.get("error_code") == "DECRYPTION_FAILED", end
        end = await load(p, "keyless", plain_init("keyless", secret.manifest_path, OWNER))
        assert end.get("error_code") == "INVALID_SESSION_KEY", end
        right = encrypted_init("right", HOST_KEY, OWNER_KEY, SESSION_KEY, *secret.spec)
        assert (await load(p, "right", right))["event"] == "loading_complete"
        found = await p.request(search(secret.vectors[9].tolist(), k=1))
        assert found["results"][0]["id"] == secret.ids[9]
    restored = chunk_gets == sum(1 for hit in store.hits if "/secret/chunk-" in hit.key)
    assert exposed(data, secret) == []
    figures.add(
        "persisted indexes at rest",
        f"{len(saved(data))} saved indexes; the encrypted one holds none of its ids or vectors "
        f"in the clear (the plaintext control does); after a restart a wrong key gets "
        f"DECRYPTION_FAILED, no key INVALID_SESSION_KEY, the right key "
        f"{'is restored from disk' if restored else 'reloads from storage'}",
    )
