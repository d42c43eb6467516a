"""The benchmark harness end to end at a tiny size: every report field present and sane.

No timing is asserted (the machine is shared); only shapes, counts and correctness checks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report as goals_report
from benchmarks import run, tables
from benchmarks.report import END, START

VECTORS = 500
SESSIONS = 3
FORMATS = ("cbor", "json-enc")
RESTARTS = 2
THRESHOLD = 400
"""ANN threshold of the run: the 500-vector databases get a graph (persisted with it), the
200-vector ones of the sessions test none."""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench-out")
    work = tmp_path_factory.mktemp("bench-work")
    result = run.main(
        [
            f"--sizes={VECTORS}",
            f"--sessions={SESSIONS}",
            "--session-sizes=200",
            "--queries=10",
            "--cache-hits=1",
            f"--restarts={RESTARTS}",
            f"--server-env=S5VEC_ANN_THRESHOLD={THRESHOLD}",
            f"--out-dir={out}",
            f"--work-dir={work}",
            "--quiet",
        ]
    )
    return result, out


def _is_time(value: Any) -> bool:
    return isinstance(value, float) and 0.0 <= value < 600.0


def _check_search(search: dict[str, Any], filtered: bool) -> None:
    assert search["filtered"] is filtered
    assert search["round_trip"]["n"] == 10
    assert _is_time(search["round_trip"]["p50_ms"] / 1000.0)
    assert search["round_trip"]["p50_ms"] <= search["round_trip"]["p99_ms"]
    assert search["server_search_time"] is not None
    assert 0.0 <= search["recall_at_10"] <= 1.0
    # Filters are exact on every path; the graph over 500 rows (ef 96) misses next to nothing.
    assert search["recall_at_10"] == 1.0 if filtered else search["recall_at_10"] >= 0.9
    assert search["foreign_ids"] == search["filter_violations"] == search["short_answers"] == 0


def test_outputs_written(report: tuple[dict[str, Any], Path]) -> None:
    result, out = report
    assert json.loads((out / "benchmarks.json").read_text()) == json.loads(json.dumps(result))
    markdown = (out / "benchmarks.md").read_text()
    assert START in markdown
    assert END in markdown
    assert "| goal |" in markdown
    assert (out / "benchmarks.png").read_bytes().startswith(b"\x89PNG")


def test_size_measurements(report: tuple[dict[str, Any], Path]) -> None:
    result, _ = report
    (entry,) = result["sizes"]
    assert entry["vectors"] == VECTORS
    base = entry["baselines"]
    for fmt in FORMATS:
        assert base["bare_decode"][fmt]["vectors"] == VECTORS
        assert base["s5vec_decode"][fmt]["vectors"] == VECTORS
        assert _is_time(base["bare_decode"][fmt]["seconds"])
        assert base["file_mb"][fmt] > 0
    assert 0.0 <= base["hnswlib"]["recall_at_10"] <= 1.0
    assert (base["hnswlib"]["m"], base["hnswlib"]["ef_construction"]) == (12, 48)
    assert base["hnswlib"]["ef"] == 50
    server = entry["server"]
    assert server["server_exit_code"] == 0
    assert server["idle_rss_mb"]["VmRSS"] > 0
    assert set(server["formats"]) == set(FORMATS)
    for fmt, measured in server["formats"].items():
        assert measured["vector_count"] == VECTORS
        assert _is_time(measured["load_s"])
        assert _is_time(measured["ack_ms"] / 1000.0)
        assert measured["ack_ms"] / 1000.0 <= measured["load_s"]
        assert measured["rss"]["peak_mb"] >= measured["rss"]["before_mb"] > 0
        assert len(measured["cache_hit"]["load_ms_all"]) == 1
        for flt in ("unfiltered", "filtered"):
            _check_search(measured["search_after_complete"][flt], flt == "filtered")
            if fmt == FORMATS[0]:
                _check_search(measured["search_after_graph"][flt], flt == "filtered")
    first = server["formats"][FORMATS[0]]
    assert first["graph_built"] is True
    assert _is_time(first["graph_ready_after_complete_s"])
    assert isinstance(first["rss_growth_from_idle_mb"], float)


def test_concurrency(report: tuple[dict[str, Any], Path]) -> None:
    result, _ = report
    sessions = result["concurrency"]
    assert sessions["sessions"] == sessions["completed"] == SESSIONS
    assert sessions["errors"] == sessions["cross_talk_hits"] == sessions["wrong_counts"] == 0
    assert sessions["recall_at_10"] == 1.0
    assert sum(db["sessions"] for db in sessions["databases"]) == SESSIONS
    assert sessions["server_exit_code"] == 0


def test_goals_and_environment(report: tuple[dict[str, Any], Path]) -> None:
    result, _ = report
    assert result["server_log_errors"] == []
    assert result["machine"]["cpus"] >= 1
    assert result["server_settings"]["S5VEC_ANN_THRESHOLD"] == str(THRESHOLD)
    assert result["server_env_overrides"] == {"S5VEC_ANN_THRESHOLD": str(THRESHOLD)}
    assert result["server_settings"]["S5VEC_PERSIST_INDEXES"] is True
    rows = result["goals"]
    assert {tuple(sorted(row)) for row in rows} == {
        ("baseline", "goal", "measured", "met", "ratio", "target")
    }
    goals = " ".join(row["goal"] for row in rows)
    for needle in (
        "cold load",
        "init ack",
        "search p50",
        "recall@10",
        "filtered search",
        "cache-hit load",
        "memory",
        "concurrent loading sessions",
        "restored load after restart",
    ):
        assert needle in goals
    assert all(row["met"] in (True, False, None) for row in rows)
    assert next(r for r in rows if "concurrent" in r["goal"])["met"] is True
    assert next(r for r in rows if "filtered search" in r["goal"])["met"] is True


def test_restart_phase(report: tuple[dict[str, Any], Path]) -> None:
    result, out = report
    (entry,) = result["sizes"]
    phase = entry["restart"]
    assert phase["measured"] is True
    assert phase["reason"] is None
    assert phase["vectors"] == VECTORS
    assert phase["restarts"] == len(phase["start_s"]) == RESTARTS
    assert phase["server_exit_codes"] == [0] * RESTARTS
    assert len(phase["image_mb"]) == 1 + len(FORMATS)  # the warm-up database, then each format
    assert all(mb > 0 for mb in phase["image_mb"])
    assert _is_time(phase["images_wait_s"])
    assert set(phase["formats"]) == set(FORMATS)
    for fmt, measured in phase["formats"].items():
        assert measured["cold_load_s"] == entry["server"]["formats"][fmt]["load_s"]
        times = measured["restored_load_s"]
        assert len(times) == RESTARTS
        assert all(_is_time(t) for t in times)
        assert min(times) <= measured["restored_load_s_median"] <= max(times)
        assert measured["restored_over_cold"] == pytest.approx(
            measured["restored_load_s_median"] / measured["cold_load_s"]
        )
        assert measured["vector_count"] == [VECTORS] * RESTARTS
        # Restored from the image, not loaded again: no vector came from storage.
        assert measured["vectors_from_storage"] == [0] * RESTARTS
        assert measured["restored"] is True
        assert measured["identical"] is True
        assert measured["answers_differing"] == [0] * RESTARTS
        row = next(
            r for r in result["goals"] if r["goal"] == f"restored load after restart 500, {fmt}"
        )
        assert "answers identical" in row["measured"]
        assert row["met"] in (True, False)
    markdown = (out / "benchmarks.md").read_text()
    assert "### Restart (persisted indexes)" in markdown
    assert "| 500 | json-enc |" in markdown.split("### Restart")[1]


def test_restart_not_measured_is_reported(report: tuple[dict[str, Any], Path]) -> None:
    result = copy.deepcopy(report[0])
    reason = "not measured: graph not built in 600 s"
    result["sizes"][0]["restart"] = {"measured": False, "reason": reason}
    rows = [r for r in goals_report.goals(result) if "restart" in r["goal"]]
    assert rows == [
        {
            "goal": "restored load after restart 500",
            "target": "< 10% of the cold load, identical answers",
            "measured": reason,
            "baseline": "-",
            "ratio": None,
            "met": None,
        }
    ]
    assert tables.restart_markdown(result) == f"500: {reason}."
