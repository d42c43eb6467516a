"""The host service process: aiohttp app, WebSocket endpoint, start-up and shutdown.

- ``create_app(settings, *, storage=None) -> web.Application``: the app (services start with it).
- ``run(settings)``: configure logging and serve in the foreground until SIGINT/SIGTERM.
- ``serve(settings, on_ready=None)``: the same, awaitable, without configuring logging.
- ``serve_command``: the ``s5vec serve`` CLI command.
"""

from s5vec.server.app import create_app, services_of
from s5vec.server.command import serve_command
from s5vec.server.runner import run, serve

__all__ = ["create_app", "run", "serve", "serve_command", "services_of"]
