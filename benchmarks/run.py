"""``make bench``: publish seeded databases, run the real server, compare with baselines.

    python -m benchmarks.run                 # 1K, 10K, 100K; 50 sessions (< 10 min)
    python -m benchmarks.run --large         # adds 1M (sets VECTOR_MEMORY_LIMIT_MB)
    python -m benchmarks.run --sizes 500 --sessions 3 --out-dir /tmp/bench   # smoke run
    python -m benchmarks.run --sizes 100000 --sessions 0 --out-dir /tmp/restart  # 100K + restart

Writes ``benchmarks.json``, ``benchmarks.png`` and the results part of ``benchmarks.md``
(default: ``docs/``). See docs/benchmarks.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from benchmarks import report, tables
from benchmarks.suite import (
    FORMATS,
    Settings,
    publish_warmup,
    run_concurrency,
    run_size,
)
from s5vec.config import Settings as ServerSettings

DEFAULT_SIZES = [1_000, 10_000, 100_000]
LARGE_SIZE = 1_000_000
LARGE_ENV = {
    "VECTOR_MEMORY_LIMIT_MB": "4096",
    "VECTOR_CACHE_MAX_MEMORY_MB": "8192",
    "S5VEC_PERSIST_MAX_MB": "16384",
}
"""1M x 384 needs ~1.7 GiB by the SPEC section 3 estimate: over the 500 MiB default; its
persisted images (~2 GiB per format) would not all fit the 4 GiB default disk bound."""
REPO = Path(__file__).resolve().parent.parent


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=DEFAULT_SIZES, help="e.g. 1000,10000")
    parser.add_argument("--large", action="store_true", help="also 1M vectors")
    parser.add_argument("--formats", default=",".join(FORMATS), help="cbor,json-enc")
    parser.add_argument("--queries", type=int, default=300, help="searches per measurement")
    parser.add_argument("--cache-hits", type=int, default=5, help="cache-hit loads to time")
    parser.add_argument("--sessions", type=int, default=50, help="concurrent sessions")
    parser.add_argument(
        "--session-sizes", type=_sizes, default=[1_000, 10_000], help="their database sizes"
    )
    parser.add_argument(
        "--restarts",
        type=int,
        default=3,
        help="restart phase at the largest size: server restarts to time (0 skips it)",
    )
    parser.add_argument(
        "--no-restart", action="store_true", help="skip the restart phase (--restarts 0)"
    )
    parser.add_argument("--chunk-size", type=int, default=10_000, help="vectors per chunk file")
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs", help="where results go")
    parser.add_argument("--work-dir", type=Path, default=None, help="temp store (default: tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    parser.add_argument("--no-plot", action="store_true", help="skip benchmarks.png")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="run nothing: re-render benchmarks.md / .png in --out-dir from this results JSON",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting to override (repeatable), e.g. S5VEC_INDEX_QUANTIZATION=i8",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="py-spy the server during cold loads and searches; raw stacks go to this dir",
    )
    return parser.parse_args(argv)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str]:
    names = ("s5vec", "numpy", "usearch", "hnswlib", "cbor2", "orjson", "aiohttp")
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "?"
    return found


def _memory_total_gib() -> float:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def _server_defaults() -> dict[str, Any]:
    """The server settings that shape the numbers (defaults unless the run overrides them)."""
    fields = ServerSettings.model_fields
    names = [
        "s5vec_persist_indexes",
        "s5vec_persist_max_mb",
        "s5vec_index_quantization",
        "s5vec_ann_threshold",
        "s5vec_hnsw_connectivity",
        "s5vec_hnsw_expansion_add",
        "s5vec_hnsw_expansion_search",
        "vector_memory_limit_mb",
        "vector_cache_max_memory_mb",
        "vector_index_cache_size",
        "s5_max_parallel_chunks",
    ]
    return {name.upper(): fields[name].default for name in names if name in fields}


async def run(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Run every benchmark and return the report (also written to ``args.out_dir``)."""
    sizes = list(args.sizes) + ([LARGE_SIZE] if args.large and LARGE_SIZE not in args.sizes else [])
    formats = [f for f in args.formats.split(",") if f]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise SystemExit(f"unknown formats: {sorted(unknown)} (known: {sorted(FORMATS)})")
    server_env = dict(LARGE_ENV) if max(sizes) >= LARGE_SIZE else {}
    for item in args.server_env:
        name, sep, value = item.partition("=")
        if not sep or name.upper() not in {n.upper() for n in ServerSettings.env_names()}:
            raise SystemExit(f"--server-env wants NAME=VALUE with a known s5vec setting: {item}")
        server_env[name.upper()] = value
    work_dir = Path(tempfile.mkdtemp(prefix="s5vec-bench-", dir=args.work_dir))
    log = (lambda *_: None) if args.quiet else (lambda line: print(line, flush=True))
    settings = Settings(
        sizes=sizes,
        formats=formats,
        queries=args.queries,
        cache_hit_repeats=args.cache_hits,
        sessions=args.sessions,
        session_sizes=args.session_sizes,
        chunk_size=args.chunk_size,
        work_dir=work_dir,
        server_env=server_env,
        graph_timeout_s=max(600.0, max(sizes) / 1000.0 * 3),
        graph_threshold=int({**_server_defaults(), **server_env}["S5VEC_ANN_THRESHOLD"]),
        restarts=0 if args.no_restart else max(0, args.restarts),
        persist=TypeAdapter(bool).validate_python(
            {**_server_defaults(), **server_env}["S5VEC_PERSIST_INDEXES"]
        ),
        log=log,
        profile_dir=args.profile,
    )
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    store, logs = work_dir / "s5", work_dir / "logs"
    logs.mkdir(parents=True)
    started = time.perf_counter()
    load_before = os.getloadavg()
    log(f"work dir {work_dir}")
    try:
        warmup = await publish_warmup(settings, store)
        # The restart phase runs once, at the largest size.
        restart_at = sizes.index(max(sizes)) if settings.restarts > 0 else -1
        results = [
            await run_size(settings, n, warmup, store, logs, restart=i == restart_at)
            for i, n in enumerate(sizes)
        ]
        sessions = (
            await run_concurrency(settings, warmup, store, logs) if args.sessions > 0 else None
        )
        server_errors = report.server_log_errors(logs)
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    return {
        "schema": 1,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": time.perf_counter() - started,
        "command": " ".join(["python -m benchmarks.run", *argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(_memory_total_gib(), 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "git_commit": _git_commit(),
        "versions": _versions(),
        "data": report.data_description(settings),
        "server_settings": {**_server_defaults(), **server_env},
        "server_env_overrides": server_env,
        "sizes": results,
        "concurrency": sessions,
        "server_log_errors": server_errors,
        "work_dir_kept": str(work_dir) if args.keep else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point: run, then write the JSON, markdown and plot."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        result = asyncio.run(run(args, argv))
    result["goals"] = report.goals(result)
    written = tables.write_all(result, args.out_dir, plot=not args.no_plot)
    if not args.quiet:
        print(report.goals_markdown(result["goals"]))
        for path in written:
            print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
