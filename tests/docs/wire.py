"""Comparing live frames with documented ones, and a small WebSocket helper for the docs tests."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest

VARIABLE = frozenset({"duration_ms", "searchTimeMs", "load_time_ms", "sessions", "version"})
"""Keys whose values change from run to run: only their JSON type is compared."""
SCORE_TOLERANCE = 2e-4
"""Documented scores are rounded to 4 decimals."""
TERMINAL = ("loading_complete", "loading_error")


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value) if value is None else "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_like(live: Any, documented: Any, where: str = "$") -> None:
    """``live`` has the documented shape: the same keys, types and stable values.

    Values under ``VARIABLE`` keys are compared by type, ``score`` approximately, and
    ``message`` texts with their numbers masked (they quote durations).
    """
    if isinstance(documented, dict):
        assert isinstance(live, dict), f"{where}: expected an object, got {live!r}"
        assert sorted(live) == sorted(documented), (
            f"{where}: keys {sorted(live)} but the docs show {sorted(documented)}"
        )
        for key, value in documented.items():
            at = f"{where}.{key}"
            if key in VARIABLE:
                assert _kind(live[key]) == _kind(value), f"{at}: {live[key]!r} vs {value!r}"
            elif key == "score":
                assert live[key] == pytest.approx(value, abs=SCORE_TOLERANCE), at
            elif key == "message" and isinstance(value, str) and isinstance(live[key], str):
                mask = re.compile(r"\d+")
                assert mask.sub("N", live[key]) == mask.sub("N", value), f"{at}: {live[key]!r}"
            else:
                assert_like(live[key], value, at)
    elif isinstance(documented, list):
        assert isinstance(live, list), f"{where}: expected a list, got {live!r}"
        assert len(live) == len(documented), f"{where}: {len(live)} items: {live!r}"
        for index, (got, want) in enumerate(zip(live, documented, strict=True)):
            assert_like(got, want, f"{where}[{index}]")
    else:
        assert live == documented, f"{where}: live {live!r}, documented {documented!r}"


class Wire:
    """One WebSocket to the host: send JSON objects, receive JSON objects."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any]) -> None:
        """Send ``frame`` as a JSON text frame."""
        await self.ws.send_str(json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        """The next frame (the test's own timeout bounds the wait)."""
        message = await self.ws.receive()
        assert message.type is aiohttp.WSMsgType.TEXT, message
        frame: dict[str, Any] = json.loads(message.data)
        return frame

    async def until_loaded(self, session_id: str) -> list[dict[str, Any]]:
        """This session's progress frames, up to and including its terminal event."""
        frames = []
        while True:
            frame = await self.recv()
            assert frame["type"] == "vector_loading_progress", frame
            assert frame["session_id"] == session_id, frame
            frames.append(frame)
            if frame["payload"]["event"] in TERMINAL:
                return frames
