"""`flightdeck demo` on the local platform: one promotion, one automatic rollback, a report."""

import subprocess
import sys
from pathlib import Path

from flightdeck.engines.local import LocalPlatform


def test_the_demo_promotes_the_good_version_and_rolls_back_the_bad_one(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    report = tmp_path / "demo.html"
    config = platform.config.run_dir.parent / "flightdeck.yaml"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "flightdeck", "demo", "--config", str(config)),
            *("--output", str(report), "--rate", "30", "--fault", "latency"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "-good: Succeeded" in result.stderr
    assert "-bad: RolledBack" in result.stderr
    page = report.read_text()
    assert page.count("<svg") == 4  # error rate and P95 for each rollout
    assert page.count("<polyline") >= 6  # canary and stable lines with data
    assert "Succeeded" in page
    assert "analysis failed at 10%" in page
    assert "p95" in page
