"""`make demo`: publish an encrypted sample database, serve it, search it over an encrypted session.

Everything lives in a temporary directory (store, data dir) and the server runs on a free
port on 127.0.0.1; it is stopped with SIGTERM at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from s5vec.client import S5VecClient
from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import generate_private_key, public_key_from_private
from s5vec.storage.local import LocalStorage
from s5vec.tools.publish import PublishOptions, publish
from s5vec.tools.sources import open_source

SAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "quickstart.jsonl"


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, timeout_s: float = 60.0) -> None:
    """Poll /health until the server answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("demo: the server did not become healthy")


async def run_demo(store: Path, port: int) -> None:
    """Publish, then open an encrypted session, wait for the load and search."""
    signer = generate_private_key()
    owner = address_from_public_key(public_key_from_private(signer, compressed=False))
    session_key = os.urandom(32)
    storage = LocalStorage(store)
    result = await publish(
        open_source(SAMPLE), storage, PublishOptions(owner, "demo", "cbor", session_key, 4)
    )
    print(f"published {result.vector_count} encrypted vectors at {result.manifest_path}")
    async with S5VecClient.connect(f"ws://127.0.0.1:{port}/v1/ws") as client:
        ack = await client.init_encrypted_session(
            "demo-session",
            signer,
            session_key,
            chain_id=84532,
            vector_database=(result.manifest_path, owner),
        )
        print(f"encrypted session acknowledged for {ack.client_address}")
        done = await client.wait_loaded(timeout=60)
        print(f"loaded {done.vector_count} vectors in {done.duration_ms} ms")
        reply = await client.search([0.9, 0.1, 0.05, 0.2], k=3)
        for hit in reply.results:
            print(f"  {hit.score:.3f}  {hit.id}  {hit.metadata.get('title', '')}")


def main() -> None:
    """Run the demo end to end and stop the server."""
    with tempfile.TemporaryDirectory(prefix="s5vec-demo-") as work:
        store, port = Path(work) / "s5", free_port()
        env = {
            **os.environ,
            "S5VEC_PORT": str(port),
            "S5_LOCAL_DIR": str(store),
            "S5VEC_DATA_DIR": str(Path(work) / "data"),
        }
        env.pop("HOST_PRIVATE_KEY", None)
        server = subprocess.Popen([Path(sys.executable).parent / "s5vec", "serve"], env=env)
        try:
            wait_healthy(port)
            asyncio.run(run_demo(store, port))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print("demo finished; server stopped")


if __name__ == "__main__":
    main()
