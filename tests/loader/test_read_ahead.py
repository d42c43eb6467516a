"""How many chunks of one load are fetched ahead: bounded by the cores for a local store."""

from __future__ import annotations

import asyncio

import pytest

from s5vec.formats.paths import chunk_path
from s5vec.loader import LoadRequest
from s5vec.storage.memory import FakeMemoryStorage
from tests.loader.conftest import LoaderMaker
from tests.loader.dbs import OWNER, database, db_path
from tests.loader.fakes import Events, GatedStorage, until

PATH = db_path()
CHUNKS = 12


@pytest.mark.parametrize(
    ("remote", "expected"),
    [(False, 2 + 2), (True, 10)],
    ids=["local-store-reads-ahead-by-the-cores", "remote-store-keeps-every-parallel-fetch"],
)
async def test_chunks_in_flight(
    remote: bool, expected: int, new_loader: LoaderMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two cores whatever the machine: the local bound (cores + 2) then differs from the
    # remote one (max_parallel_chunks), so the local case fails if the bound is not applied.
    monkeypatch.setattr("s5vec.loader.loader.os.cpu_count", lambda: 2)
    gated = GatedStorage(FakeMemoryStorage(database((2,) * CHUNKS), remote=remote))
    gates = [gated.hold(chunk_path(PATH, chunk)) for chunk in range(CHUNKS)]
    loader = new_loader(gated, max_parallel_chunks=10)
    events = Events()
    load = asyncio.create_task(loader.load(LoadRequest(PATH, OWNER), events))
    await until(lambda: len(gated.waiting) == expected)
    for _ in range(20):  # let any fetch beyond the bound start, if the loader would allow it
        await asyncio.sleep(0)
    assert len(gated.waiting) == expected
    for gate in gates:
        gate.set()
    handle = await load
    assert handle.vector_count == 2 * CHUNKS
    handle.release()
