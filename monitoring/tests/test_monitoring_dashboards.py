"""Grafana dashboards: panel counts, generated JSON up to date, schema, and every panel query
accepted by a real Prometheus (loaded with the project's own configuration and rules)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from testsupport import REPO_ROOT
from testsupport.prometheus import Prometheus
from testsupport.tools import required_tool

pytestmark = pytest.mark.unit

GRAFANA_DIR = REPO_ROOT / "monitoring" / "grafana"
DASHBOARDS = GRAFANA_DIR / "dashboards"
PANEL_COUNTS = {
    "application-overview": 12,
    "canary-vs-stable": 10,
    "infrastructure": 8,
    "delivery": 13,
}
# Concrete values for Grafana's variables, so that Prometheus can run the expressions.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$track": ".*",
    "$rollout": ".*",
    "$instance": ".*",
}


def load(name: str) -> Any:
    return json.loads((DASHBOARDS / f"{name}.json").read_text())


def expressions() -> list[tuple[str, str, str]]:
    return [
        (name, panel["title"], target["expr"])
        for name in PANEL_COUNTS
        for panel in load(name)["panels"]
        for target in panel["targets"]
    ]


@pytest.mark.parametrize(("name", "count"), PANEL_COUNTS.items())
def test_panel_counts(name: str, count: int) -> None:
    panels = load(name)["panels"]
    assert len(panels) == count
    assert len({panel["id"] for panel in panels}) == count


def test_regenerating_gives_the_committed_json(tmp_path: Path) -> None:
    script = GRAFANA_DIR / "generate.py"
    subprocess.run([sys.executable, str(script), "--output", str(tmp_path)], check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in DASHBOARDS.glob("*.json")
    )
    for path in tmp_path.iterdir():
        assert path.read_text() == (DASHBOARDS / path.name).read_text(), path.name
    check = subprocess.run([sys.executable, str(script), "--check"], check=False)
    assert check.returncode == 0


@pytest.mark.parametrize("name", PANEL_COUNTS)
def test_dashboard_validates_against_the_schema(name: str) -> None:
    schema = json.loads((GRAFANA_DIR / "schema" / "dashboard.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(load(name), schema, cls=jsonschema.Draft202012Validator)


def test_schema_rejects_a_dashboard_without_the_datasource_variable() -> None:
    schema = json.loads((GRAFANA_DIR / "schema" / "dashboard.schema.json").read_text())
    broken = load("infrastructure")
    broken["templating"]["list"] = [
        v for v in broken["templating"]["list"] if v["name"] != "datasource"
    ]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema, cls=jsonschema.Draft202012Validator)


def substitute(expr: str) -> str:
    for variable, value in sorted(VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(variable, value)
    leftover = re.findall(r"\$\w+", expr)
    assert not leftover, f"unknown Grafana variables {leftover} in {expr}"
    return expr


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    required_tool("prometheus")
    config_dir = REPO_ROOT / "monitoring" / "prometheus"
    flags = tuple((config_dir / "prometheus.flags").read_text().split())
    server = Prometheus(
        tmp_path_factory.mktemp("prometheus"),
        config=config_dir / "prometheus.yml",
        extra_args=flags,
    )
    server.start()
    yield server
    server.stop()


@pytest.mark.integration
def test_prometheus_loads_the_config_and_every_rule_group(prometheus: Prometheus) -> None:
    groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    rule_files = sorted((REPO_ROOT / "monitoring" / "prometheus" / "rules").glob("*.yaml"))
    assert {Path(group["file"]).name for group in groups} == {p.name for p in rule_files}
    flags = httpx.get(f"{prometheus.url}/api/v1/status/flags", timeout=10).json()["data"]
    assert flags["storage.tsdb.retention.time"] == "15d"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "title", "expr"), expressions(), ids=lambda v: v if len(v) < 40 else None
)
def test_panel_query_is_accepted_by_prometheus(
    prometheus: Prometheus, name: str, title: str, expr: str
) -> None:
    response = httpx.get(
        f"{prometheus.url}/api/v1/query", params={"query": substitute(expr)}, timeout=10
    )
    body = response.json()
    assert body["status"] == "success", f"{name} / {title}: {body.get('error')}"
