"""The delivery KPI formulas (docs/kpis.md) on hand-built histories, edge cases first."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from flightdeck.core.errors import ConfigError, RetryableError
from flightdeck.history import (
    HistoryEntry,
    alert_entries,
    change_entry,
    incident_entry,
    record_pipeline_run,
)
from flightdeck.history.jsonl import JsonlHistoryStore
from flightdeck.history.kpis import delivery_figures, parse_window
from flightdeck.rollout.kpi import KPI_KEYS, kpi_report, prometheus_results, write_delivery_metrics

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(days=30)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rollout(
    number: int,
    start: float,
    *,
    traffic: float | None = None,
    rollback: float | None = None,
    restored: float | None = None,
    promoted: float | None = None,
    version: str | None = None,
    decision: str = "rollback",
) -> list[HistoryEntry]:
    """The entries the controller writes for one rollout (times in minutes after T0)."""
    key = f"backend@{number}"
    common: dict[str, Any] = {
        "rollout": key,
        "name": "backend",
        "strategy": "canary",
        "version": version or f"1.{number}.0",
        "baseline_version": "1.0.0",
        "started_at": at(start),
    }

    def entry(kind: str, minutes: float, **fields: Any) -> HistoryEntry:
        return HistoryEntry.model_validate(
            {"id": f"rollout:{key}:{kind}", "kind": kind, "at": at(minutes), **common, **fields}
        )

    entries = [entry("rollout.started", start)]
    if traffic is not None:
        entries.append(entry("rollout.traffic", traffic))
    if rollback is not None:
        entries.append(entry("rollback.decided", rollback, decision=decision, reason="p95"))
        end = restored if restored is not None else rollback
        entries.append(entry("rollback.restored", end))
        outcome = "Aborted" if decision == "abort" else "RolledBack"
        entries.append(entry("rollout.finished", end, outcome=outcome))
    if promoted is not None:
        entries.append(entry("promotion", promoted, decision="promote"))
        entries.append(entry("rollout.finished", promoted, outcome="Succeeded"))
    return entries


def figures(entries: list[HistoryEntry], since: datetime = SINCE, until: datetime = UNTIL) -> Any:
    return delivery_figures(entries, since, until)


def test_an_empty_history_is_no_data_for_every_kpi_never_zero() -> None:
    report = kpi_report([], None, SINCE, UNTIL)
    assert [result.kpi.key for result in report.results] == list(KPI_KEYS)
    for result in report.results:
        assert result.value is None, result.kpi.key
        assert result.display == "no data"
        assert result.met is None
    assert report.result("change_failure_rate").level == "no data"
    assert report.result("mttd").level == "n/a (not DORA)"


def test_a_window_without_deployments_has_no_rates_but_a_frequency_of_zero() -> None:
    # Only a rollout that the smoke tests stopped before it took any traffic.
    entries = rollout(1, 10, rollback=11, restored=11.5)
    result = figures(entries)
    assert result.deployments == []
    assert result.deployments_per_week == 0  # the history exists: zero is measured
    assert result.change_failure_rate is None  # no production change
    assert result.lead_time is None
    assert result.rollback_time is None  # nothing to take traffic back from
    assert result.mttd is None
    assert result.mttr is None
    assert [r.key for r in result.rollbacks_before_traffic] == ["backend@1"]


def test_a_rollback_without_an_incident_is_a_failed_change() -> None:
    entries = [
        *rollout(1, 0, traffic=2, promoted=40),
        *rollout(2, 100, traffic=102, rollback=105, restored=105.5),
    ]
    result = figures(entries)
    assert [d.key for d in result.deployments] == ["backend@1"]
    assert result.deployments_per_day == pytest.approx(1 / 30)
    assert result.deployments_per_week == pytest.approx(7 / 30)
    assert result.change_failure_rate == 0.5
    assert [c.key for c in result.failed_changes] == ["backend@2"]
    assert result.mttd == pytest.approx(3 * 60)  # traffic at 102, decision at 105
    assert result.mttr == pytest.approx(3.5 * 60)  # traffic at 102, back on stable at 105.5
    assert result.rollback_time == pytest.approx(30)  # decision to traffic restored
    assert result.deployment_time == pytest.approx(40 * 60)  # no pipeline: from the rollout start
    assert result.failures[0].how_detected == "rollback decision"


def test_an_incident_spanning_two_deployments_fails_only_the_change_live_when_it_started() -> None:
    entries = [
        *rollout(1, 0, traffic=1, promoted=10),  # A, live from minute 1
        incident_entry(
            "db-slow",
            title="slow queries",
            started_at=at(60),
            detected_at=at(64),
        ),
        *rollout(2, 120, traffic=121, promoted=130),  # B, deployed while the incident is open
        incident_entry(
            "db-slow",
            title="slow queries",
            started_at=at(60),
            detected_at=at(64),
            resolved_at=at(200),
        ),
    ]
    result = figures(entries)
    assert len(result.changes) == 2
    assert [c.key for c in result.failed_changes] == ["backend@1"]
    assert result.change_failure_rate == 0.5
    assert len(result.failures) == 1  # one incident, counted once
    assert result.mttd == pytest.approx(4 * 60)
    assert result.mttr == pytest.approx(140 * 60)  # started at 60, healthy again at 200
    assert result.rollback_time is None


def test_an_incident_naming_its_version_is_attributed_to_that_change() -> None:
    entries = [
        *rollout(1, 0, traffic=1, promoted=10, version="1.1.0"),
        *rollout(2, 20, traffic=21, promoted=30, version="1.2.0"),
        incident_entry("late", title="bug of 1.1.0", started_at=at(40), version="1.1.0"),
    ]
    result = figures(entries)
    assert [c.version for c in result.failed_changes] == ["1.1.0"]
    assert result.mttr is None  # still open
    assert result.mttd is None  # its detection time is not known


def test_the_window_boundary_counts_what_happens_at_its_start_but_not_at_its_end() -> None:
    edge = SINCE
    entries = [
        *rollout(1, -60, traffic=-50, promoted=-1e-6),  # promoted just before the window
        *rollout(2, -30, traffic=-20, promoted=0),  # promoted exactly at its start
        *rollout(3, 30 * 24 * 60 - 10, traffic=30 * 24 * 60 - 5, promoted=30 * 24 * 60),
    ]
    result = figures(entries, edge, UNTIL)
    assert [d.key for d in result.deployments] == ["backend@2"]  # 3 is at `until`: excluded
    # Changes belong to the window of their first traffic: 1 and 2 took traffic before it.
    assert [c.key for c in result.changes] == ["backend@3"]
    # A failure that started before the window is not in it, even if it ended inside.
    before = rollout(4, -10, traffic=-5, rollback=2, restored=3)
    assert figures(before).failures == []
    assert figures(before).rollback_time == pytest.approx(60)  # the decision is inside


def test_the_first_alert_detects_a_failure_before_the_rollback_decision() -> None:
    firing = {
        "status": "firing",
        "fingerprint": "abc123",
        "startsAt": at(103).isoformat(),
        "labels": {
            "alertname": "BackendHighErrorRatio",
            "severity": "warning",
            "service": "backend",
        },
    }
    own = {**firing, "fingerprint": "def456", "startsAt": at(102.5).isoformat()}
    own["labels"] = {
        "alertname": "CanaryAnalysisFailing",
        "severity": "warning",
        "service": "rollout",
    }
    entries = [
        *rollout(1, 100, traffic=101, rollback=110, restored=110.5),
        *alert_entries({"alerts": [firing, own]}, at(103.1)),
    ]
    result = figures(entries)
    assert result.mttd == pytest.approx(2 * 60)  # the backend alert at 103, not the rollout's
    assert result.failures[0].how_detected == "first alert"
    assert result.incidents == []  # a warning is not an incident


def test_a_critical_alert_of_the_backend_is_an_incident_until_it_resolves() -> None:
    labels = {"alertname": "BackendTargetDown", "severity": "critical", "service": "backend"}
    alert = {"fingerprint": "f00d", "startsAt": at(50).isoformat(), "labels": labels}
    resolved = {**alert, "status": "resolved", "endsAt": at(58).isoformat()}
    entries = [
        *rollout(1, 0, traffic=1, promoted=10),
        *alert_entries({"alerts": [{**alert, "status": "firing"}]}, at(50)),
        *alert_entries({"alerts": [resolved]}, at(58)),
        *alert_entries({"alerts": [resolved]}, at(59)),  # Alertmanager repeats itself
    ]
    result = figures(entries)
    assert len(result.incidents) == 1
    assert result.mttr == pytest.approx(8 * 60)
    assert result.change_failure_rate == 1.0
    backup = {**alert, "status": "firing", "fingerprint": "b0b"}
    backup["labels"] = {**labels, "service": "backup"}
    not_the_app = [
        *rollout(1, 0, traffic=1, promoted=10),
        *alert_entries({"alerts": [backup]}, at(50)),
    ]
    assert figures(not_the_app).incidents == []


def test_lead_time_and_deployment_time_come_from_the_pipeline_and_the_commit(
    tmp_path: Path,
) -> None:
    store = JsonlHistoryStore(tmp_path / "history.jsonl")
    record_pipeline_run(
        store,
        "run-7",
        version="1.1.0",
        started_at=at(-20),
        finished_at=at(45),
        outcome="succeeded",
        commit="0123abcd",
        committed_at=at(-200),
        stages={"build": "passed", "deploy": "passed"},
    )
    for entry in rollout(1, 0, traffic=1, promoted=40, version="1.1.0"):
        store.append(entry)
    result = figures(store.read())
    assert result.lead_time == pytest.approx(240 * 60)  # committed at -200, promoted at 40
    assert result.deployment_time == pytest.approx(60 * 60)  # pipeline at -20 to 40
    assert result.deployment_time_sources == {"pipeline": 1, "rollout": 0}


def test_targets_and_dora_levels() -> None:
    entries = [change_entry("1.1.0", "0123abcd", at(-30))]
    for n in range(20):  # twenty promotions in a week, one rolled back after traffic
        entries += rollout(n, n * 400, traffic=n * 400 + 1, promoted=n * 400 + 16)
    entries += rollout(99, 9000, traffic=9001, rollback=9004, restored=9004.2)
    report = kpi_report(entries, None, SINCE, SINCE + timedelta(days=7))
    per_week = report.result("deployment_frequency_per_week")
    assert per_week.value == pytest.approx(20)
    assert per_week.met is True
    assert per_week.level == "elite"
    cfr = report.result("change_failure_rate")
    assert cfr.value == pytest.approx(1 / 21)
    assert (cfr.met, cfr.level) == (False, "elite")  # 4.8%: elite for DORA, above the 1% target
    assert report.result("mttr").level == "elite"
    assert report.result("rollback_time").met is True
    assert report.result("deployment_time").value == pytest.approx(16 * 60)
    assert report.result("deployment_time").met is True
    lead_time = report.result("lead_time")
    assert lead_time.samples == 1  # only 1.1.0's commit is known
    assert lead_time.value == pytest.approx((416 + 30) * 60)
    assert (lead_time.met, lead_time.level) == (True, "elite")
    assert report.result("availability").note == "no Prometheus for this engine"


@pytest.mark.parametrize(
    ("per_week", "level"), [(7, "elite"), (6.9, "high"), (1, "high"), (0.9, "medium"), (0.2, "low")]
)
def test_deployment_frequency_levels(per_week: float, level: str) -> None:
    from flightdeck.rollout.kpi import KPIS

    assert KPIS[0].dora is not None
    assert KPIS[0].dora(per_week) == level


class Prometheus:
    """A stand-in MetricsProvider: answers the SLO queries from a table, or fails."""

    def __init__(self, values: dict[str, float | None], error: Exception | None = None) -> None:
        self.values, self.error, self.asked = values, error, []

    def query(self, expression: str) -> float | None:
        self.asked.append(expression)
        if self.error:
            raise self.error
        return next(v for k, v in self.values.items() if expression.startswith(k))


def test_the_slo_figures_come_from_prometheus_over_the_window() -> None:
    prometheus = Prometheus({"1 - ": 0.99995, "histogram_quantile": 0.21, "(sum": 0.00005})
    results = prometheus_results(prometheus, timedelta(days=30))
    assert results["availability"].met is True
    assert results["p95_latency"].display == "210 ms"
    assert results["error_rate"].met is True
    assert all("[2592000s]" in query for query in prometheus.asked)
    down = prometheus_results(Prometheus({}, RetryableError("refused")), timedelta(days=1))
    assert down["availability"].value is None
    assert "refused" in down["availability"].note
    empty = prometheus_results(Prometheus({"1 - ": None, "hist": None, "(sum": None}), timedelta(1))
    assert empty["error_rate"].display == "no data"


def test_the_delivery_metrics_count_the_whole_history(tmp_path: Path) -> None:
    now = at(60 * 24)
    entries = [
        *rollout(1, 0, traffic=1, promoted=10),
        *rollout(2, 20, traffic=21, rollback=23, restored=23.5),
    ]
    path = write_delivery_metrics(entries, tmp_path, now)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }
    assert samples[("flightdeck_delivery_deployments_total", ())] == 1
    assert samples[("flightdeck_delivery_change_failures_total", ())] == 1
    rollouts = (("outcome", "rolled_back"), ("strategy", "canary"))
    assert samples[("flightdeck_delivery_rollouts_total", rollouts)] == 1
    # Every outcome and strategy exists from the start, so that increase() sees the first one.
    never = (("outcome", "aborted"), ("strategy", "bluegreen"))
    assert samples[("flightdeck_delivery_rollouts_total", never)] == 0
    assert samples[("flightdeck_delivery_rollback_time_seconds_bucket", (("le", "30.0"),))] == 1
    assert samples[("flightdeck_delivery_rollback_time_seconds_count", ())] == 1
    cfr = (("kpi", "change_failure_rate"), ("unit", "ratio"))
    assert samples[("flightdeck_delivery_kpi", cfr)] == 0.5
    assert samples[("flightdeck_delivery_kpi_target_met", (("kpi", "change_failure_rate"),))] == 0
    assert ("flightdeck_delivery_kpi", (("kpi", "lead_time"), ("unit", "seconds"))) not in samples


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", T0 - timedelta(days=30)), ("12h", T0 - timedelta(hours=12)),
     ("2w", T0 - timedelta(weeks=2)), ("90m", T0 - timedelta(minutes=90)),
     ("2026-02-01T00:00:00Z", datetime(2026, 2, 1, tzinfo=UTC))],
)  # fmt: skip
def test_windows(text: str, expected: datetime) -> None:
    assert parse_window(text, T0) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("30", "neither a duration"), ("0d", "between"), ("99999w", "between"),
     ("2026-02-01T00:00:00", "time zone"), ("2027-01-01T00:00:00Z", "not in the past"),
     ("1d; rm -rf /", "neither")],
)  # fmt: skip
def test_bad_windows_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text, T0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": "1.0 ; rm"}, "pipeline run: version: String should match pattern"),
        ({"commit": "HEAD~1"}, "pipeline run: commit: String should match pattern"),
        ({"run_id": "run 7\n"}, "pipeline run id 'run 7\\n'"),
        ({"finished_at": at(-1)}, "finished_at is before started_at"),
        ({"reason": "x" * 3000}, "pipeline run: reason: Value should have at most 2000"),
    ],
)
def test_the_pipeline_api_refuses_bad_input_naming_the_field(
    tmp_path: Path, fields: dict[str, Any], message: str
) -> None:
    run = {
        "run_id": "run-7",
        "version": "1.0.0",
        "started_at": at(0),
        "finished_at": at(10),
        "outcome": "succeeded",
    } | fields
    store = JsonlHistoryStore(tmp_path / "history.jsonl")
    with pytest.raises(ConfigError, match=re.escape(message)):
        record_pipeline_run(store, **run)
    assert store.read() == []  # nothing half-written


def test_a_malformed_alert_payload_is_skipped_not_raised() -> None:
    payload: dict[str, Any] = {
        "alerts": [
            "not an alert",
            {"labels": "nope", "startsAt": "yesterday"},
            {"labels": {"alertname": "bad\nname", "severity": "critical"}, "startsAt": 5},
        ]
    }
    entries = alert_entries(payload, at(0))
    assert [e.started_at for e in entries] == [at(0)]  # only the one with usable fields
    assert alert_entries({"alerts": "x"}, at(0)) == []
