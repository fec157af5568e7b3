"""`flightdeck demo` on a local platform of its own: four rollouts, their outcomes, a report, and
the delivery KPIs afterwards: `flightdeck kpi` agrees with what the demo printed, and every query
of the Delivery dashboard returns data from the platform's Prometheus.

Its own platform, since the demo's blue-green rollouts change which track serves.
"""

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from flightdeck.engines.local import LocalPlatform
from testsupport import REPO_ROOT
from testsupport.platform import running_platform
from testsupport.waiting import wait_until

pytestmark = pytest.mark.e2e

HISTORY_KPIS = ("lead_time", "change_failure_rate", "mttd", "mttr", "rollback_time")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform(
        tmp_path_factory.mktemp("demo"),
        rate_limit={"requests_per_second": 5000, "burst": 5000},
        backup={"enabled": False},
    ) as started:
        yield started


@pytest.mark.timeout(900)
def test_the_demo_shows_both_strategies_promoting_and_rolling_back(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    report = tmp_path / "demo.html"
    config = platform.config.run_dir.parent / "flightdeck.yaml"
    began = datetime.now(UTC)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "flightdeck", "demo", "--config", str(config)),
            *("--output", str(report), "--rate", "30"),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    good = re.findall(r"(canary|bluegreen) good version (\S+): Succeeded", result.stderr)
    bad = re.findall(r"(canary|bluegreen) bad version (\S+): RolledBack \((.*)\)", result.stderr)
    assert [strategy for strategy, _ in good] == ["canary", "bluegreen"], result.stderr[-3000:]
    assert [strategy for strategy, _, _ in bad] == ["canary", "bluegreen"], result.stderr[-3000:]
    # Both bad versions were stopped by the analysis, not by a smoke test.
    assert bad[0][2].startswith("analysis failed at"), bad
    assert bad[1][2].startswith("the monitor failed"), bad
    page = report.read_text()
    assert page.count("<svg") == 4 * 2 + 2  # error rate and P95 per rollout; delivery trends
    assert page.count("<polyline") >= 12  # the new and the serving line with data
    assert ">switch<" in page
    assert ">switch back<" in page
    assert "p95" in page
    assert "Delivery KPIs" in page

    # The KPIs of the demo's window agree with the outcomes it printed, and with its KPI table.
    kpi = subprocess.run(
        [
            *(sys.executable, "-m", "flightdeck", "kpi", "--json"),
            *("--since", began.isoformat(), "--config", str(config)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert kpi.returncode == 0, kpi.stderr
    figures = json.loads(kpi.stdout)
    deployed = [d["version"] for d in figures["deployments"]]
    assert deployed == [version for _, version in good], (figures["deployments"], good)
    assert [f["change"] for f in figures["failures"]] == [version for _, version, _ in bad]
    assert figures["counts"]["production_changes"] == 4
    kpis = {entry["key"]: entry for entry in figures["kpis"]}
    assert kpis["change_failure_rate"]["value"] == 0.5
    for key, entry in kpis.items():
        assert entry["value"] is not None, f"{key}: {entry['note']}"  # every KPI has a value
        assert entry["target"]
    for key in HISTORY_KPIS:  # the same history, so the same figures as the demo printed
        assert f"│ {kpis[key]['display']}" in result.stdout, (key, result.stdout)
    assert kpis["deployment_frequency_per_week"]["dora_level"] in ("elite", "high")

    # Every query of the Delivery dashboard returns data from the platform's Prometheus.
    dashboard = json.loads((REPO_ROOT / "monitoring/grafana/dashboards/delivery.json").read_text())
    prometheus = f"http://127.0.0.1:{platform.config.ports.prometheus}"
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__range", "1h").replace("$__rate_interval", "1m")

            def values(expr: str = expr) -> list[float]:
                answer = httpx.get(
                    f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10
                ).json()
                assert answer["status"] == "success", answer
                found = [float(s["value"][1]) for s in answer["data"]["result"]]
                return [v for v in found if not math.isnan(v)]

            wait_until(values, 30, interval=1, what=f"{panel['title']}: {expr}")
