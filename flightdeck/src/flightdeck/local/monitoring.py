"""Prometheus and Alertmanager configuration for the local platform.

The rule files are the project's own (`monitoring/prometheus/rules/*.yaml`), the same ones the Helm
chart ships. Alertmanager keeps the project's route tree, grouping and inhibition rules
(`monitoring/alertmanager/alertmanager.yaml`); only the receivers change: each one becomes a
webhook to the local flightdeck receiver, which records what arrives as incidents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flightdeck.core.files import write_atomically
from flightdeck.core.paths import repo_root
from flightdeck.local.context import LocalContext

DEFAULT_RECEIVER = "flightdeck"


def monitoring_dir() -> Path:
    return repo_root() / "monitoring"


def prometheus_config(context: LocalContext) -> dict[str, Any]:
    config = context.config
    ports = config.ports
    interval = f"{config.monitoring.scrape_interval_seconds}s"
    return {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": f"{min(config.monitoring.scrape_interval_seconds, 10)}s",
            "evaluation_interval": f"{config.monitoring.evaluation_interval_seconds}s",
            "external_labels": {"platform": "local"},
        },
        "rule_files": [str(monitoring_dir() / "prometheus" / "rules" / "*.yaml")],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}]}
            ]
        },
        "scrape_configs": [
            {
                "job_name": "backend",
                "file_sd_configs": [
                    {
                        "files": [str(context.run_dir.conf / "targets" / "backend.json")],
                        "refresh_interval": "5s",
                    }
                ],
            },
            {
                "job_name": "prometheus",
                "static_configs": [{"targets": [f"127.0.0.1:{ports.prometheus}"]}],
            },
            {
                "job_name": "alertmanager",
                "static_configs": [{"targets": [f"127.0.0.1:{ports.alertmanager}"]}],
            },
            {
                "job_name": "flightdeck",
                "static_configs": [{"targets": [f"127.0.0.1:{ports.receiver}"]}],
            },
        ],
    }


def _receiver_names(route: dict[str, Any]) -> set[str]:
    names = {route["receiver"]} if "receiver" in route else set()
    for child in route.get("routes", []):
        names |= _receiver_names(child)
    return names


def alertmanager_config(context: LocalContext) -> dict[str, Any]:
    """The project's Alertmanager tree with every receiver pointed at the local receiver."""
    source = monitoring_dir() / "alertmanager" / "alertmanager.yaml"
    project: dict[str, Any] = yaml.safe_load(source.read_text()) if source.exists() else {}
    route: dict[str, Any] = project.get("route") or {"receiver": DEFAULT_RECEIVER}
    names = {receiver["name"] for receiver in project.get("receivers", [])} | _receiver_names(route)
    url = f"http://127.0.0.1:{context.config.ports.receiver}/alerts"
    receivers = [
        {
            "name": name,
            "webhook_configs": [{"url": f"{url}?receiver={name}", "send_resolved": True}],
        }
        for name in sorted(names)
    ]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": route,
        "receivers": receivers,
        "inhibit_rules": project.get("inhibit_rules", []),
    }


def write_monitoring_configs(context: LocalContext) -> None:
    conf = context.run_dir.conf
    write_atomically(
        conf / "prometheus.yml", yaml.safe_dump(prometheus_config(context), sort_keys=False)
    )
    write_atomically(
        conf / "alertmanager.yml", yaml.safe_dump(alertmanager_config(context), sort_keys=False)
    )
    targets = conf / "targets" / "backend.json"
    if not targets.exists():
        write_atomically(targets, "[]")
