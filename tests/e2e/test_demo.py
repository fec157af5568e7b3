"""`flightdeck demo` on a local platform of its own: four rollouts, their outcomes and a report.

Its own platform, since the demo's blue-green rollouts change which track serves.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightdeck.engines.local import LocalPlatform
from testsupport.platform import platform_from_file, write_platform_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    directory = tmp_path_factory.mktemp("demo")
    config = write_platform_config(
        directory,
        rate_limit={"requests_per_second": 5000, "burst": 5000},
        backup={"enabled": False},
    )
    started = platform_from_file(config)
    try:
        started.up()
    except BaseException:
        started.down()
        raise
    yield started
    started.down(purge=True)


@pytest.mark.timeout(900)
def test_the_demo_shows_both_strategies_promoting_and_rolling_back(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    report = tmp_path / "demo.html"
    config = platform.config.run_dir.parent / "flightdeck.yaml"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "flightdeck", "demo", "--config", str(config)),
            *("--output", str(report), "--rate", "30"),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for line in (
        "canary good version",
        "canary bad version",
        "bluegreen good version",
        "bluegreen bad version",
    ):
        assert line in result.stderr
    assert "-canary-good: Succeeded" in result.stderr
    assert "-bluegreen-good: Succeeded" in result.stderr
    # Both bad versions were stopped by the analysis, not by a smoke test.
    assert "-canary-bad: RolledBack (analysis failed at" in result.stderr
    assert "-bluegreen-bad: RolledBack (the monitor failed" in result.stderr
    page = report.read_text()
    assert page.count("<svg") == 8  # error rate and P95 for each of the four rollouts
    assert page.count("<polyline") >= 12  # the new and the serving line with data
    assert ">switch<" in page
    assert ">switch back<" in page
    assert "p95" in page
