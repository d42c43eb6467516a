"""Shared plumbing of the WebSocket fuzz tests: settings, the host under attack, one exchange.

Each hypothesis example opens its own socket on one long-lived host, sends its hostile frame,
checks the reply, then checks the socket still answers (the protocol keeps it open for every
such input). A bystander socket with a loaded database must keep answering throughout.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from hypothesis import HealthCheck, settings

from tests.faults.store import FaultyStore
from tests.reliability.harness import Figures, eventually
from tests.reliability.wire import Frame, Peer, peer, plain_init, search
from tests.server.helpers import OWNER, Database, RunningHost, publish

_HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
FUZZ = settings(
    max_examples=int(os.environ.get("S5VEC_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=_HEALTH,
)
"""Default run: a few dozen cases per message type (``S5VEC_FUZZ_EXAMPLES`` overrides)."""
SOAK = settings(max_examples=1500, deadline=None, suppress_health_check=_HEALTH)
"""``make soak``: many more cases per message type."""

REPLY_WAIT_S = 5.0
"""Every reply comes at once; this only bounds a missing one."""
PROBE: Frame = {"type": "s5vec.reliability.probe"}
"""An unknown type: the reply (UNKNOWN_MESSAGE_TYPE) proves the socket still reads and answers."""


@dataclass
class Target:
    """The host under attack, its store, the bystander and where to count cases."""

    host: RunningHost
    store: FaultyStore
    http: aiohttp.ClientSession
    bystander: Peer
    bystander_db: Database
    figures: Figures
    heading: str
    opened: list[Peer] = field(default_factory=list)

    async def exchange(self, message: Frame | str | bytes) -> tuple[Frame, Peer]:
        """Open a socket, send ``message`` (a frame, raw text or binary), and return the
        reply plus the still-open socket (the caller closes it via ``probe``)."""
        self.figures.tally(self.heading)
        ws = await self.http.ws_connect(self.host.ws_url, max_msg_size=0)
        p = Peer(ws)
        self.opened.append(p)
        await p.receive()  # connected
        return await ask(p, message), p

    async def probe(self, p: Peer) -> None:
        """The socket survived: it answers the next message; then close it."""
        try:
            reply = await p.request(PROBE, REPLY_WAIT_S)
            assert reply["type"] == "error", reply
            assert reply["code"] == "UNKNOWN_MESSAGE_TYPE", reply
        finally:
            await p.ws.close()

    async def bystander_ok(self) -> None:
        """The bystander's loaded session still answers searches correctly."""
        db = self.bystander_db
        reply = await self.bystander.request(search(db.vectors[1].tolist(), k=1))
        assert reply["type"] == "searchVectorsResponse", reply
        assert reply["results"][0]["id"] == db.ids[1]


@asynccontextmanager
async def open_target(
    store: FaultyStore, host: RunningHost, http: aiohttp.ClientSession, figures: Figures, name: str
) -> AsyncIterator[Target]:
    """A bystander loads a database on ``host``; on exit check it was never disturbed and
    that every fuzz socket is gone from the host."""
    db = await publish(store.files, "bystander", (5, 5), dims=4, seed=11)
    async with peer(http, host.ws_url) as bystander:
        ack = await bystander.request(plain_init("bystander", db.manifest_path, OWNER))
        assert ack["type"] == "session_init_ack"
        assert (await bystander.outcome("bystander"))["event"] == "loading_complete"
        fuzz = Target(host, store, http, bystander, db, figures, f"fuzz cases: {name}")
        yield fuzz
        for opened in fuzz.opened:  # those a failed example left open
            await opened.ws.close()
        await fuzz.bystander_ok()
        assert not [f for f in bystander.seen if f.get("code") == "INTERNAL_ERROR"]
    hub = host.services.hub
    await eventually(lambda: hub.connections == 0, "every fuzz socket closed on the host")


async def ask(p: Peer, message: Frame | str | bytes) -> Frame:
    """Send ``message`` on ``p`` and return its reply.

    A frame gets a fresh id and its reply is the frame echoing it, unless the host cannot
    parse it (an integer past float64, say): then, like raw text and binary frames, its reply
    is the next ``error`` frame.
    """
    if isinstance(message, dict):
        if host_view(message) is not ...:
            return await p.request(message, REPLY_WAIT_S)
        message = json.dumps(message)
    if isinstance(message, str):
        await p.send_text(message)
    else:
        await p.ws.send_bytes(message)
    return await p.until(lambda f: f.get("type") == "error" and "id" not in f, REPLY_WAIT_S)


def host_view(message: Any) -> Any:
    """``message`` as the host's parser sees it once sent as JSON, or ``...`` if it cannot."""
    return parses(json.dumps(message, allow_nan=False))


def parses(text: str | bytes) -> Any:
    """What the host's parser makes of ``text``: the value, or ``...`` when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return ...


def error_code(reply: Frame) -> str | None:
    """The ``code`` of an ``error`` reply, else None."""
    return reply.get("code") if reply.get("type") == "error" else None
