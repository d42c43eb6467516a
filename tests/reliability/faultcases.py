"""The fault matrix: each storage fault, where it strikes, and its documented outcome
(SPEC sections 3 and 7), plus the helpers that script it and check bystanders."""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass

from tests.faults.store import (
    Corrupt,
    Fault,
    FaultyStore,
    Latency,
    Reset,
    Stall,
    StallBody,
    Status,
    Truncate,
)
from tests.reliability.harness import DOWNLOAD_RETRIES
from tests.reliability.wire import Peer, plain_init, search
from tests.server.helpers import OWNER, Database

ATTEMPTS = DOWNLOAD_RETRIES + 1
RESET_GETS = 2 * ATTEMPTS
LOADED = "loaded"


@dataclass(frozen=True)
class Case:
    """One fault on one file of the victim database, and its documented outcome."""

    name: str
    target: str  # "manifest" or "chunk" (chunk 1), or "all" (every file of the database)
    faults: tuple[Fault, ...] = ()  # played once each, in order
    always: Fault | None = None  # met by every request
    outcome: str = LOADED  # or the loading_error code
    gets: int | tuple[int, int] | None = None
    """GETs of the target file: exact, or (at least, at most); None when not known."""
    encrypted: bool = False

    def gets_match(self, count: int) -> bool:
        """Whether ``count`` GETs of the target file are what this case expects."""
        if self.gets is None:
            return True
        low, high = (self.gets, self.gets) if isinstance(self.gets, int) else self.gets
        return low <= count <= high


def http_date(seconds_from_now: float) -> str:
    """An HTTP date ``seconds_from_now`` ahead (a ``Retry-After`` form)."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


CASES = [
    Case("latency-every-file", "all", always=Latency(0.3), gets=1),
    Case("500-once", "chunk", (Status(500),), gets=2),
    Case("502-then-503", "chunk", (Status(502), Status(503)), gets=3),
    Case("503-manifest-once", "manifest", (Status(503),), gets=2),
    Case("503-always", "chunk", always=Status(503), outcome="CHUNK_DOWNLOAD_FAILED", gets=3),
    Case(
        "504-manifest-always",
        "manifest",
        always=Status(504),
        outcome="MANIFEST_DOWNLOAD_FAILED",
        gets=ATTEMPTS,
    ),
    Case("429-retry-after-1s-once", "chunk", (Status(429, "1"),), gets=2),
    # An HTTP date an hour ahead: the wait is capped at the per-file timeout.
    Case("429-retry-after-date-once", "chunk", (Status(429, http_date(3600)),), gets=2),
    Case(
        "429-retry-after-1h-always",
        "chunk",
        always=Status(429, "3600"),
        outcome="CHUNK_DOWNLOAD_FAILED",
        gets=ATTEMPTS,
    ),
    # aiohttp itself retries a GET once when the connection drops before any reply (RFC 9112
    # 9.3.1.1), so the store may see two requests per attempt of the host.
    Case("reset-twice", "chunk", (Reset(), Reset()), gets=(2, RESET_GETS)),
    Case(
        "reset-always",
        "chunk",
        always=Reset(),
        outcome="CHUNK_DOWNLOAD_FAILED",
        gets=(ATTEMPTS, RESET_GETS),
    ),
    Case(
        "reset-manifest-always",
        "manifest",
        always=Reset(),
        outcome="MANIFEST_DOWNLOAD_FAILED",
        gets=(ATTEMPTS, RESET_GETS),
    ),
    Case("truncated-once", "chunk", (Truncate(0.5),), gets=2),
    Case(
        "truncated-always",
        "chunk",
        always=Truncate(0.9),
        outcome="CHUNK_DOWNLOAD_FAILED",
        gets=ATTEMPTS,
    ),
    Case("corrupt-chunk", "chunk", (Corrupt(),), outcome="CHUNK_PARSE_ERROR", gets=1),
    Case("corrupt-manifest", "manifest", (Corrupt(),), outcome="INVALID_SESSION_KEY", gets=1),
    Case(
        "corrupt-encrypted-chunk",
        "chunk",
        (Corrupt(),),
        outcome="DECRYPTION_FAILED",
        gets=1,
        encrypted=True,
    ),
    Case(
        "corrupt-encrypted-manifest",
        "manifest",
        (Corrupt(),),
        outcome="DECRYPTION_FAILED",
        gets=1,
        encrypted=True,
    ),
    Case("stall-once", "chunk", (Stall(),), gets=2),
    Case("stall-always", "chunk", always=Stall(), outcome="CHUNK_DOWNLOAD_FAILED", gets=3),
    Case("stall-mid-body-once", "chunk", (StallBody(0.5),), gets=2, encrypted=True),
    Case(
        "stall-mid-body-always",
        "manifest",
        always=StallBody(0.5),
        outcome="MANIFEST_DOWNLOAD_FAILED",
        gets=ATTEMPTS,
    ),
    Case("404-chunk", "chunk", always=Status(404), outcome="CHUNK_DOWNLOAD_FAILED", gets=1),
    Case("404-manifest", "manifest", always=Status(404), outcome="MANIFEST_NOT_FOUND", gets=1),
    Case("403-chunk", "chunk", always=Status(403), outcome="CHUNK_DOWNLOAD_FAILED", gets=1),
    Case(
        "400-manifest", "manifest", always=Status(400), outcome="MANIFEST_DOWNLOAD_FAILED", gets=1
    ),
]


def target_path(db: Database, target: str) -> str:
    """The S5 path (or pattern) a case's fault applies to."""
    directory = db.manifest_path.rsplit("/", 1)[0]
    return {
        "manifest": db.manifest_path,
        "chunk": f"{directory}/chunk-1.json",
        "all": f"{directory}/*",
    }[target]


def script(store: FaultyStore, case: Case, db: Database) -> str:
    """Put ``case``'s faults on ``db``; return the file whose GETs the case counts."""
    pattern = target_path(db, case.target)
    if case.faults:
        store.script.add(pattern, *case.faults)
    if case.always is not None:
        store.script.always(pattern, case.always)
    return db.manifest_path if case.target == "all" else pattern


async def open_plain(p: Peer, session_id: str, db: Database) -> None:
    """Init a plain session on ``db`` and check the ack."""
    ack = await p.request(plain_init(session_id, db.manifest_path, OWNER))
    assert ack["type"] == "session_init_ack", ack


async def check_search(p: Peer, db: Database, row: int = 2) -> None:
    """A search on ``p``'s loaded session finds ``db``'s own vector first."""
    reply = await p.request(search(db.vectors[row].tolist(), k=1))
    assert reply["type"] == "searchVectorsResponse", reply
    assert reply["results"][0]["id"] == db.ids[row]


async def keep_searching(p: Peer, db: Database, stop: asyncio.Event) -> int:
    """Search ``p``'s session until ``stop``; every search must be answered correctly."""
    answered = 0
    while not stop.is_set():
        await check_search(p, db, answered % len(db.ids))
        answered += 1
        await asyncio.sleep(0.02)
    return answered
