"""Markdown detail tables and writing the outputs (JSON, markdown section, plot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.report import END, START, goals_markdown


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def loads_markdown(result: dict[str, Any]) -> str:
    """Per size and format: ack, load, decode baselines, cache hit, memory."""
    lines = [
        "| size | format | files MiB | ack ms | cold load s | server `duration_ms` "
        "| bare decode s | load / bare | s5vec decode s | cache hit ms | RSS at complete MiB "
        "| RSS peak MiB | RSS with graph MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in result["sizes"]:
        base = entry["baselines"]
        for fmt, m in entry["server"]["formats"].items():
            bare = base["bare_decode"][fmt]["seconds"]
            size_mb = base["file_mb"][fmt]
            lines.append(
                f"| {entry['label']} | {fmt} | {_f(size_mb, 1)} | {_f(m['ack_ms'], 1)} "
                f"| {_f(m['load_s'], 3)} | {m['server_duration_ms']} | {_f(bare, 3)} "
                f"| {_f(m['load_s'] / bare)}x | {_f(base['s5vec_decode'][fmt]['seconds'], 3)} "
                f"| {_f(m['cache_hit']['load_ms_median'], 1)} "
                f"| {_signed(m['rss_growth_loaded_mb'])} | {_signed(m['rss_growth_peak_mb'])} "
                f"| {_signed(m.get('rss_growth_from_idle_mb'))} |"
            )
    return "\n".join(lines)


def searches_markdown(result: dict[str, Any]) -> str:
    """Per size: search latency and recall in both phases, against the baselines."""
    lines = [
        "| size | phase | filter | p50 ms | p99 ms | server p50 ms | recall@10 "
        "| exact numpy p50 ms | p50 / exact | hnswlib p50 ms (recall) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in result["sizes"]:
        base = entry["baselines"]
        fmt = next(iter(entry["server"]["formats"]))
        m = entry["server"]["formats"][fmt]
        hnsw = base["hnswlib"]
        for phase, key in (
            ("after loading_complete", "search_after_complete"),
            ("after graph", "search_after_graph"),
        ):
            for flt in ("unfiltered", "filtered"):
                s = m[key][flt]
                exact = base["exact_search"][flt]["p50_ms"]
                server = s["server_search_time"]["p50_ms"] if s["server_search_time"] else None
                lib = (
                    f"{_f(hnsw['search']['p50_ms'], 3)} ({_f(hnsw['recall_at_10'], 3)})"
                    if flt == "unfiltered"
                    else "-"
                )
                lines.append(
                    f"| {entry['label']} | {phase} | {'category=c3' if flt == 'filtered' else '-'} "
                    f"| {_f(s['round_trip']['p50_ms'])} | {_f(s['round_trip']['p99_ms'])} "
                    f"| {_f(server)} | {_f(s['recall_at_10'], 3)} | {_f(exact)} "
                    f"| {_f(s['round_trip']['p50_ms'] / exact)}x | {lib} |"
                )
    return "\n".join(lines)


def builds_markdown(result: dict[str, Any]) -> str:
    """Graph availability in the server against the raw hnswlib build."""
    lines = [
        "| size | publish s | server graph ready after `loading_complete` s "
        "| hnswlib build s (M=12, efC=48, all cores) |",
        "|---|---|---|---|",
    ]
    for entry in result["sizes"]:
        m = entry["server"]["formats"][next(iter(entry["server"]["formats"]))]
        ready = m.get("graph_ready_after_complete_s")
        ready_text = (
            "no graph (below threshold)"
            if ready is None
            else (("<= " if m.get("graph_ready_is_upper_bound") else "") + _f(ready, 1))
        )
        lines.append(
            f"| {entry['label']} | {_f(entry['publish_s'], 1)} "
            f"| {ready_text} "
            f"| {_f(entry['baselines']['hnswlib']['build_s'], 2)} |"
        )
    return "\n".join(lines)


def restart_markdown(result: dict[str, Any]) -> str:
    """The restart phase: restored loads from the persisted indexes against cold loads."""
    lines = [
        "| size | format | cold load s | restored loads ms | restored median ms "
        "| restored / cold | server `duration_ms` | vectors read from storage "
        "| identical answers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for entry in result["sizes"]:
        phase = entry.get("restart")
        if phase is None:
            continue
        if not phase["measured"]:
            notes.append(f"{entry['label']}: {phase['reason']}.")
            continue
        for fmt, m in phase["formats"].items():
            loads = ", ".join(_f(t * 1000.0, 1) for t in m["restored_load_s"])
            durations = ", ".join(str(d) for d in m["server_duration_ms"])
            storage = ", ".join(str(v) for v in m["vectors_from_storage"])
            lines.append(
                f"| {entry['label']} | {fmt} | {_f(m['cold_load_s'], 3)} | {loads} "
                f"| {_f(m['restored_load_s_median'] * 1000.0, 1)} "
                f"| {m['restored_over_cold']:.3g}x | {durations} | {storage} "
                f"| {'yes' if m['identical'] else 'no'} ({phase['queries']} queries x k=10) |"
            )
        images = ", ".join(_f(mb, 1) for mb in phase["image_mb"])
        starts = ", ".join(_f(s, 2) for s in phase["start_s"])
        notes.append(
            f"{entry['label']}: {phase['restarts']} restarts on the first server's data "
            f"directory; persisted images {images} MiB, all saved "
            f"{_f(phase['images_wait_s'], 1)} s after the size's other measurements ended; "
            f"server start to `/health` {starts} s; exit codes "
            f"{', '.join(str(c) for c in phase['server_exit_codes'])}; phase "
            f"{_f(phase.get('wall_s'), 0)} s in all."
        )
    parts = (["\n".join(lines)] if len(lines) > 2 else []) + notes
    return "\n\n".join(parts) if parts else "(not run)"


def sessions_markdown(result: dict[str, Any]) -> str:
    """The concurrent-sessions test."""
    s = result.get("concurrency")
    if not s:
        return "(not run)"
    dbs = ", ".join(
        f"{d['name']} ({d['vectors']}, {d['format']}{' encrypted' if d['encrypted'] else ''},"
        f" {d['sessions']} sessions)"
        for d in s["databases"]
    )
    return "\n".join(
        [
            "| sessions | completed | errors | foreign hits | wrong counts | recall@10 "
            "| wall s | load p50 s | load max s | worst ack ms | RSS growth MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {s['sessions']} | {s['completed']} | {s['errors']} | {s['cross_talk_hits']} "
            f"| {s['wrong_counts']} | {_f(s['recall_at_10'], 3)} | {_f(s['wall_s'])} "
            f"| {_f(s['load_s_p50'])} | {_f(s['load_s_max'])} | {_f(s['ack_ms_max'], 1)} "
            f"| {_signed(s['rss_growth_mb'])} |",
            "",
            f"Databases: {dbs}.",
        ]
    )


def profiles_markdown(result: dict[str, Any], top: int = 6) -> str | None:
    """Top self-time functions of each profiled phase (``--profile`` runs only)."""
    lines = []
    for entry in result["sizes"]:
        for measured in entry["server"]["formats"].values():
            for phase, summary in measured.get("profiles", {}).items():
                hot = "; ".join(
                    f"{row['share']:.0%} {row['function']}" for row in summary["self"][:top]
                )
                lines.append(f"| {phase} | {summary['samples']} | {hot} |")
    if not lines:
        return None
    head = ["| phase | samples | top self time (share of samples) |", "|---|---|---|"]
    return "\n".join(head + lines)


def results_markdown(result: dict[str, Any]) -> str:
    """The generated part of docs/benchmarks.md."""
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    settings = ", ".join(f"`{k}={v}`" for k, v in result["server_settings"].items())
    errors = result["server_log_errors"]
    profiles = profiles_markdown(result)
    return "\n\n".join(
        [
            START,
            f"Run {result['generated_at']} (commit {result['git_commit']}) in "
            f"{result['duration_s']:.0f} s: `{result['command']}`. Machine: {m['cpus']} cores, "
            f"{m['memory_gib']} GiB, Python {m['python']}; load average before "
            f"{m['load_average_before'][0]:.2f}, after {m['load_average_after'][0]:.2f}. "
            f"Versions: {versions}. Server settings: {settings}.",
            "### Goals (SPEC section 10)",
            goals_markdown(result["goals"]),
            "### Loads",
            loads_markdown(result),
            "### Searches (k=10, round trip over the WebSocket)",
            searches_markdown(result),
            "### Index builds",
            builds_markdown(result),
            "### Restart (persisted indexes)",
            restart_markdown(result),
            "### Concurrent sessions",
            sessions_markdown(result),
            f"Server log lines at level error: {len(errors)}.",
            *(["### Profiles (py-spy)", profiles] if profiles else []),
            END,
        ]
    )


_DEFAULT_DOC = """# Benchmarks

Generated by `python -m benchmarks.run`.

## Results

{results}
"""


def write_markdown(result: dict[str, Any], path: Path) -> None:
    """Replace the results section of ``path`` (between the markers), or write a new file."""
    section = results_markdown(result)
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if START in text and END in text:
            head, rest = text.split(START, 1)
            tail = rest.split(END, 1)[1]
            path.write_text(head + section + tail, encoding="utf-8")
            return
    path.write_text(_DEFAULT_DOC.format(results=section), encoding="utf-8")


def write_all(result: dict[str, Any], out_dir: Path, plot: bool = True) -> list[Path]:
    """``benchmarks.json``, ``benchmarks.md`` (results section) and ``benchmarks.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "benchmarks.json", out_dir / "benchmarks.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    write_markdown(result, md_path)
    written = [json_path, md_path]
    if plot:
        from benchmarks.plot import plot_results

        png = out_dir / "benchmarks.png"
        plot_results(result, png)
        written.append(png)
    return written
