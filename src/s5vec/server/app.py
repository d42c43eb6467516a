"""The aiohttp application: routes of SPEC section 1 over the services of ``services``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import WSCloseCode, web

import s5vec
from s5vec.config import Settings
from s5vec.metrics import CONTENT_TYPE, Metrics
from s5vec.server.services import Services, open_services
from s5vec.server.websocket import handle_socket
from s5vec.storage.base import Storage

log = structlog.get_logger(__name__)

FEATURES = (
    "s5-vector-loading",
    "encrypted-vector-database-paths",
    "encrypted-session-init",
    "plaintext-session-init",
    "vector-upload",
    "vector-search",
    "metadata-filter",
    "index-cache",
)
HEALTH_TIMEOUT_S = 5.0
SHUTDOWN_MESSAGE = b"server shutting down"


@dataclass(slots=True)
class AppState:
    """Per-app state: fixed at creation, ``services`` while the app runs."""

    settings: Settings
    metrics: Metrics
    storage: Storage | None
    services: Services | None = None

    def running(self) -> Services:
        """The services, or HTTP 503 before start-up finished or after shutdown."""
        if self.services is None:
            raise web.HTTPServiceUnavailable(reason="not running")
        return self.services


STATE = web.AppKey("s5vec_state", AppState)


def create_app(settings: Settings, *, storage: Storage | None = None) -> web.Application:
    """The host service app; services start with the app (a ``storage`` given is not closed)."""
    app = web.Application()
    app[STATE] = AppState(settings, Metrics(), storage)
    app.cleanup_ctx.append(_services_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/v1/ws", _websocket)
    app.router.add_get("/health", _health)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/v1/version", _version)
    app.router.add_get("/v1/host-key", _host_key)
    return app


def services_of(app: web.Application) -> Services:
    """The running services of ``app`` (after start-up)."""
    return app[STATE].running()


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    async with open_services(state.settings, state.metrics, state.storage) as services:
        state.services = services
        try:
            yield
        finally:
            state.services = None


async def _close_sockets(app: web.Application) -> None:
    """Graceful shutdown: refuse new sockets, send 1001 (going away) on every open one."""
    services = app[STATE].services
    if services is None:
        return
    services.draining = True
    sockets = list(services.sockets)
    log.info("closing_sockets", count=len(sockets))
    await asyncio.gather(
        *(ws.close(code=WSCloseCode.GOING_AWAY, message=SHUTDOWN_MESSAGE) for ws in sockets),
        return_exceptions=True,
    )


async def _websocket(request: web.Request) -> web.StreamResponse:
    return await handle_socket(request.app[STATE].running(), request)


async def _health(request: web.Request) -> web.Response:
    services = request.app[STATE].running()
    storage = await _storage_health(services.storage)
    issues: list[str] = []
    if services.draining:
        issues.append("the server is shutting down")
    if not storage.get("healthy"):
        issues.append(f"the {services.storage.name} storage backend is not healthy")
    if services.host_key is None:
        issues.append("no host key: encrypted sessions are not supported")
    status = "unhealthy" if services.draining else "degraded" if issues else "healthy"
    body = {
        "status": status,
        "storage": storage,
        "sessions": services.hub.active_sessions,
        "issues": issues,
    }
    return web.json_response(body, status=503 if status == "unhealthy" else 200)


async def _storage_health(storage: Storage) -> dict[str, Any]:
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            return await storage.health()
    except TimeoutError:
        return {"backend": storage.name, "healthy": False, "error": "health check timed out"}


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[STATE].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def _version(request: web.Request) -> web.Response:
    services = request.app[STATE].running()
    features = [
        f for f in FEATURES if f != "encrypted-session-init" or services.host_key is not None
    ]
    return web.json_response({"version": s5vec.__version__, "features": features})


async def _host_key(request: web.Request) -> web.Response:
    services = request.app[STATE].running()
    if services.host_key is None:
        return web.json_response(
            {
                "error": "ENCRYPTION_NOT_SUPPORTED",
                "message": services.host_key_problem or "no host key",
            },
            status=503,
        )
    return web.json_response({"publicKey": services.host_key.public_key_compressed_hex})
