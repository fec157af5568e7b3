"""Prometheus configuration, rule files and rule unit tests, checked with the real promtool.

Besides running `promtool check` and `promtool test rules`, these tests hold the conventions
that make an alert useful at 3 a.m.: every alert carries severity, service, summary,
description and a runbook that exists, and every alert (per severity) has a unit test that
shows it firing and one that shows it silent.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from testsupport import REPO_ROOT
from testsupport.tools import required_tool

PROMETHEUS_DIR = REPO_ROOT / "monitoring" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yaml"))
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yaml"))
RUNBOOK_BASE = "https://github.com/flightdeck/flightdeck/blob/main/docs/runbooks/"
RUNBOOK_DIR = REPO_ROOT / "docs" / "runbooks"
SEVERITIES = {"critical", "warning"}

pytestmark = pytest.mark.unit


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [required_tool("promtool"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_rule_and_test_files_exist() -> None:
    assert len(RULE_FILES) >= 5
    assert len(TEST_FILES) >= 5


def test_prometheus_config_is_valid_with_15s_scrapes_and_15d_retention() -> None:
    result = promtool("check", "config", PROMETHEUS_DIR / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = load(PROMETHEUS_DIR / "prometheus.yml")
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    assert {job["job_name"] for job in config["scrape_configs"]} >= {
        "backend",
        "flightdeck",
        "mongodb",
    }
    flags = (PROMETHEUS_DIR / "prometheus.flags").read_text().split()
    assert "--storage.tsdb.retention.time=15d" in flags


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_promtool_check_rules(path: Path) -> None:
    result = promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(path: Path) -> None:
    result = promtool("test", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_has_labels_annotations_and_runbook(rule: dict[str, Any]) -> None:
    labels = rule.get("labels", {})
    annotations = rule.get("annotations", {})
    assert labels.get("severity") in SEVERITIES, f"{rule['alert']}: severity"
    assert labels.get("service"), f"{rule['alert']}: service label (used by inhibition)"
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key, "").strip(), f"{rule['alert']}: annotation {key}"
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_BASE), url
    runbook = RUNBOOK_DIR / url.removeprefix(RUNBOOK_BASE)
    assert runbook.name == f"{rule['alert']}.md"
    assert runbook.is_file(), f"missing runbook {runbook}"


def unit_test_cases() -> tuple[set[tuple[str, str]], set[str], set[Path]]:
    """(alertname, severity) pairs seen firing, alertnames seen silent, rule files tested."""
    firing: set[tuple[str, str]] = set()
    silent: set[str] = set()
    covered: set[Path] = set()
    for path in TEST_FILES:
        spec = load(path)
        covered |= {(path.parent / name).resolve() for name in spec["rule_files"]}
        for test in spec["tests"]:
            for case in test.get("alert_rule_test", []):
                expected = case.get("exp_alerts") or []
                if not expected:
                    silent.add(case["alertname"])
                for alert in expected:
                    firing.add((case["alertname"], alert["exp_labels"]["severity"]))
    return firing, silent, covered


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    firing, silent, _ = unit_test_cases()
    for rule in alert_rules():
        name, severity = rule["alert"], rule["labels"]["severity"]
        assert (name, severity) in firing, f"no unit test shows {name} ({severity}) firing"
        assert name in silent, f"no unit test shows {name} staying silent"


def test_every_rule_file_is_unit_tested() -> None:
    _, _, covered = unit_test_cases()
    missing = {path.name for path in RULE_FILES if path.resolve() not in covered}
    assert not missing, f"rule files without unit tests: {sorted(missing)}"


def test_runbooks_have_the_expected_sections() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    for name in names:
        text = (RUNBOOK_DIR / f"{name}.md").read_text().lower()
        for section in ("meaning", "impact", "first checks", "mitigation", "escalation"):
            assert f"## {section}" in text, f"{name}.md lacks a '{section}' section"
