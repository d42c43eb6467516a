"""A local S5-compatible HTTP store for development and tests: a dev server, not the S5 network.

``s5vec store serve --dir D --host H --port P`` runs it. It speaks the S5.js bridge API
(``/s5/fs/<path>``, listing, ``/health``) over directory ``D`` in the ``local`` backend's
layout and path rules (the file for S5 path ``P`` is ``D/P``, so it serves what
``s5vec publish --store D`` wrote), and serves every file by content at
``GET /s5/blob/<cid>`` (BLAKE3 CIDs; the files are hashed at startup, see ``blobindex``).
There is no network, no replication, no authentication: bind it to 127.0.0.1.

- ``create_app(root) -> web.Application``: the app, for embedding or aiohttp test servers.
- ``start(root, host, port) -> RunningDevStore``: serve in the background; ``.url``,
  ``await .stop()``; port 0 picks a free port.
- ``serve(root, host, port)``: serve until the task is cancelled (what the CLI awaits).
"""

from s5vec.devstore.app import create_app
from s5vec.devstore.runner import RunningDevStore, serve, start

__all__ = ["RunningDevStore", "create_app", "serve", "start"]
