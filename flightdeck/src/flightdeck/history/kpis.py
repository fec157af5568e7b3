"""The delivery KPIs computed from the history over a window [since, until). Pure: no I/O.

docs/kpis.md defines each one with its formula; the names here follow it. In short:

- a *production change* is a rollout whose new version took user traffic (`rollout.traffic`,
  or its promotion when no traffic entry exists); it belongs to the window of that moment;
- a *production deployment* is a promoted rollout, in the window of its promotion;
- a change *failed* when it was rolled back after taking traffic, or an incident is attributed to
  it: the incident names its version, or started while it was the newest production change;
- a *failure* (for MTTD and MTTR) is a failed rollout's exposure (new version's first traffic to
  traffic back on the good version) or an incident that did not start inside such an exposure;
  it belongs to the window of its start.

Nothing measured is "no data" (None), never 0: a rate over no changes, a mean over no samples.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flightdeck.history import HistoryEntry

INCIDENT_ALERT_SERVICES = frozenset({"backend", "mongodb", "uploads"})
"""Critical alerts of these (user-facing) services are incidents; flightdeck's own alerts about
its rollouts, backups and certificates are not caused by a change to the application."""
OWN_ALERT_SERVICES = frozenset({"rollout"})
"""Alerts that report a rollout's own decisions: never the 'first alert' of a failure."""


@dataclass
class RolloutFacts:
    """One rollout, folded from its entries."""

    key: str
    name: str | None = None
    strategy: str | None = None
    version: str | None = None
    baseline_version: str | None = None
    started_at: datetime | None = None
    traffic_at: datetime | None = None
    rollback_at: datetime | None = None
    decision: str | None = None
    reason: str | None = None
    restored_at: datetime | None = None
    promoted_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str | None = None

    @property
    def exposed_at(self) -> datetime | None:
        """When the new version reached production users (first traffic, else its promotion)."""
        return self.traffic_at or self.promoted_at

    @property
    def rolled_back_after_traffic(self) -> bool:
        return (
            self.rollback_at is not None
            and self.traffic_at is not None
            and self.rollback_at >= self.traffic_at
        )

    @property
    def back_on_good_version_at(self) -> datetime | None:
        return self.restored_at or (self.finished_at if self.rollback_at else None)


@dataclass
class Incident:
    key: str
    started_at: datetime
    title: str | None = None
    detected_at: datetime | None = None
    """None when the history does not say (an alert is its own detection: no separate start)."""
    resolved_at: datetime | None = None
    version: str | None = None
    source: str | None = None


@dataclass
class Alert:
    key: str
    started_at: datetime
    name: str | None
    severity: str | None
    service: str | None
    resolved_at: datetime | None = None


@dataclass
class PipelineRun:
    key: str
    version: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None


@dataclass
class Folded:
    rollouts: dict[str, RolloutFacts] = field(default_factory=dict)
    commits: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    """version -> (commit, commit time), the latest recorded for the version."""
    pipeline_runs: list[PipelineRun] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    first_at: datetime | None = None


def fold(entries: Iterable[HistoryEntry]) -> Folded:
    """The history's facts: one object per rollout, incident, alert; commits per version."""
    folded = Folded()
    for entry in sorted(entries, key=lambda e: (e.at, e.id)):
        folded.first_at = folded.first_at or entry.at
        if entry.rollout is not None and entry.kind.startswith(("rollout.", "rollback.", "promo")):
            _fold_rollout(
                folded.rollouts.setdefault(entry.rollout, RolloutFacts(entry.rollout)), entry
            )
        elif entry.kind == "change" and entry.version and entry.commit and entry.committed_at:
            folded.commits[entry.version] = (entry.commit, entry.committed_at)
        elif entry.kind == "pipeline.run" and entry.started_at:
            folded.pipeline_runs.append(
                PipelineRun(
                    entry.id, entry.version, entry.started_at, entry.finished_at, entry.outcome
                )
            )
        elif entry.kind == "incident" and entry.started_at:
            _fold_incident(folded, entry)
        elif entry.kind == "alert" and entry.started_at:
            _fold_alert(folded, entry)
    return folded


def _fold_rollout(facts: RolloutFacts, entry: HistoryEntry) -> None:
    facts.name = facts.name or entry.name
    facts.strategy = facts.strategy or entry.strategy
    facts.version = facts.version or entry.version
    facts.baseline_version = facts.baseline_version or entry.baseline_version
    if entry.kind == "rollout.started":
        facts.started_at = entry.at
    elif entry.kind == "rollout.traffic":
        facts.traffic_at = entry.at
    elif entry.kind == "rollback.decided":
        facts.rollback_at, facts.decision, facts.reason = entry.at, entry.decision, entry.reason
    elif entry.kind == "rollback.restored":
        facts.restored_at = entry.at
    elif entry.kind == "promotion":
        facts.promoted_at = entry.at
    elif entry.kind == "rollout.finished":
        facts.finished_at, facts.outcome = entry.at, entry.outcome
        facts.started_at = facts.started_at or entry.started_at


def _fold_incident(folded: Folded, entry: HistoryEntry) -> None:
    key = str(entry.details.get("incident") or entry.id)
    detected = entry.details.get("detected_at")
    incident = folded.incidents.get(key)
    if incident is None:
        assert entry.started_at is not None
        incident = folded.incidents[key] = Incident(key, entry.started_at, entry.reason)
    incident.started_at = min(incident.started_at, entry.started_at or incident.started_at)
    if isinstance(detected, str):
        incident.detected_at = datetime.fromisoformat(detected)
    incident.resolved_at = entry.finished_at or incident.resolved_at
    incident.version = entry.version or incident.version
    incident.source = entry.source


def _fold_alert(folded: Folded, entry: HistoryEntry) -> None:
    assert entry.started_at is not None
    key = f"{entry.details.get('fingerprint')}@{entry.started_at.isoformat()}"
    alert = folded.alerts.setdefault(
        key,
        Alert(key, entry.started_at, entry.reason, entry.severity, entry.details.get("service")),
    )
    alert.resolved_at = entry.finished_at or alert.resolved_at


# -- the figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One measurement: when it counts (its place in the window), its value, what it is about."""

    at: datetime
    seconds: float
    subject: str


@dataclass
class Failure:
    subject: str
    started_at: datetime
    detected_at: datetime | None
    restored_at: datetime | None
    change: RolloutFacts | None
    how_detected: str


@dataclass
class DeliveryFigures:
    since: datetime
    until: datetime
    history_since: datetime | None
    """The oldest entry of the whole history (None: the history is empty)."""
    rollouts: list[RolloutFacts]
    """Rollouts started in the window."""
    changes: list[RolloutFacts]
    deployments: list[RolloutFacts]
    failed_changes: list[RolloutFacts]
    rollbacks_before_traffic: list[RolloutFacts]
    failures: list[Failure]
    incidents: list[Incident]
    lead_times: list[Point]
    deployment_times: list[Point]
    detection_times: list[Point]
    restore_times: list[Point]
    rollback_times: list[Point]
    deployment_time_sources: dict[str, int]

    @property
    def days(self) -> float:
        return (self.until - self.since).total_seconds() / 86400

    @property
    def deployments_per_day(self) -> float | None:
        if self.history_since is None or self.history_since >= self.until:
            return None  # nothing was ever recorded: no history, not zero deployments
        return len(self.deployments) / self.days

    @property
    def deployments_per_week(self) -> float | None:
        per_day = self.deployments_per_day
        return None if per_day is None else per_day * 7

    @property
    def change_failure_rate(self) -> float | None:
        if not self.changes:
            return None
        return len(self.failed_changes) / len(self.changes)

    @property
    def lead_time(self) -> float | None:
        return median(self.lead_times)

    @property
    def deployment_time(self) -> float | None:
        return median(self.deployment_times)

    @property
    def mttd(self) -> float | None:
        return mean(self.detection_times)

    @property
    def mttr(self) -> float | None:
        return mean(self.restore_times)

    @property
    def rollback_time(self) -> float | None:
        return maximum(self.rollback_times)


def mean(points: list[Point]) -> float | None:
    return statistics.fmean(p.seconds for p in points) if points else None


def median(points: list[Point]) -> float | None:
    return statistics.median(p.seconds for p in points) if points else None


def maximum(points: list[Point]) -> float | None:
    return max(p.seconds for p in points) if points else None


def _within(moment: datetime | None, since: datetime, until: datetime) -> bool:
    return moment is not None and since <= moment < until


def _live_change(
    changes: list[RolloutFacts], moment: datetime, version: str | None
) -> RolloutFacts | None:
    """The change an incident starting at `moment` is attributed to (docs/kpis.md)."""
    candidates = [c for c in changes if c.exposed_at is not None and c.exposed_at <= moment]
    if version is not None:
        named = [c for c in changes if c.version == version and c.exposed_at is not None]
        candidates = [c for c in candidates if c.version == version] or named
    return max(candidates, key=lambda c: c.exposed_at or moment, default=None)


def _incidents(folded: Folded) -> list[Incident]:
    incidents = list(folded.incidents.values())
    for alert in folded.alerts.values():
        if alert.severity == "critical" and alert.service in INCIDENT_ALERT_SERVICES:
            incidents.append(
                Incident(
                    f"alert:{alert.key}",
                    alert.started_at,
                    alert.name,
                    detected_at=None,
                    resolved_at=alert.resolved_at,
                    source="alertmanager",
                )
            )
    return sorted(incidents, key=lambda incident: incident.started_at)


def _first_alert(folded: Folded, start: datetime, end: datetime | None) -> datetime | None:
    times = [
        alert.started_at
        for alert in folded.alerts.values()
        if alert.service not in OWN_ALERT_SERVICES
        and start <= alert.started_at
        and (end is None or alert.started_at <= end)
    ]
    return min(times, default=None)


def delivery_figures(
    entries: Iterable[HistoryEntry], since: datetime, until: datetime
) -> DeliveryFigures:
    if until <= since:
        raise ValueError("the window must end after it starts")
    folded = fold(entries)
    rollouts = list(folded.rollouts.values())
    all_changes = sorted(
        (r for r in rollouts if r.exposed_at is not None), key=lambda r: r.exposed_at or since
    )
    changes = [c for c in all_changes if _within(c.exposed_at, since, until)]
    deployments = [r for r in rollouts if _within(r.promoted_at, since, until)]
    deployments.sort(key=lambda r: r.promoted_at or since)
    incidents = _incidents(folded)

    # Failures: rolled-back exposures first, then incidents outside every such exposure.
    failures: list[Failure] = []
    exposures: list[tuple[datetime, datetime | None]] = []
    failed_keys: set[str] = set()
    for change in all_changes:
        if not change.rolled_back_after_traffic:
            continue
        assert change.traffic_at is not None
        assert change.rollback_at is not None
        failed_keys.add(change.key)
        end = change.back_on_good_version_at
        exposures.append((change.traffic_at, end))
        first_alert = _first_alert(folded, change.traffic_at, end or change.rollback_at)
        detected, how = change.rollback_at, f"{change.decision or 'rollback'} decision"
        if first_alert is not None and first_alert < detected:
            detected, how = first_alert, "first alert"
        failures.append(
            Failure(f"rollout {change.key}", change.traffic_at, detected, end, change, how)
        )
    for incident in incidents:
        inside = any(
            start <= incident.started_at and (end is None or incident.started_at <= end)
            for start, end in exposures
        )
        if inside:
            continue  # the same failure as the rollback that covers it
        culprit = _live_change(all_changes, incident.started_at, incident.version)
        if culprit is not None:
            failed_keys.add(culprit.key)
        failures.append(
            Failure(
                f"incident {incident.key}",
                incident.started_at,
                incident.detected_at,
                incident.resolved_at,
                culprit,
                "incident" if incident.detected_at else "unknown",
            )
        )
    window_failures = [f for f in failures if _within(f.started_at, since, until)]

    lead_times = []
    for deployment in deployments:
        commit = folded.commits.get(deployment.version or "")
        if commit and deployment.promoted_at and commit[1] <= deployment.promoted_at:
            lead_times.append(
                Point(
                    deployment.promoted_at,
                    (deployment.promoted_at - commit[1]).total_seconds(),
                    f"{deployment.version} ({commit[0][:12]})",
                )
            )

    deployment_times, sources = [], {"pipeline": 0, "rollout": 0}
    for deployment in deployments:
        assert deployment.promoted_at is not None
        start, source = deployment.started_at, "rollout"
        runs = [
            run
            for run in folded.pipeline_runs
            if run.version == deployment.version
            and run.started_at <= (deployment.started_at or deployment.promoted_at)
        ]
        if runs:
            start, source = max(run.started_at for run in runs), "pipeline"
        if start is not None:
            sources[source] += 1
            deployment_times.append(
                Point(
                    deployment.promoted_at,
                    (deployment.promoted_at - start).total_seconds(),
                    str(deployment.version),
                )
            )

    rollback_times = [
        Point(r.rollback_at, (r.restored_at - r.rollback_at).total_seconds(), r.key)
        for r in rollouts
        if r.rolled_back_after_traffic
        and r.rollback_at is not None
        and r.restored_at is not None
        and _within(r.rollback_at, since, until)
    ]
    return DeliveryFigures(
        since=since,
        until=until,
        history_since=folded.first_at,
        rollouts=[r for r in rollouts if _within(r.started_at, since, until)],
        changes=changes,
        deployments=deployments,
        failed_changes=[c for c in changes if c.key in failed_keys],
        rollbacks_before_traffic=[
            r
            for r in rollouts
            if r.rollback_at is not None
            and not r.rolled_back_after_traffic
            and _within(r.rollback_at, since, until)
        ],
        failures=window_failures,
        incidents=[i for i in incidents if _within(i.started_at, since, until)],
        lead_times=lead_times,
        deployment_times=deployment_times,
        detection_times=[
            Point(f.started_at, (f.detected_at - f.started_at).total_seconds(), f.subject)
            for f in window_failures
            if f.detected_at is not None
        ],
        restore_times=[
            Point(f.started_at, (f.restored_at - f.started_at).total_seconds(), f.subject)
            for f in window_failures
            if f.restored_at is not None
        ],
        rollback_times=sorted(rollback_times, key=lambda p: p.at),
        deployment_time_sources=sources,
    )


def parse_window(value: str, now: datetime) -> datetime:
    """`--since`: a duration back from now (`30d`, `12h`, `90m`, `2w`) or an ISO 8601 time."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*(m|h|d|w)\s*", value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        span = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
                "w": timedelta(weeks=1)}[unit] * amount  # fmt: skip
        if not timedelta(0) < span <= timedelta(days=3660):
            raise ValueError(f"{value!r}: a window is between 1 minute and 10 years")
        return now - span
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (30d, 12h, 90m, 2w) nor an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r}: give the time zone (for example 2026-01-31T12:00:00Z)")
    if moment >= now:
        raise ValueError(f"{value!r} is not in the past")
    return moment
