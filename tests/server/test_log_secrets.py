"""Logs of a real ``s5vec serve`` (JSON format) never hold the session key or the host key."""

from __future__ import annotations

from pathlib import Path

import orjson

from s5vec.client import S5VecClient
from s5vec.storage.local import LocalStorage
from tests.server.helpers import HOST_PRIVATE_KEY, OWNER_KEY, SESSION_KEY, publish
from tests.server.process import serve_process


async def test_session_key_and_host_key_never_reach_the_logs(
    tmp_path: Path, free_port: int
) -> None:
    store = LocalStorage(tmp_path / "s5")
    db = await publish(store, "private-docs", key=SESSION_KEY)
    env = {
        "S5VEC_DATA_DIR": str(tmp_path / "data"),
        "S5_LOCAL_DIR": str(tmp_path / "s5"),
        "HOST_PRIVATE_KEY": "0x" + HOST_PRIVATE_KEY,
        "S5VEC_LOG_FORMAT": "json",
        "S5VEC_LOG_LEVEL": "debug",
    }
    async with serve_process(free_port, tmp_path / "serve.log", **env) as server:
        async with S5VecClient.connect(server.ws_url) as client:
            ack = await client.init_encrypted_session(
                "s-log", OWNER_KEY, SESSION_KEY, vector_database=db.spec, eip191=True
            )
            assert ack.client_address is not None
            await client.wait_loaded(timeout=60)
            found = await client.search(db.vectors[3].tolist(), k=1)
            assert found.results[0].id == "private-docs-3"
            # A second init on the same connection replaces the session (and logs it).
            await client.init_encrypted_session("s-log-2", OWNER_KEY, SESSION_KEY)
        assert await server.stop() == 0
        text = server.log()

    lowered = text.lower()
    for secret in (SESSION_KEY.hex(), HOST_PRIVATE_KEY, OWNER_KEY.hex()):
        assert secret not in lowered
    assert db.manifest_path.lower() not in lowered  # decrypted content of the init
    events = [orjson.loads(line) for line in text.splitlines()]
    session_lines = [e for e in events if e.get("logger", "").startswith("s5vec.sessions")]
    assert session_lines
    assert all(e.get("session_id") for e in session_lines), session_lines
    assert {"s-log", "s-log-2"} <= {e["session_id"] for e in session_lines}
    socket_lines = [e for e in events if e["event"].startswith("socket_")]
    assert socket_lines
    assert all(e.get("connection_id") for e in socket_lines)
