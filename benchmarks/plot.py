"""``benchmarks.png``: load time and search p50 against size, s5vec against the baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from benchmarks.report import LOAD_GOALS_S, SEARCH_P50_MS


def _series(result: dict[str, Any], pick) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for entry in result["sizes"]:
        value = pick(entry)
        if value is not None:
            xs.append(entry["vectors"])
            ys.append(value)
    return xs, ys


def _fmt(entry: dict[str, Any], name: str) -> dict[str, Any] | None:
    return entry["server"]["formats"].get(name)


def plot_results(result: dict[str, Any], path: Path) -> None:
    """Two log-log panels: cold load time, and search p50 (k=10) against vector count."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2))
    loads = [
        (
            "s5vec cold load, CBOR",
            "C0",
            "-o",
            lambda e: _fmt(e, "cbor") and _fmt(e, "cbor")["load_s"],
        ),
        (
            "s5vec cold load, encrypted JSON",
            "C1",
            "-o",
            lambda e: _fmt(e, "json-enc") and _fmt(e, "json-enc")["load_s"],
        ),
        (
            "s5vec cache hit, CBOR",
            "C2",
            "-o",
            lambda e: _fmt(e, "cbor") and _fmt(e, "cbor")["cache_hit"]["load_ms_median"] / 1000,
        ),
        (
            "bare decode CBOR (no server)",
            "C0",
            "--s",
            lambda e: e["baselines"]["bare_decode"].get("cbor", {}).get("seconds"),
        ),
        (
            "bare decode encrypted JSON (no server)",
            "C1",
            "--s",
            lambda e: e["baselines"]["bare_decode"].get("json-enc", {}).get("seconds"),
        ),
        (
            "hnswlib build M=12 efC=48 (no server)",
            "C3",
            ":^",
            lambda e: e["baselines"]["hnswlib"]["build_s"],
        ),
    ]
    for name, color, style, pick in loads:
        xs, ys = _series(result, pick)
        if xs:
            left.plot(xs, ys, style, color=color, label=name)
    goal_x = sorted(LOAD_GOALS_S)
    left.plot(
        goal_x,
        [LOAD_GOALS_S[x] for x in goal_x],
        "k_",
        markersize=22,
        mew=2,
        label="s5vec goal (SPEC 10)",
    )
    left.set_title("Load time (init to loading_complete)")
    left.set_ylabel("seconds")

    searches = [
        (
            "s5vec after loading_complete",
            "C0",
            "-o",
            lambda e: _first(e)["search_after_complete"]["unfiltered"]["round_trip"]["p50_ms"],
        ),
        (
            "s5vec after graph (exact below the graph threshold)",
            "C2",
            "-o",
            lambda e: _first(e)["search_after_graph"]["unfiltered"]["round_trip"]["p50_ms"],
        ),
        (
            "s5vec after graph, server searchTimeMs",
            "C2",
            ":x",
            lambda e: (
                _first(e)["search_after_graph"]["unfiltered"]["server_search_time"] or {}
            ).get("p50_ms"),
        ),
        (
            "s5vec after graph, filtered",
            "C4",
            "-.o",
            lambda e: _first(e)["search_after_graph"]["filtered"]["round_trip"]["p50_ms"],
        ),
        (
            "exact numpy (no server)",
            "C1",
            "--s",
            lambda e: e["baselines"]["exact_search"]["unfiltered"]["p50_ms"],
        ),
        (
            "hnswlib ef=50 (no server)",
            "C3",
            ":^",
            lambda e: e["baselines"]["hnswlib"]["search"]["p50_ms"],
        ),
    ]
    for name, color, style, pick in searches:
        xs, ys = _series(result, pick)
        if xs:
            right.plot(xs, ys, style, color=color, label=name)
    right.plot([100_000], [SEARCH_P50_MS], "k_", markersize=22, mew=2, label="s5vec goal at 100K")
    right.set_title("Search p50, k=10 (s5vec: WebSocket round trip)")
    right.set_ylabel("milliseconds")

    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("vectors (384 dimensions)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    machine = result["machine"]
    fig.suptitle(
        f"s5vec benchmarks, {machine['cpus']} cores, {result['generated_at']} "
        f"(load average {machine['load_average_before'][0]:.1f})",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _first(entry: dict[str, Any]) -> dict[str, Any]:
    return entry["server"]["formats"][next(iter(entry["server"]["formats"]))]
