"""The restart phase (issue 6): a restarted host serves what it loaded before from disk.

The largest size's server (its own fresh ``S5VEC_DATA_DIR``, persistence as configured)
has made its cold loads. :func:`before_restart` waits until that server has persisted an
index of every database it loaded (an index is saved once its graph has settled, so this
waits for the graph builds) and records the top-10 ids of ``ANSWER_QUERIES`` queries per
format. After that server has stopped, :func:`restarts` starts new ``s5vec serve``
processes on the same data directory one after the other; each warms up (the warm-up
database is restored too), then times init to ``loading_complete`` of every format (the
restored load), checks on ``/metrics`` that no vector came from storage, and compares its
answers with those from before the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.data import Dataset, Published
from benchmarks.measure import connect, init_and_load, top_ids, warm_up
from benchmarks.server import Server, start_server
from s5vec.cache.persisted import SUFFIX
from s5vec.server.services import PERSIST_DIR_NAME

ANSWER_QUERIES = 50
VECTORS_FROM_STORAGE = "s5_vectors_loaded_total"
_POLL_S = 0.5


def image_files(data_dir: Path) -> list[Path]:
    """The persisted index images in a server's data directory."""
    return sorted((data_dir / PERSIST_DIR_NAME).glob(f"*{SUFFIX}"))


async def wait_images(data_dir: Path, count: int, timeout_s: float) -> float | None:
    """Seconds until ``count`` images exist (saves are atomic renames), None after ``timeout_s``."""
    started = time.perf_counter()
    while len(image_files(data_dir)) < count:
        if time.perf_counter() - started > timeout_s:
            return None
        await asyncio.sleep(_POLL_S)
    return time.perf_counter() - started


@dataclass
class Before:
    """What the first server left behind: its data directory and its answers."""

    data_dir: Path
    waited_s: float
    answers: dict[str, list[list[str]]]


async def _host_key(
    stack: contextlib.AsyncExitStack, server: Server, published: dict[str, Published]
) -> bytes | None:
    """The host's public key when a format is encrypted (fetched before anything is timed)."""
    if not any(pub.encrypted for pub in published.values()):
        return None
    return await (await connect(stack, server)).host_public_key()


async def before_restart(
    server: Server,
    data_dir: Path,
    dataset: Dataset,
    published: dict[str, Published],
    timeout_s: float,
) -> Before | dict[str, Any]:
    """Wait for the images of the warm-up database and of every format, then take answers.

    Returns the not-measured report instead when the images are not all there in time.
    """
    expected = 1 + len(published)  # the warm-up database, then one per format
    waited = await wait_images(data_dir, expected, timeout_s)
    if waited is None:
        return not_measured(
            f"graph not built in {timeout_s:.0f} s",
            images_expected=expected,
            images_found=len(image_files(data_dir)),
        )
    answers: dict[str, list[list[str]]] = {}
    async with contextlib.AsyncExitStack() as stack:
        host_key = await _host_key(stack, server, published)
        for fmt_name, pub in published.items():
            client = await connect(stack, server)
            # A cache hit: the very index the image was written from.
            await init_and_load(client, pub, f"before-restart-{fmt_name}", host_key)
            answers[fmt_name] = await top_ids(client, dataset, ANSWER_QUERIES)
    return Before(data_dir, waited, answers)


def not_measured(reason: str, **details: Any) -> dict[str, Any]:
    """The phase's report when it could not run."""
    return {"measured": False, "reason": f"not measured: {reason}", **details}


async def _one_restart(
    server: Server,
    before: Before,
    dataset: Dataset,
    published: dict[str, Published],
    warmup: Published,
) -> dict[str, Any]:
    """Warm up a freshly started server, then restore and check every format on it."""
    await warm_up(server, warmup)
    formats: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        host_key = await _host_key(stack, server, published)
        for fmt_name, pub in published.items():
            from_storage = (await server.metrics()).get(VECTORS_FROM_STORAGE, 0.0)
            client = await connect(stack, server)
            load = await init_and_load(client, pub, f"restored-{fmt_name}", host_key)
            from_storage = (await server.metrics()).get(VECTORS_FROM_STORAGE, 0.0) - from_storage
            answers = await top_ids(client, dataset, ANSWER_QUERIES)
            formats[fmt_name] = {
                "load_s": load.load_s,
                "ack_ms": load.ack_ms,
                "server_duration_ms": load.server_duration_ms,
                "vector_count": load.vector_count,
                "vectors_from_storage": int(from_storage),
                "identical": answers == before.answers[fmt_name],
                "answers_differing": sum(
                    a != b for a, b in zip(answers, before.answers[fmt_name], strict=True)
                ),
            }
    return formats


async def restarts(
    before: Before,
    dataset: Dataset,
    published: dict[str, Published],
    cold_s: dict[str, float],
    warmup: Published,
    *,
    count: int,
    store: Path,
    logs: Path,
    server_env: dict[str, str],
    log: Any = print,
) -> dict[str, Any]:
    """``count`` new server processes on ``before.data_dir``; per format, restored against cold."""
    runs = []
    for attempt in range(1, count + 1):
        started = time.perf_counter()
        server = await start_server(
            store, before.data_dir, logs / f"server-restart-{attempt}.log", server_env
        )
        start_s = time.perf_counter() - started
        try:
            formats = await _one_restart(server, before, dataset, published, warmup)
        finally:
            code = await server.stop()
        runs.append({"start_s": start_s, "formats": formats, "server_exit_code": code})
        log(
            f"  restart {attempt}: up in {start_s:.2f} s; "
            + ", ".join(
                f"{fmt} {m['load_s'] * 1000:.0f} ms{'' if m['identical'] else ' (answers differ)'}"
                for fmt, m in formats.items()
            )
        )
    summary = {}
    for fmt_name in published:
        per_run = [run["formats"][fmt_name] for run in runs]
        times = [m["load_s"] for m in per_run]
        median = float(np.median(times))
        summary[fmt_name] = {
            "cold_load_s": cold_s[fmt_name],
            "restored_load_s": times,
            "restored_load_s_median": median,
            "restored_over_cold": median / cold_s[fmt_name],
            "ack_ms": [m["ack_ms"] for m in per_run],
            "server_duration_ms": [m["server_duration_ms"] for m in per_run],
            "vector_count": [m["vector_count"] for m in per_run],
            "vectors_from_storage": [m["vectors_from_storage"] for m in per_run],
            "restored": all(m["vectors_from_storage"] == 0 for m in per_run),
            "identical": all(m["identical"] for m in per_run),
            "answers_differing": [m["answers_differing"] for m in per_run],
        }
    images = image_files(before.data_dir)
    return {
        "measured": True,
        "reason": None,
        "vectors": dataset.count,
        "restarts": count,
        "queries": ANSWER_QUERIES,
        "images_wait_s": before.waited_s,
        "image_mb": sorted((path.stat().st_size / 2**20 for path in images), reverse=True),
        "start_s": [run["start_s"] for run in runs],
        "server_exit_codes": [run["server_exit_code"] for run in runs],
        "formats": summary,
    }
