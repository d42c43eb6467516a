"""Structured logs (SPEC section 8): structlog, one event per line, stdlib logging routed in.

``configure_logging`` runs once at start-up (``run``), never on import: it owns the root
logger's handler, so every ``logging.getLogger(__name__)`` line of the lower layers and every
``structlog`` line go through one formatter, console or JSON. Context bound with
``structlog.contextvars.bind_contextvars`` (the connection id here, the session id in the
sessions layer) is merged into every line, stdlib ones included, of the task that bound it and
of the tasks it starts.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["console", "json"]
LogLevel = Literal["debug", "info", "warning", "error"]


def configure_logging(fmt: LogFormat, level: LogLevel, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging to ``stream`` (default stderr), one line per event."""
    # Python warnings (numpy overflow and the like) become log events too, not raw stderr.
    logging.captureWarnings(True)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # Tracebacks become text first (format_exc_info), so no renderer ever prints locals.
    render: list[Processor]
    if fmt == "json":
        render = [structlog.processors.JSONRenderer(serializer=_json)]
    else:
        console = structlog.dev.ConsoleRenderer(
            colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
        )
        render = [_one_line, console]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            *render,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log would add a line per request, health probes included.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _json(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _one_line(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """Keep a traceback on its event's line: the console renderer would print it below."""
    exception = event.pop("exception", None)
    if exception is not None:
        event["exc"] = " | ".join(line for line in str(exception).splitlines() if line.strip())
    return event
