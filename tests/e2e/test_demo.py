"""`flightdeck demo` on the local platform: one promotion, one automatic rollback, a report, and the
delivery KPIs afterwards: `flightdeck kpi` agrees with what the demo printed, and every query of
the Delivery dashboard returns data from the platform's Prometheus."""

import json
import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from flightdeck.engines.local import LocalPlatform
from testsupport import REPO_ROOT
from testsupport.waiting import wait_until

HISTORY_KPIS = ("lead_time", "change_failure_rate", "mttd", "mttr", "rollback_time")


def test_the_demo_promotes_the_good_version_and_rolls_back_the_bad_one(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    report = tmp_path / "demo.html"
    config = platform.config.run_dir.parent / "flightdeck.yaml"
    began = datetime.now(UTC)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "flightdeck", "demo", "--config", str(config)),
            *("--output", str(report), "--rate", "30", "--fault", "latency"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "-good: Succeeded" in result.stderr
    assert "-bad: RolledBack" in result.stderr
    page = report.read_text()
    assert page.count("<svg") == 4 + 2  # error rate and P95 per rollout; the delivery trends
    assert page.count("<polyline") >= 6  # canary and stable lines with data
    assert "Succeeded" in page
    assert "analysis failed at 10%" in page
    assert "p95" in page
    assert "Delivery KPIs" in page

    # The KPIs of the demo's window agree with the outcomes it printed, and with its KPI table.
    good = re.search(r"good version (\S+): Succeeded", result.stderr)
    bad = re.search(r"bad version (\S+): RolledBack", result.stderr)
    assert good, result.stderr
    assert bad, result.stderr
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
    assert deployed == [good.group(1)], (figures["deployments"], result.stderr[-3000:])
    assert [f["change"] for f in figures["failures"]] == [bad.group(1)]
    assert figures["counts"]["production_changes"] == 2
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
