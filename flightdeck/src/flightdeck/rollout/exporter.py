"""The rollout metrics, from rollout records: a text file per rollout, or a live collector.

- `write_rollout_metrics`: `rollout-<name>.prom` in a metrics directory, rewritten after every
  save (the local platform's receiver serves that directory);
- `RolloutRecordsCollector`: the same metrics for every rollout of a state store, computed from
  the records at each scrape. `flightdeck metrics serve --target kubernetes` (the chart's metrics
  Deployment) uses it: the rollout ConfigMaps are the truth wherever the controller runs (a CI
  job, a laptop, a pod), so no file has to travel to Prometheus.

The Rollout* alerts and the Canary dashboard read these metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from flightdeck.rollout.record import PHASES, RolloutRecord
from flightdeck.state import StateStore


def rollout_registry(records: Iterable[RolloutRecord], now: datetime) -> CollectorRegistry:
    """A registry holding the metrics of every record, each family once."""
    registry = CollectorRegistry()
    phase = Gauge(
        "flightdeck_rollout_phase",
        "1 for the rollout's current phase",
        ["rollout", "phase"],
        registry=registry,
    )
    weight = Gauge(
        "flightdeck_canary_weight",
        "Percent of traffic on the canary",
        ["rollout"],
        registry=registry,
    )
    checks = Gauge(
        "flightdeck_rollout_check_result",
        "Last result per check: 1 pass, 0 fail, -1 inconclusive",
        ["rollout", "check"],
        registry=registry,
    )
    duration = Gauge(
        "flightdeck_rollout_duration_seconds",
        "Time since the rollout started",
        ["rollout"],
        registry=registry,
    )
    rollbacks = Counter(
        "flightdeck_rollout_rollbacks",
        "Rollouts that were rolled back",
        ["rollout"],
        registry=registry,
    )
    info = Gauge(
        "flightdeck_rollout_info",
        "The rollout's versions and strategy",
        ["rollout", "version", "stable_version", "strategy"],
        registry=registry,
    )
    numbers = _CheckNumbers(registry)
    for record in records:
        name = record.name
        for phase_name in PHASES:
            phase.labels(rollout=name, phase=phase_name).set(1 if record.phase == phase_name else 0)
        weight.labels(rollout=name).set(record.weight)
        if record.last_analysis and not record.finished:  # an ended rollout checks nothing
            for check in record.last_analysis.checks:
                value = {"pass": 1, "fail": 0}.get(check["result"], -1)
                checks.labels(rollout=name, check=check["name"]).set(value)
                numbers.set(name, check)
        end = record.finished_at or now
        duration.labels(rollout=name).set((end - record.started_at).total_seconds())
        rolled_back = record.phase in ("RolledBack", "Aborted")
        rollbacks.labels(rollout=name).inc(record.rollbacks_before + int(rolled_back))
        info.labels(
            rollout=name,
            version=record.version,
            stable_version=record.baseline_version,
            strategy=record.spec.strategy.type,
        ).set(1)
    return registry


class _CheckNumbers:
    """The numbers behind the last analysis: values, confidence bounds, e-values and counts."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["rollout", "check"]
        self.value = Gauge(
            "flightdeck_rollout_check_value",
            "Last value per check (an estimate for the sequential judge)",
            labels,
            registry=registry,
        )
        self.bound = Gauge(
            "flightdeck_rollout_check_bound",
            "Confidence bounds of the value (sequential judge)",
            [*labels, "bound"],
            registry=registry,
        )
        self.evidence = Gauge(
            "flightdeck_rollout_check_evidence",
            "E-values of the sequential tests, by the hypothesis they argue for",
            [*labels, "hypothesis"],
            registry=registry,
        )
        self.needed = Gauge(
            "flightdeck_rollout_check_evidence_needed",
            "The e-value at which a sequential test decides",
            [*labels, "hypothesis"],
            registry=registry,
        )
        self.count = Gauge(
            "flightdeck_rollout_check_count",
            "The counts a check was computed from (requests and errors by side)",
            [*labels, "count"],
            registry=registry,
        )

    def set(self, rollout: str, check: dict[str, Any]) -> None:
        name = {"rollout": rollout, "check": check["name"]}
        if check.get("value") is not None:
            self.value.labels(**name).set(check["value"])
        for side in ("lower", "upper"):
            if check.get(side) is not None:
                self.bound.labels(**name, bound=side).set(check[side])
        for hypothesis, number in (check.get("evidence") or {}).items():
            self.evidence.labels(**name, hypothesis=hypothesis).set(number)
        for hypothesis, number in (check.get("needed") or {}).items():
            self.needed.labels(**name, hypothesis=hypothesis).set(number)
        for what, number in (check.get("counts") or {}).items():
            self.count.labels(**name, count=what).set(number)


def write_rollout_metrics(record: RolloutRecord, directory: Path, now: datetime) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    registry = rollout_registry([record], now)
    write_to_textfile(str(directory / f"rollout-{record.name}.prom"), registry)


class RolloutRecordsCollector(Collector):
    """The metrics of every rollout of a state store, read again at each collection.

    A store that cannot be read, or a record that does not parse, raises: the caller (the
    metrics endpoint) reports the source as down rather than serving half the rollouts.
    """

    def __init__(self, state: StateStore, clock: Callable[[], datetime]) -> None:
        self.state = state
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        records = []
        for name in self.state.names():
            raw = self.state.load(name)
            if raw is not None:  # deleted since it was listed
                records.append(RolloutRecord.model_validate(raw))
        yield from rollout_registry(records, self.clock()).collect()
