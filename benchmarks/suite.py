"""One benchmark size end to end: publish, baselines, then the real server over WebSocket."""

from __future__ import annotations

import contextlib
import gc
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import baselines, profile
from benchmarks import restart as restart_phase
from benchmarks.concurrency import SharedDatabase, concurrent_sessions
from benchmarks.data import Dataset, Published, make_dataset, publish_dataset
from benchmarks.measure import (
    Load,
    cache_hits,
    cold_load,
    connect,
    searches,
    warm_up,
)
from benchmarks.server import Server, fresh_data_dir, start_server

WARMUP_VECTORS = 500
FORMATS = {"cbor": ("cbor", False), "json-enc": ("json", True)}
"""Benchmark format name -> (file format, AES-GCM encrypted)."""


@dataclass
class Settings:
    """What to run (from the command line)."""

    sizes: list[int]
    formats: list[str]
    queries: int
    cache_hit_repeats: int
    sessions: int
    session_sizes: list[int]
    chunk_size: int
    work_dir: Path
    server_env: dict[str, str] = field(default_factory=dict)
    graph_timeout_s: float = 600.0
    graph_threshold: int = 20_000
    restarts: int = 3
    persist: bool = True
    profile_dir: Path | None = None
    log: Any = print


def label(n: int) -> str:
    """``1K``, ``100K``, ``1M``, ``500``."""
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}K"
    return str(n)


def _seed(n: int) -> int:
    return 1000 + n % 100_003


async def publish_formats(
    settings: Settings, store: Path, dataset: Dataset, name: str, formats: list[str]
) -> dict[str, Published]:
    """Publish ``dataset`` once per format as ``<name>-<format>``."""
    out = {}
    for fmt_name in formats:
        fmt, encrypted = FORMATS[fmt_name]
        out[fmt_name] = await publish_dataset(
            store, dataset, f"{name}-{fmt_name}", fmt, encrypted, settings.chunk_size
        )
    return out


def _baselines(
    settings: Settings, dataset: Dataset, published: dict[str, Published]
) -> tuple[baselines.ExactSearch, dict[str, Any]]:
    log = settings.log
    result: dict[str, Any] = {"bare_decode": {}, "s5vec_decode": {}, "file_mb": {}}
    for fmt_name, pub in published.items():
        result["file_mb"][fmt_name] = baselines.file_sizes(pub) / 2**20
        result["bare_decode"][fmt_name] = baselines.bare_decode(pub)
        result["s5vec_decode"][fmt_name] = baselines.s5vec_decode(pub)
        gc.collect()
        log(
            f"  baseline decode {fmt_name}: bare {result['bare_decode'][fmt_name]['seconds']:.3f}"
            f" s, s5vec {result['s5vec_decode'][fmt_name]['seconds']:.3f} s"
        )
    exact = baselines.exact_search(dataset.vectors, dataset.queries, dataset.filter_mask())
    result["exact_search"] = exact.summary()
    log(f"  baseline exact search p50 {exact.timing['p50_ms']:.2f} ms")
    library = baselines.hnswlib_baseline(dataset.vectors, dataset.queries, exact.truth)
    result["hnswlib"] = library.summary()
    log(
        f"  baseline hnswlib build {library.build_s:.2f} s, p50 "
        f"{library.search['p50_ms']:.3f} ms, recall@10 {library.recall_at_10:.3f}"
    )
    return exact, result


def _profiled(settings: Settings, server: Server, phase: str, profiles: dict[str, Any]):
    """py-spy around one phase when ``--profile`` is on; its summary lands in ``profiles``."""
    if settings.profile_dir is None:
        return contextlib.nullcontext()

    @contextlib.asynccontextmanager
    async def recording():
        raw = settings.profile_dir / f"{phase}.txt"
        async with profile.record(server.pid, raw):
            yield
        profiles[phase] = profile.summarise(raw)

    return recording()


async def _search_both(settings: Settings, load: Load, dataset: Dataset, exact) -> dict[str, Any]:
    return {
        "unfiltered": await searches(load.client, dataset, exact, False, settings.queries),
        "filtered": await searches(load.client, dataset, exact, True, settings.queries),
    }


async def _graph_phase(
    settings: Settings,
    server: Server,
    entry: dict[str, Any],
    load: Load,
    loaded_at: float,
    dataset: Dataset,
    exact: baselines.ExactSearch,
    idle: dict[str, float],
    phase: str,
) -> None:
    """Wait for the background graph (the server going idle), then search again."""
    idle_at, at_once = await server.wait_idle(settings.graph_timeout_s)
    graph = dataset.count >= settings.graph_threshold
    entry["graph_built"] = graph
    entry["graph_ready_after_complete_s"] = idle_at - loaded_at if graph else None
    # Idle from the first window on: the graph was in before the searches ended.
    entry["graph_ready_is_upper_bound"] = graph and at_once
    after = server.rss()
    entry["rss_graph"] = after
    entry["rss_growth_graph_mb"] = after["VmRSS"] - entry["rss"]["before_mb"]
    entry["rss_growth_from_idle_mb"] = after["VmRSS"] - idle["VmRSS"]
    entry["search_after_graph"] = {}
    for flt in ("unfiltered", "filtered"):
        async with _profiled(settings, server, f"{phase}-search-{flt}", entry["profiles"]):
            entry["search_after_graph"][flt] = await searches(
                load.client, dataset, exact, flt == "filtered", settings.queries
            )
    g = entry["search_after_graph"]["unfiltered"]
    ready = entry["graph_ready_after_complete_s"]
    settings.log(
        f"  graph {'none' if ready is None else f'{ready:.1f} s'} after "
        f"loading_complete; p50 {g['round_trip']['p50_ms']:.2f} ms, "
        f"recall {g['recall_at_10']:.3f}, RSS from idle "
        f"{entry['rss_growth_from_idle_mb']:+.1f} MiB"
    )


async def _server_size(
    settings: Settings,
    server: Server,
    dataset: Dataset,
    published: dict[str, Published],
    exact: baselines.ExactSearch,
    warmup: Published,
) -> dict[str, Any]:
    """Loads, cache hits, searches and memory of every format of one size on ``server``.

    Formats load one after the other on one server; earlier sessions stay open, so later
    RSS growth is incremental. Only the first format waits for its graph (the others would
    repeat it); their searches run while their graph builds.
    """
    log = settings.log
    await warm_up(server, warmup)
    await server.wait_idle(settings.graph_timeout_s)
    idle = server.rss()
    out: dict[str, Any] = {"idle_rss_mb": idle, "formats": {}}
    host_key: bytes | None = None
    async with contextlib.AsyncExitStack() as stack:
        for position, (fmt_name, pub) in enumerate(published.items()):
            phase = f"{label(dataset.count)}-{fmt_name}"
            if pub.encrypted and host_key is None:
                host_key = await (await connect(stack, server)).host_public_key()
            profiles: dict[str, Any] = {}
            async with _profiled(settings, server, f"{phase}-load", profiles):
                load, rss = await cold_load(stack, server, pub, f"cold-{fmt_name}", host_key)
            loaded_at = time.perf_counter()
            log(
                f"  {fmt_name}: ack {load.ack_ms:.1f} ms, load {load.load_s:.3f} s, "
                f"RSS {rss['loaded_mb'] - rss['before_mb']:+.1f} MiB"
            )
            entry: dict[str, Any] = {
                "ack_ms": load.ack_ms,
                "load_s": load.load_s,
                "server_duration_ms": load.server_duration_ms,
                "vector_count": load.vector_count,
                "rss": rss,
                "rss_growth_loaded_mb": rss["loaded_mb"] - rss["before_mb"],
                "rss_growth_peak_mb": rss["peak_mb"] - rss["before_mb"],
                "profiles": profiles,
                "search_after_complete": await _search_both(settings, load, dataset, exact),
            }
            if position == 0:
                await _graph_phase(
                    settings, server, entry, load, loaded_at, dataset, exact, idle, phase
                )
            entry["cache_hit"] = await cache_hits(server, pub, settings.cache_hit_repeats, host_key)
            log(f"  {fmt_name}: cache hit {entry['cache_hit']['load_ms_median']:.1f} ms")
            out["formats"][fmt_name] = entry
    return out


async def run_size(
    settings: Settings, n: int, warmup: Published, store: Path, logs: Path, *, restart: bool
) -> dict[str, Any]:
    """Everything measured at size ``n`` (and the restart phase if ``restart``); its files are
    removed afterwards."""
    log = settings.log
    name = label(n)
    log(f"[{name}] data and publishing")
    dataset = make_dataset(n, _seed(n), f"b{name.lower()}", settings.queries)
    started = time.perf_counter()
    published = await publish_formats(
        settings, store, dataset, f"bench-{name.lower()}", settings.formats
    )
    publish_s = time.perf_counter() - started
    log(f"[{name}] baselines")
    exact, base = _baselines(settings, dataset, published)
    log(f"[{name}] server")
    data_dir = fresh_data_dir(settings.work_dir, name)
    server = await start_server(store, data_dir, logs / f"server-{name}.log", settings.server_env)
    before: restart_phase.Before | dict[str, Any] | None = None
    try:
        measured = await _server_size(settings, server, dataset, published, exact, warmup)
        if restart and not settings.persist:
            before = restart_phase.not_measured("S5VEC_PERSIST_INDEXES is off")
        elif restart:
            log(f"[{name}] restart: waiting for the persisted indexes")
            restart_started = time.perf_counter()
            before = await restart_phase.before_restart(
                server, data_dir, dataset, published, settings.graph_timeout_s
            )
    finally:
        code = await server.stop()
    measured["server_exit_code"] = code
    result = {
        "vectors": n,
        "label": name,
        "publish_s": publish_s,
        "baselines": base,
        "server": measured,
    }
    if isinstance(before, restart_phase.Before):
        cold = {fmt: entry["load_s"] for fmt, entry in measured["formats"].items()}
        result["restart"] = await restart_phase.restarts(
            before,
            dataset,
            published,
            cold,
            warmup,
            count=settings.restarts,
            store=store,
            logs=logs,
            server_env=settings.server_env,
            log=log,
        )
        result["restart"]["wall_s"] = time.perf_counter() - restart_started
    elif before is not None:
        log(f"[{name}] restart: {before['reason']}")
        result["restart"] = before
    for pub in published.values():
        shutil.rmtree(pub.files[0].parent, ignore_errors=True)
    return result


async def run_concurrency(
    settings: Settings, warmup: Published, store: Path, logs: Path
) -> dict[str, Any]:
    """The concurrent-sessions test on its own fresh server."""
    log = settings.log
    log(f"[{settings.sessions} sessions] data and publishing")
    databases: list[SharedDatabase] = []
    for size_index, n in enumerate(settings.session_sizes):
        for copy in range(4):
            fmt_name = "json-enc" if copy == 3 else "cbor"
            name = f"s{label(n).lower()}x{copy}"
            dataset = make_dataset(n, 50_000 + 10 * size_index + copy, name, 20)
            pubs = await publish_formats(settings, store, dataset, name, [fmt_name])
            exact = baselines.exact_search(dataset.vectors, dataset.queries, dataset.filter_mask())
            databases.append(SharedDatabase(dataset, pubs[fmt_name], exact))
    server = await start_server(
        store,
        fresh_data_dir(settings.work_dir, "sessions"),
        logs / "server-sessions.log",
        settings.server_env,
    )
    try:
        await warm_up(server, warmup)
        await server.wait_idle(settings.graph_timeout_s)
        log(f"[{settings.sessions} sessions] running")
        result = await concurrent_sessions(server, databases, settings.sessions)
    finally:
        result_code = await server.stop()
    result["server_exit_code"] = result_code
    log(
        f"  {result['completed']}/{settings.sessions} loaded in {result['wall_s']:.2f} s, "
        f"errors {result['errors']}, cross-talk hits {result['cross_talk_hits']}"
    )
    return result


async def publish_warmup(settings: Settings, store: Path) -> Published:
    """The small database every server loads once before anything is measured."""
    dataset = make_dataset(WARMUP_VECTORS, 7, "warm", 1)
    return (await publish_formats(settings, store, dataset, "warm-up", ["cbor"]))["cbor"]
