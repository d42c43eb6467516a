"""Run the app in the foreground until SIGINT or SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
from aiohttp import web
from yarl import URL

from s5vec.config import Settings
from s5vec.server.app import create_app, services_of
from s5vec.server.logs import configure_logging

SHUTDOWN_TIMEOUT_S = 10.0
"""How long in-flight HTTP requests get to finish once every socket was sent its close frame."""

log = structlog.get_logger("s5vec.server")


def run(settings: Settings) -> None:
    """Configure logging, serve until SIGINT or SIGTERM, and return after a clean shutdown."""
    configure_logging(settings.s5vec_log_format, settings.s5vec_log_level)
    asyncio.run(serve(settings))


async def serve(settings: Settings, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``settings``' app until SIGINT or SIGTERM; ``on_ready`` gets the listening URL."""
    log.info("configuration", **settings.masked_summary())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(
        create_app(settings), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.s5vec_host, settings.s5vec_port).start()
        host, port = runner.addresses[0][:2]
        url = str(URL.build(scheme="http", host=host, port=port))
        services = services_of(runner.app)
        log.info("storage", **services.storage_description())
        if services.host_key is not None:
            log.info("host_key", public_key=services.host_key.public_key_compressed_hex)
        else:
            log.warning(
                "no_host_key",
                reason=services.host_key_problem,
            )
        log.info("listening", url=url, websocket=url.replace("http", "ws", 1) + "/v1/ws")
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        log.info("shutting_down")
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await runner.cleanup()
    log.info("stopped")
