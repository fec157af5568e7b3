"""The rollout controller's link to the delivery history: the one hook it calls on every save.

`observe(record, now)` runs just before the controller saves a record. It notes on the record when
the rollout crosses a transition the history keeps (`record.history`):

- started: the record exists (its `started_at`);
- traffic: the new version first takes user traffic, i.e. `record.weight` > 0 (a canary step; a
  blue-green switch sets the weight to 100);
- rollback decided: the record first reaches RollingBack (or ends RolledBack/Aborted);
- traffic restored: after that decision, the weight back at 0 (all traffic on the good version);
- promotion and end: the record ends Succeeded, RolledBack or Aborted.

The entries are a function of the record alone (their ids and times come from it), so writing
one again, after a failure or by a controller that resumed after a crash, changes nothing.
They are written in the background (`HistoryWriter`): observe never waits for the store, except
when the rollout has ended, for a bounded few seconds, so that the last entries are written
before the process exits. What could not be written is reported as rollout events and written
again on the next save; the record says which entries the history holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flightdeck.core.validation import control_characters
from flightdeck.history import TEXT_MAX, EntryKind, HistoryEntry, HistoryStore
from flightdeck.history.writer import HistoryWriter
from flightdeck.rollout.kpi import refresh_delivery_metrics
from flightdeck.rollout.record import Phase, RolloutRecord

ROLLBACK_PHASES: frozenset[Phase] = frozenset({"RollingBack", "RolledBack", "Aborted"})
FINAL_WAIT_SECONDS = 5.0


def rollout_key(record: RolloutRecord) -> str:
    return f"{record.name}@{record.started_at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"


def plain(text: str | None) -> str | None:
    """Free text for an entry: control characters (an error's newlines) become spaces."""
    if text is None:
        return None
    bad = set(control_characters(text))
    return "".join(" " if ch in bad else ch for ch in text)[:TEXT_MAX]


def _decision_reason(record: RolloutRecord) -> tuple[str, str | None]:
    if record.phase == "Succeeded":
        requested = any(e.message.startswith("promotion requested") for e in record.events)
        entered = next((e.message for e in record.events if e.phase == "Promoting"), None)
        return "promote", "promotion requested" if requested else entered
    return ("abort" if record.abort_requested else "rollback"), record.reason


def rollout_entries(record: RolloutRecord) -> dict[EntryKind, HistoryEntry]:
    """The history entries of the record as it is now, by kind (a function of the record)."""
    key, marks = rollout_key(record), record.history
    common: dict[str, Any] = {
        "rollout": key,
        "name": record.name,
        "strategy": record.spec.strategy.type,
        "candidate_track": record.candidate_track,
        "baseline_track": record.baseline_track,
        "version": record.version,
        "baseline_version": record.baseline_version,
        "started_at": record.started_at,
        "source": "controller",
    }

    def entry(kind: EntryKind, at: datetime, **fields: Any) -> HistoryEntry:
        return HistoryEntry(id=f"rollout:{key}:{kind}", kind=kind, at=at, **(common | fields))

    entries = {"rollout.started": entry("rollout.started", record.started_at)}
    if marks.traffic_at is not None:
        entries["rollout.traffic"] = entry("rollout.traffic", marks.traffic_at)
    if marks.rollback_at is not None:
        decision = "abort" if record.abort_requested else "rollback"
        entries["rollback.decided"] = entry(
            "rollback.decided",
            marks.rollback_at,
            decision=decision,
            reason=plain(record.reason),
            details={"weight": marks.rollback_weight},
        )
    if marks.restored_at is not None:
        entries["rollback.restored"] = entry("rollback.restored", marks.restored_at)
    if record.finished and record.finished_at is not None:
        decision, reason = _decision_reason(record)
        if record.phase == "Succeeded":
            entries["promotion"] = entry(
                "promotion", record.finished_at, decision=decision, reason=plain(reason)
            )
        entries["rollout.finished"] = entry(
            "rollout.finished",
            record.finished_at,
            finished_at=record.finished_at,
            outcome=record.phase,
            decision=decision,
            reason=plain(reason),
            details={"analyses": len(record.analyses) + record.analyses_dropped},
        )
    return entries  # type: ignore[return-value]


def mark_transitions(record: RolloutRecord, now: datetime) -> None:
    """Note on the record the first time it crosses each transition (see the module's doc)."""
    marks = record.history
    if marks.traffic_at is None and record.weight > 0:
        marks.traffic_at = now
    decided_now = False
    if marks.rollback_at is None and record.phase in ROLLBACK_PHASES:
        marks.rollback_at, marks.rollback_weight = now, record.weight
        decided_now = True
    restored = (record.weight == 0 and not decided_now) or record.finished
    if marks.rollback_at is not None and marks.restored_at is None and restored:
        marks.restored_at = now


class DeliveryRecorder:
    """What the controller calls on every save; does nothing without a history store."""

    def __init__(
        self,
        store: HistoryStore | None,
        metrics_dir: Path | None = None,
        final_wait: float = FINAL_WAIT_SECONDS,
        attempts: int = 3,
        first_pause: float = 0.5,
    ) -> None:
        """`attempts` and `first_pause`: the writer's retries of each entry (history/writer.py)."""
        self.store = store
        self.final_wait = final_wait
        self.writer: HistoryWriter | None = None
        if store is not None:
            refresh = (
                (lambda: refresh_delivery_metrics(store, metrics_dir)) if metrics_dir else None
            )
            self.writer = HistoryWriter(store, attempts, first_pause, after_writes=refresh)

    def observe(self, record: RolloutRecord, now: datetime) -> list[str]:
        """Mark the record's transitions and queue its new entries; messages to report."""
        if self.writer is None:
            return []
        try:
            mark_transitions(record, now)
            messages = self._collect(record)
            missing = self._missing(record)
            self.writer.submit(missing.values())
            if record.finished and missing:
                self.writer.wait(self.final_wait)
                messages += self._collect(record)
                if left := sorted(self._missing(record)):
                    messages.append(
                        f"history: not written when the rollout ended: {', '.join(left)} "
                        "(still retried while this process runs)"
                    )
        except Exception as exc:  # the history must never fail a rollout
            return [f"history: {type(exc).__name__}: {exc}"]
        return messages

    def _missing(self, record: RolloutRecord) -> dict[EntryKind, HistoryEntry]:
        written = set(record.history.written)
        return {k: e for k, e in rollout_entries(record).items() if k not in written}

    def _collect(self, record: RolloutRecord) -> list[str]:
        """Move what the writer reports for this rollout onto the record; its failures."""
        assert self.writer is not None
        prefix = f"rollout:{rollout_key(record)}:"
        written, failures = self.writer.take_report(prefix)
        for entry_id in sorted(written):
            kind = entry_id.removeprefix(prefix)
            if kind not in record.history.written:
                record.history.written.append(kind)
        return failures
