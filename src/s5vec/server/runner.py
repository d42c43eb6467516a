"""Run the app in the foreground until SIGINT or SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Callable

import structlog
from aiohttp import web
from yarl import URL

from s5vec.config import Settings
from s5vec.index.heap import pin_trim_threshold
from s5vec.server.app import create_app, services_of
from s5vec.server.logs import configure_logging

SHUTDOWN_TIMEOUT_S = 10.0
"""How long in-flight HTTP requests get to finish once every socket was sent its close frame."""

GC_THRESHOLDS = (100_000, 50, 100)
"""Cyclic-GC thresholds of the server process (CPython's default is (700, 10, 10)).

Decoding a chunk makes ~10^5 short-lived dicts and lists; at the default thresholds they
trigger full collections that walk every live object several times per chunk. With these
(and the start-up objects frozen) a 100K x 384 CBOR load took ~20% less wall and CPU time
in the same process (docs/benchmarks.md). Everything the service keeps is packed into a few
large buffers, so collecting young objects less often costs little memory.
"""

log = structlog.get_logger("s5vec.server")


def run(settings: Settings) -> None:
    """Configure logging, serve until SIGINT or SIGTERM, and return after a clean shutdown."""
    configure_logging(settings.s5vec_log_format, settings.s5vec_log_level)
    tune_gc()
    pin_trim_threshold()  # from the first load on (index/heap.py)
    asyncio.run(serve(settings))


def tune_gc() -> None:
    """Move the objects made at start-up out of the collector's reach; collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


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
