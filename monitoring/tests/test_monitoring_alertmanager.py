"""Alertmanager configuration: amtool checks, every route, templates, no inlined secrets, and
inhibition observed on a real Alertmanager."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from testsupport import REPO_ROOT
from testsupport.prometheus import Alertmanager
from testsupport.tools import required_tool

AM_DIR = REPO_ROOT / "monitoring" / "alertmanager"
CONFIG = AM_DIR / "alertmanager.yaml"
SECRETS_DIR = "/etc/alertmanager/secrets/flightdeck-alertmanager/"
# Keys that hold a secret inline; each has a *_file twin that must be used instead.
INLINE_SECRET_KEYS = {
    "api_url",
    "slack_api_url",
    "routing_key",
    "service_key",
    "auth_password",
    "smtp_auth_password",
    "credentials",
    "password",
    "bearer_token",
}

pytestmark = pytest.mark.unit

# (labels, receivers in notification order). Together they reach every route of the tree.
ROUTE_CASES = [
    ({"alertname": "BackendTargetDown", "severity": "critical", "service": "backend"},
     "webhook,pagerduty,slack-critical"),
    ({"alertname": "BackupMissing", "severity": "warning", "service": "backup"},
     "webhook,slack-warning,email"),
    ({"alertname": "Something", "severity": "info", "service": "backend"}, "webhook"),
    ({"alertname": "NoSeverity"}, "webhook"),
]  # fmt: skip


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [required_tool("amtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def config() -> Any:
    return yaml.safe_load(CONFIG.read_text())


def test_amtool_check_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "1 inhibit rules" in result.stdout
    assert "5 receivers" in result.stdout
    assert "1 templates" in result.stdout


@pytest.mark.parametrize(("labels", "receivers"), ROUTE_CASES)
def test_amtool_routes(labels: dict[str, str], receivers: str) -> None:
    pairs = [f"{key}={value}" for key, value in labels.items()]
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receivers}",
        *pairs,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_route_cases_cover_every_route() -> None:
    routed = {name for _, receivers in ROUTE_CASES for name in receivers.split(",")}
    tree = config()["route"]
    in_tree = {tree["receiver"]} | {route["receiver"] for route in tree["routes"]}
    assert in_tree == routed
    assert in_tree == {receiver["name"] for receiver in config()["receivers"]}


def test_receivers_cover_slack_email_pagerduty_and_webhook() -> None:
    kinds = {key for receiver in config()["receivers"] for key in receiver if key != "name"}
    assert kinds == {"slack_configs", "email_configs", "pagerduty_configs", "webhook_configs"}


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")


def test_secrets_come_from_files_and_are_never_inlined() -> None:
    secret_files = []
    for path, key, value in walk(config()):
        assert key not in INLINE_SECRET_KEYS, f"inline secret {path}.{key}"
        if key.endswith("_file") and isinstance(value, str):
            assert value.startswith(SECRETS_DIR), f"{path}.{key}: {value}"
            secret_files.append(key)
    assert sorted(secret_files) == sorted(
        [
            "smtp_auth_password_file",
            "slack_api_url_file",
            "credentials_file",
            "routing_key_file",
        ]
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("flightdeck.title", "[ALERTSTATUS]"),
        ("flightdeck.slack.text", "`instance=foo.bar:1234`"),
        ("flightdeck.email.html", "<li>label1 = value1</li>"),
        ("flightdeck.pagerduty.severity", "info"),
    ],
)
def test_templates_render(template: str, expected: str) -> None:
    # amtool renders with its built-in example data (two alerts, status "alertstatus").
    result = amtool(
        "template", "render", f"--template.glob={AM_DIR / 'templates' / '*.tmpl'}",
        f"--template.text={{{{ template {template!r} . }}}}".replace("'", '"'),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    required_tool("prometheus-alertmanager")
    server = Alertmanager(tmp_path, config=CONFIG)
    server.start()
    yield server
    server.stop()


def alert(name: str, severity: str, service: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "service": service},
        "annotations": {"summary": f"{name} {severity}"},
        "startsAt": datetime.now(UTC).isoformat(),
    }


@pytest.mark.integration
def test_critical_inhibits_warning_of_the_same_alert_and_service(
    alertmanager: Alertmanager,
) -> None:
    alerts = [
        alert("BackupMissing", "critical", "backup"),
        alert("BackupMissing", "warning", "backup"),
        alert("BackupMissing", "warning", "other"),
        alert("BackupFailed", "warning", "backup"),
    ]
    httpx.post(f"{alertmanager.url}/api/v2/alerts", json=alerts, timeout=5).raise_for_status()

    def states() -> dict[tuple[str, str, str], str]:
        body = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
        return {
            (a["labels"]["alertname"], a["labels"]["severity"], a["labels"]["service"]): a[
                "status"
            ]["state"]
            for a in body
        }

    expected = {
        ("BackupMissing", "critical", "backup"): "active",
        ("BackupMissing", "warning", "backup"): "suppressed",
        ("BackupMissing", "warning", "other"): "active",
        ("BackupFailed", "warning", "backup"): "active",
    }
    deadline = time.monotonic() + 15
    while states() != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert states() == expected
