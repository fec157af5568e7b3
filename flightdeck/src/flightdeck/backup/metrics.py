"""backup.prom: the backup metrics as a Prometheus text file, for the textfile-style scrape.

Each `flightdeck backup` command is a short process, so the values live in a small JSON state
file beside backup.prom and the text file is re-rendered from it after every change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flightdeck.backup.lock import directory_problem
from flightdeck.core.errors import ConfigError
from flightdeck.core.files import write_atomically

STATE_FILE = "backup-state.json"
PROM_FILE = "backup.prom"

_METRICS = {
    "last_success_timestamp_seconds": "Unix time of the last successful backup run.",
    "last_duration_seconds": "Wall time of the last successful backup run.",
    "last_size_bytes": "Stored (compressed, encrypted) size of the last successful backup.",
    "failures_total": "Backup runs that failed since the metrics directory was created.",
    "last_verify_success": "1 if the last verify passed, 0 if it failed.",
    "last_verify_timestamp_seconds": "Unix time of the last verify.",
    "last_prune_success": "1 if the last prune passed, 0 if it failed.",
    "last_prune_timestamp_seconds": "Unix time of the last prune.",
}


class _StateCollector(Collector):
    """Exposes the saved state: failures as a counter, the rest as gauges (only once set)."""

    def __init__(self, state: dict[str, float]) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "flightdeck_backup_failures",
            _METRICS["failures_total"],
            value=self._state.get("failures_total", 0.0),
        )
        for name, help_text in _METRICS.items():
            if name in self._state and name != "failures_total":
                yield GaugeMetricFamily(
                    f"flightdeck_backup_{name}", help_text, value=self._state[name]
                )


def read_state(metrics_dir: Path) -> dict[str, float]:
    """The saved values; a missing or unreadable state starts again from none."""
    try:
        data: dict[str, Any] = json.loads((metrics_dir / STATE_FILE).read_text())
        return {k: float(v) for k, v in data.items() if k in _METRICS}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def update(metrics_dir: Path, **values: float) -> None:
    """Merge `values` into the state and rewrite backup.prom atomically."""
    state = read_state(metrics_dir)
    state.update(values)
    registry = CollectorRegistry()
    registry.register(_StateCollector(state))
    try:
        write_atomically(metrics_dir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))
        write_to_textfile(str(metrics_dir / PROM_FILE), registry)
    except OSError as exc:
        raise ConfigError(
            f"FLIGHTDECK_BACKUP_METRICS_DIR={metrics_dir}: {directory_problem(exc)}"
        ) from None


def record_failure(metrics_dir: Path) -> None:
    update(metrics_dir, failures_total=read_state(metrics_dir).get("failures_total", 0.0) + 1)


def record_verify(metrics_dir: Path, ok: bool) -> None:
    """The verify result, published whatever made a verify fail (BackupVerifyFailed reads it)."""
    update(
        metrics_dir,
        last_verify_success=1.0 if ok else 0.0,
        last_verify_timestamp_seconds=time.time(),
    )


def record_prune(metrics_dir: Path, ok: bool) -> None:
    update(
        metrics_dir, last_prune_success=1.0 if ok else 0.0, last_prune_timestamp_seconds=time.time()
    )
