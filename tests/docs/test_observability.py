"""Alert rules, Grafana dashboard and the metrics table of docs/deployment.md vs a live /metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.docs.host import Host
from tests.docs.markdown import REPO, read, region, table_rows
from tests.server.test_http_routes import SPEC_METRICS

# The shared docs host starts with the first test that uses it (a busy machine is slow).
pytestmark = pytest.mark.timeout(600)

ALERTS = yaml.safe_load(read("deploy/prometheus/alerts.yml"))
PROMETHEUS = yaml.safe_load(read("deploy/prometheus/prometheus.yml"))
DASHBOARD = json.loads(read("deploy/grafana/dashboards/s5vec.json"))

SYNTHETIC = frozenset({"up"})
"""Series Prometheus makes itself for every scrape target."""
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": "s5vec"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (parsed, not pattern-matched)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group in alerts.yml."""
    return [rule for group in ALERTS["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    """Every target expression of the dashboard, Grafana variables filled in."""
    exprs = []
    for panel in DASHBOARD["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            exprs.append(expr)
    return exprs


@pytest.fixture(scope="module")
def live_metrics(docs_host: Host) -> set[str]:
    """Every series name the live host's /metrics can produce."""
    status, body = docs_host.get("/metrics")
    assert status == 200
    names: set[str] = set()
    for family in text_string_to_metric_families(body.decode()):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return names


def _referenced() -> list[Any]:
    names = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    names |= {name for expr in dashboard_exprs() for name in metric_names(expr)}
    params = []
    for name in sorted(names - SYNTHETIC):
        params.append(pytest.param(name, id=name))
    return params


@pytest.mark.parametrize("name", _referenced())
def test_metric_used_by_alerts_or_dashboard_is_exported(name: str, live_metrics: set[str]) -> None:
    assert name in live_metrics


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    assert len({rule["alert"] for rule in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        assert 'job="s5vec"' in rule["expr"], rule["alert"]  # the scrape job below


def test_alert_rules_cover_loads_downloads_search_latency_and_memory() -> None:
    used = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    assert {
        "vector_loading_total",
        "s5_download_errors_total",
        "vector_search_duration_seconds_bucket",
        "process_resident_memory_bytes",
    } <= used


def test_prometheus_config_scrapes_the_compose_service_with_the_rules() -> None:
    [job] = PROMETHEUS["scrape_configs"]
    assert job["job_name"] == "s5vec"
    assert job["static_configs"][0]["targets"] == ["s5vec:8080"]
    assert PROMETHEUS["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_dashboard_shows_every_spec_metric() -> None:
    used = {name for expr in dashboard_exprs() for name in metric_names(expr)}
    for metric in SPEC_METRICS:
        series = {metric, f"{metric}_bucket", f"{metric}_count"}
        assert series & used, f"no dashboard panel shows {metric}"


def test_dashboard_panels_are_well_formed() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in DASHBOARD["templating"]["list"]}
    assert variables == {"datasource", "job"}
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert 'job=~"$job"' in target["expr"], panel["title"]


def test_metrics_table_lists_exactly_the_exported_metrics(docs_host: Host) -> None:
    documented = {
        row[0].strip("`") for row in table_rows(region(read("docs/deployment.md"), "metrics-table"))
    }
    _status, body = docs_host.get("/metrics")
    exported = set()
    for family in text_string_to_metric_families(body.decode()):
        if family.name.endswith("_created") and family.type == "gauge":
            continue  # prometheus_client's creation timestamps
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    assert documented == exported
    assert set(SPEC_METRICS) <= exported


def test_compose_mounts_the_files_that_prometheus_and_grafana_read() -> None:
    compose = yaml.safe_load(read("compose.yaml"))
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), source
    prometheus = compose["services"]["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])
