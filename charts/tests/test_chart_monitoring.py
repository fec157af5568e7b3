"""Monitoring objects: built from monitoring/ (one source of truth), only with their APIs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import yaml

from testsupport.helmchart import CHART, ROOT, Rendered, render

pytestmark = pytest.mark.unit

Render = Callable[[str], Rendered]
MONITORING = ROOT / "monitoring"


def test_chart_files_are_symlinks_to_monitoring() -> None:
    for link, target in (
        ("prometheus-rules", "prometheus/rules"),
        ("grafana-dashboards", "grafana/dashboards"),
    ):
        path = CHART / "files" / link
        assert path.is_symlink(), path
        assert path.resolve() == (MONITORING / target).resolve()


def test_prometheus_rule_has_every_group_of_the_rule_files(rendered: Render) -> None:
    expected = []
    for path in sorted((MONITORING / "prometheus" / "rules").glob("*.yaml")):
        expected += yaml.safe_load(path.read_text())["groups"]
    assert expected, "monitoring/prometheus/rules has no groups"
    rule = rendered("default").get("PrometheusRule", "")
    assert sorted(g["name"] for g in rule["spec"]["groups"]) == sorted(g["name"] for g in expected)
    assert sorted(rule["spec"]["groups"], key=lambda g: g["name"]) == sorted(
        expected, key=lambda g: g["name"]
    )


def test_dashboards_configmap_matches_the_json_files(rendered: Render) -> None:
    files = {
        p.name: json.loads(p.read_text())
        for p in (MONITORING / "grafana" / "dashboards").glob("*.json")
    }
    maps = rendered("default").all("ConfigMap")
    dashboards = [m for m in maps if m["metadata"]["name"].endswith("-dashboards")]
    if not files:
        assert not dashboards  # nothing to ship yet; NOTES.txt warns
        return
    (cm,) = dashboards
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert {k: json.loads(v) for k, v in cm["data"].items()} == files


def test_service_monitor_scrapes_every_track_every_15s(rendered: Render) -> None:
    r = rendered("canary")
    sm = r.get("ServiceMonitor", "backend")["spec"]
    assert sm["endpoints"][0]["interval"] == "15s"
    assert sm["endpoints"][0]["path"] == "/metrics"
    assert sm["jobLabel"] == "flightdeck.io/job"
    targets = {relabel["targetLabel"] for relabel in sm["endpoints"][0]["relabelings"]}
    assert targets == {"track", "version"}
    svc = r.get("Service", "backend-metrics")
    assert svc["metadata"]["labels"]["flightdeck.io/job"] == "backend"
    assert "version" not in svc["spec"]["selector"]  # every track
    for key, value in sm["selector"]["matchLabels"].items():
        assert svc["metadata"]["labels"][key] == value


@pytest.mark.parametrize("kind", ["ServiceMonitor", "PrometheusRule", "ClusterIssuer", "HTTPRoute"])
def test_custom_resources_only_with_their_api(kind: str) -> None:
    scenario = "gateway-api" if kind == "HTTPRoute" else "default"
    assert render(scenario).all(kind)
    assert not render(scenario, api_versions=()).all(kind)


def test_monitoring_off_renders_no_monitoring_objects(rendered: Render) -> None:
    r = rendered("monitoring-off")
    assert not r.all("ServiceMonitor")
    assert rendered("default").names("ServiceMonitor") == [
        "fd-flightdeck-backend",
        "fd-flightdeck-flightdeck",
    ]
    assert not r.all("PrometheusRule")
    assert not [m for m in r.all("ConfigMap") if m["metadata"]["name"].endswith("-dashboards")]
