"""Sampling profiles of the server process with py-spy, summarised per function.

``record`` samples the server (all threads, idle ones left out) while a phase runs and
writes py-spy's raw collapsed stacks; ``summarise`` turns them into the functions with the
largest share of samples, inclusive (on the stack) and self (at the top of the stack).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE_HZ = 200
TOP = 15
IDLE_LEAF = "EpollSelector.select "


@contextlib.asynccontextmanager
async def record(pid: int, output: Path) -> AsyncIterator[None]:
    """Sample ``pid`` into ``output`` (raw collapsed stacks) for the duration of the block."""
    process = await asyncio.create_subprocess_exec(
        PY_SPY,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        str(RATE_HZ),
        "--output",
        str(output),
        "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(0.5)  # let py-spy attach before the phase starts
    try:
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 60)


def _frame_name(frame: str) -> str:
    """``function (path/to/module.py:line)`` -> ``function (module.py)``."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    marker = "site-packages/"
    if marker in file:
        file = file.split(marker, 1)[1]
    elif "/src/" in file:
        file = file.split("/src/", 1)[1]
    return f"{name} ({file})"


def summarise(raw: Path, top: int = TOP) -> dict[str, Any]:
    """The ``top`` functions by inclusive and by self share of the samples in ``raw``."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not raw.exists():
        return {"samples": 0, "inclusive": [], "self": []}
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";")]
        if frames[-1].startswith(IDLE_LEAF):
            continue  # the event loop waiting for I/O, which py-spy counts as active
        total += count
        for name in set(frames[1:]):  # frames[0] is the thread
            inclusive[name] += count
        own[frames[-1]] += count

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "share": count / total} for name, count in counter.most_common(top)
        ]

    return {"samples": total, "inclusive": share(inclusive), "self": share(own)}
