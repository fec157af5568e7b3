"""The HistoryStore family: the append-only delivery history that the KPIs are computed from.

Every rollout (its start, the moment its new version first takes user traffic, a decision to roll
back, traffic back on the good version, a promotion, its end), every pipeline run, every change
(version -> commit and commit time), every incident and every alert that reaches the platform's
receiver is one `HistoryEntry`. Entries are never updated or deleted: a later fact is a new entry.

Each entry has a deterministic `id` (for a rollout: its name, start time and the transition), so
writing the same entry twice, as a retry after a timeout or a controller resumed after a crash
does, leaves one entry: stores ignore an id they already hold (MongoDB) or readers keep the first
line with that id (JSON lines).

Implementations (registry `history_stores`): `mongodb` (a collection in the platform's own
database, so that the backups include it) and `jsonl` (a file, for tests and set-ups without a
database). `store.append` raises RetryableError when the store cannot be reached: callers that
must never fail because of the history (the rollout controller, the receiver) write through
`flightdeck.history.writer.HistoryWriter`, which retries in the background.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from flightdeck.core.config import describe_validation_error
from flightdeck.core.errors import ConfigError
from flightdeck.core.registry import Registry
from flightdeck.core.validation import PlainText, Version

EntryKind = Literal[
    "rollout.started",
    "rollout.traffic",
    "rollback.decided",
    "rollback.restored",
    "promotion",
    "rollout.finished",
    "change",
    "pipeline.run",
    "incident",
    "alert",
]
ENTRY_KINDS: tuple[EntryKind, ...] = EntryKind.__args__  # type: ignore[attr-defined]

COMMIT_PATTERN = r"^[0-9a-f]{7,64}$"
"""A git commit id (abbreviated or full, SHA-1 or SHA-256), lower-case hex."""
RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"
"""A pipeline run id, a rollout key or an alert fingerprint: no spaces, no slashes."""
TEXT_MAX = 2000


def _utc(value: datetime | None) -> datetime | None:
    """In UTC, to the millisecond: what MongoDB keeps, so every store reads back the same time."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


class HistoryEntry(BaseModel):
    """One fact of the delivery history. Which fields a kind sets is said by its builder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,299}$")
    kind: EntryKind
    at: AwareDatetime
    """When it happened; the time the KPIs place the entry in a window by."""
    rollout: str | None = Field(None, pattern=RUN_ID_PATTERN)
    """The rollout's key, `<name>@<start time>`: the same for every entry of one rollout."""
    name: str | None = Field(None, max_length=200)
    strategy: str | None = Field(None, max_length=40)
    """The rollout spec's `strategy.type` (canary, bluegreen)."""
    candidate_track: str | None = Field(None, max_length=40)
    baseline_track: str | None = Field(None, max_length=40)
    version: Version | None = None
    baseline_version: Version | None = None
    commit: str | None = Field(None, pattern=COMMIT_PATTERN)
    committed_at: AwareDatetime | None = None
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    outcome: str | None = Field(None, max_length=40)
    decision: str | None = Field(None, max_length=40)
    reason: PlainText | None = Field(None, max_length=TEXT_MAX)
    severity: str | None = Field(None, max_length=40)
    source: str | None = Field(None, max_length=80)
    """Who wrote it: controller, pipeline, git, alertmanager, a person..."""
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("at", "committed_at", "started_at", "finished_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)


class HistoryStore(Protocol):
    def append(self, entry: HistoryEntry) -> None:
        """Add the entry; an id already stored is kept as it is (appending is idempotent).

        Raises RetryableError when the store cannot be reached.
        """
        ...

    def read(self, since: datetime | None = None) -> list[HistoryEntry]:
        """The entries with `at >= since` (all without it), oldest first, one per id."""
        ...


history_stores: Registry[HistoryStore] = Registry("history store")


def history_store(kind: str, *args: object) -> HistoryStore:
    """The store registered as `kind` (mongodb, jsonl); an unknown kind is a ConfigError."""
    from flightdeck.history import jsonl, mongodb  # noqa: F401  (registers the stores)

    return history_stores.create(kind, *args)


# -- entries written by others than the rollout controller ----------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _entry(what: str, **fields: Any) -> HistoryEntry:
    """An entry from a caller's input (the pipeline's, a person's): bad input is a ConfigError
    that names the field, never a half-checked entry."""
    try:
        return HistoryEntry(**fields)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(what, exc)) from None


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(RUN_ID_PATTERN, value):
        raise ConfigError(
            f"{what} {value!r}: 1 to 200 letters, digits and . _ : @ -, starting with a letter "
            "or digit"
        )
    return value


def change_entry(
    version: str, commit: str, committed_at: datetime, source: str = "git"
) -> HistoryEntry:
    """Which commit a version was built from, and when that commit was made (for lead time)."""
    return _entry(
        "change",
        id=f"change:{version}:{commit}",
        kind="change",
        at=committed_at,
        version=version,
        commit=commit,
        committed_at=committed_at,
        source=source,
    )


def pipeline_run_entry(
    run_id: str,
    *,
    version: str,
    started_at: datetime,
    finished_at: datetime,
    outcome: Literal["succeeded", "failed", "cancelled"],
    commit: str | None = None,
    committed_at: datetime | None = None,
    reason: str | None = None,
    stages: dict[str, str] | None = None,
) -> HistoryEntry:
    """One run of the delivery pipeline (the `flightdeck pipeline` command), from its input.

    `stages` maps each stage to its result (passed, failed, skipped); `reason` says why it failed.
    """
    _check_id(run_id, "pipeline run id")
    if finished_at < started_at:
        raise ConfigError(f"pipeline run {run_id!r}: finished_at is before started_at")
    return _entry(
        "pipeline run",
        id=f"pipeline:{run_id}",
        kind="pipeline.run",
        at=started_at,
        version=version,
        commit=commit,
        committed_at=committed_at,
        started_at=started_at,
        finished_at=finished_at,
        outcome=outcome,
        reason=reason,
        source="pipeline",
        details={"run": run_id, "stages": dict(stages or {})},
    )


def incident_entry(
    incident_id: str,
    *,
    title: str,
    started_at: datetime,
    detected_at: datetime | None = None,
    resolved_at: datetime | None = None,
    severity: str = "critical",
    version: str | None = None,
    source: str = "person",
) -> HistoryEntry:
    """An incident: the failure started at `started_at`, was detected at `detected_at` (None:
    unknown) and the service was healthy again at `resolved_at` (None: still open).

    `version` names the change that caused it, when known; otherwise the KPIs attribute it to the
    change that was live when it started (docs/kpis.md). A later fact (it was resolved) is a new
    entry with the same `incident_id` and the resolution time; the latest one counts.
    """
    _check_id(incident_id, "incident id")
    if detected_at is not None and detected_at < started_at:
        raise ConfigError(f"incident {incident_id}: detected before it started")
    if resolved_at is not None and resolved_at < started_at:
        raise ConfigError(f"incident {incident_id}: resolved before it started")
    suffix = f":resolved:{_stamp(resolved_at)}" if resolved_at else ""
    return _entry(
        "incident",
        id=f"incident:{incident_id}{suffix}",
        kind="incident",
        at=started_at,
        version=version,
        started_at=started_at,
        finished_at=resolved_at,
        severity=severity,
        reason=title,
        source=source,
        details={
            "incident": incident_id,
            "detected_at": detected_at.astimezone(UTC).isoformat() if detected_at else None,
        },
    )


def record_pipeline_run(store: HistoryStore, run_id: str, **fields: Any) -> HistoryEntry:
    """Append a pipeline run (see `pipeline_run_entry`), and its change when a commit is known."""
    entry = pipeline_run_entry(run_id, **fields)
    if entry.commit and entry.committed_at and entry.version:
        store.append(change_entry(entry.version, entry.commit, entry.committed_at, "pipeline"))
    store.append(entry)
    return entry


def record_change(
    store: HistoryStore, version: str, commit: str, committed_at: datetime, source: str = "git"
) -> HistoryEntry:
    entry = change_entry(version, commit, committed_at, source)
    store.append(entry)
    return entry


def record_incident(store: HistoryStore, incident_id: str, **fields: Any) -> HistoryEntry:
    entry = incident_entry(incident_id, **fields)
    store.append(entry)
    return entry


def _alert_time(value: object) -> datetime | None:
    """Alertmanager's times are RFC 3339; a zero time (`0001-01-01T00:00:00Z`) means none."""
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _label(labels: dict[str, Any], key: str) -> str | None:
    value = labels.get(key)
    return value[:200] if isinstance(value, str) else None


def alert_entries(payload: dict[str, Any], received_at: datetime) -> list[HistoryEntry]:
    """The alerts of one Alertmanager webhook notification as history entries.

    A firing alert is one entry at its `startsAt` (when Prometheus started firing it); a resolved
    one is another entry at its `endsAt`. Both have the alert's fingerprint in their id, so
    Alertmanager repeating a notification adds nothing. Anything malformed is skipped: an alert
    payload comes from the network.
    """
    entries: list[HistoryEntry] = []
    alerts = payload.get("alerts")
    for alert in alerts if isinstance(alerts, list) else []:
        if not isinstance(alert, dict):
            continue
        raw_labels = alert.get("labels")
        labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
        status = alert.get("status")
        started = _alert_time(alert.get("startsAt")) or received_at
        fingerprint = alert.get("fingerprint")
        if not isinstance(fingerprint, str) or not fingerprint.isalnum():
            identity = "|".join(f"{k}={v}" for k, v in sorted(labels.items()))
            fingerprint = hashlib.sha256(identity.encode()).hexdigest()[:16]
        fingerprint = fingerprint[:64]
        ended = _alert_time(alert.get("endsAt")) if status == "resolved" else None
        if status == "resolved" and ended is None:
            ended = received_at
        common: dict[str, Any] = {
            "kind": "alert",
            "severity": _label(labels, "severity"),
            "source": "alertmanager",
            "started_at": started,
            "finished_at": ended,
            "reason": _label(labels, "alertname"),
            "details": {
                "fingerprint": fingerprint,
                "service": _label(labels, "service"),
                "status": "resolved" if ended else "firing",
            },
        }
        try:
            if ended is None:
                entries.append(
                    HistoryEntry(id=f"alert:{fingerprint}:{_stamp(started)}", at=started, **common)
                )
            else:
                entries.append(
                    HistoryEntry(
                        id=f"alert:{fingerprint}:{_stamp(started)}:resolved",
                        at=max(ended, started),
                        **common,
                    )
                )
        except ValueError:
            continue  # a label too long or with control characters: not worth a history entry
    return entries
