"""The rollout metrics: a Prometheus text file per rollout, rewritten after every save.

The local receiver (and, in a cluster, the controller's metrics endpoint) serves the files of the
metrics directory on /metrics; the Rollout* alerts and the Canary dashboard read them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile

from flightdeck.rollout.record import PHASES, RolloutRecord


def write_rollout_metrics(record: RolloutRecord, directory: Path, now: datetime) -> None:
    registry = CollectorRegistry()
    labels = {"rollout": record.name}
    phase = Gauge(
        "flightdeck_rollout_phase",
        "1 for the rollout's current phase",
        ["rollout", "phase"],
        registry=registry,
    )
    for name in PHASES:
        phase.labels(rollout=record.name, phase=name).set(1 if record.phase == name else 0)
    Gauge(
        "flightdeck_canary_weight",
        "Percent of traffic on the canary",
        ["rollout"],
        registry=registry,
    ).labels(**labels).set(record.weight)
    checks = Gauge(
        "flightdeck_rollout_check_result",
        "Last result per check: 1 pass, 0 fail, -1 inconclusive",
        ["rollout", "check"],
        registry=registry,
    )
    if record.last_analysis and not record.finished:  # an ended rollout checks nothing
        for check in record.last_analysis.checks:
            value = {"pass": 1, "fail": 0}.get(check["result"], -1)
            checks.labels(rollout=record.name, check=check["name"]).set(value)
        _check_numbers(registry, record)
    end = record.finished_at or now
    Gauge(
        "flightdeck_rollout_duration_seconds",
        "Time since the rollout started",
        ["rollout"],
        registry=registry,
    ).labels(**labels).set((end - record.started_at).total_seconds())
    rollbacks = Counter(
        "flightdeck_rollout_rollbacks",
        "Rollouts that were rolled back",
        ["rollout"],
        registry=registry,
    )
    rolled_back = record.phase in ("RolledBack", "Aborted")
    rollbacks.labels(**labels).inc(record.rollbacks_before + int(rolled_back))
    Gauge(
        "flightdeck_rollout_info",
        "The rollout's versions and strategy",
        ["rollout", "version", "stable_version", "strategy"],
        registry=registry,
    ).labels(
        rollout=record.name,
        version=record.version,
        stable_version=record.baseline_version,
        strategy=record.spec.strategy.type,
    ).set(1)
    directory.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(directory / f"rollout-{record.name}.prom"), registry)


def _check_numbers(registry: CollectorRegistry, record: RolloutRecord) -> None:
    """The numbers behind the last analysis: values, confidence bounds, e-values and counts."""
    assert record.last_analysis is not None
    labels = ["rollout", "check"]
    value = Gauge(
        "flightdeck_rollout_check_value",
        "Last value per check (an estimate for the sequential judge)",
        labels,
        registry=registry,
    )
    bound = Gauge(
        "flightdeck_rollout_check_bound",
        "Confidence bounds of the value (sequential judge)",
        [*labels, "bound"],
        registry=registry,
    )
    evidence = Gauge(
        "flightdeck_rollout_check_evidence",
        "E-values of the sequential tests, by the hypothesis they argue for",
        [*labels, "hypothesis"],
        registry=registry,
    )
    needed = Gauge(
        "flightdeck_rollout_check_evidence_needed",
        "The e-value at which a sequential test decides",
        [*labels, "hypothesis"],
        registry=registry,
    )
    count = Gauge(
        "flightdeck_rollout_check_count",
        "The counts a check was computed from (requests and errors by side)",
        [*labels, "count"],
        registry=registry,
    )
    for check in record.last_analysis.checks:
        name = {"rollout": record.name, "check": check["name"]}
        if check.get("value") is not None:
            value.labels(**name).set(check["value"])
        for side in ("lower", "upper"):
            if check.get(side) is not None:
                bound.labels(**name, bound=side).set(check[side])
        for hypothesis, number in (check.get("evidence") or {}).items():
            evidence.labels(**name, hypothesis=hypothesis).set(number)
        for hypothesis, number in (check.get("needed") or {}).items():
            needed.labels(**name, hypothesis=hypothesis).set(number)
        for what, number in (check.get("counts") or {}).items():
            count.labels(**name, count=what).set(number)
