"""The rollout record: everything a controller needs to resume, persisted after every transition.

The record is bounded, because on Kubernetes it lives in a ConfigMap (1 MiB at most): repeated
identical events (a retry every tick during an outage) are one event with a count, and only the
latest events and analyses are kept, with a count of what was dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flightdeck.core.tracks import ServingTrack, Track
from flightdeck.core.validation import EnvKey, EnvValue, Name, Version
from flightdeck.rollout.evidence import JudgeState
from flightdeck.rollout.spec import RolloutSpec

Phase = Literal[
    "Initializing",
    "SmokeTesting",
    "Progressing",
    "Paused",
    "Promoting",
    "Monitoring",
    "Finalising",
    "Succeeded",
    "RollingBack",
    "RolledBack",
    "Aborted",
]
PHASES: tuple[Phase, ...] = Phase.__args__  # type: ignore[attr-defined]
TERMINAL: frozenset[Phase] = frozenset({"Succeeded", "RolledBack", "Aborted"})
PromotionStage = Literal[
    "scale-candidate", "route-to-canary", "replace-stable", "route-to-stable", "remove-canary"
]
MAX_EVENTS = 200
MAX_ANALYSES = 300


class Event(BaseModel):
    at: datetime
    phase: Phase
    message: str
    count: int = 1
    last_at: datetime | None = None
    """When the event last repeated (count > 1)."""


class AnalysisRun(BaseModel):
    at: datetime
    step: int
    weight: int
    result: Literal["pass", "fail", "inconclusive"]
    checks: list[dict[str, Any]]
    repeats: int = 1
    """Evaluations with this result in a row in this step, of which this is the latest."""
    first_at: datetime | None = None
    """When the first of the repeats ran (repeats > 1)."""


class HistoryMarks(BaseModel):
    """When the rollout crossed the transitions the delivery history records, and which of its
    entries the history holds (set by rollout/delivery.py), so that an entry whose write failed
    is written again later with its original time."""

    traffic_at: datetime | None = None
    """The new version first took user traffic (`weight` > 0: a canary step, a switch)."""
    rollback_at: datetime | None = None
    rollback_weight: int | None = None
    restored_at: datetime | None = None
    """After a rollback decision: the weight back at 0, all traffic on the good version."""
    written: list[str] = Field(default_factory=list)


class RolloutRecord(BaseModel):
    name: Name
    version: Version
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict)
    spec: RolloutSpec
    candidate_track: Track = "canary"
    baseline_track: ServingTrack = "stable"
    """The track that served users when the rollout started (stable, or a colour)."""
    baseline_version: Version
    baseline_replicas: int
    phase: Phase = "Initializing"
    step: int = -1
    weight: int = 0
    started_at: datetime
    finished_at: datetime | None = None
    step_started_at: datetime | None = None
    last_analysis_at: datetime | None = None
    step_passes: int = 0
    inconclusive_streak: int = 0
    promotion_stage: PromotionStage | None = None
    abort_requested: bool = False
    rollbacks_before: int = 0
    reason: str | None = None
    phase_entered_at: datetime | None = None
    resume_phase: Phase | None = None
    """Where `resume` goes back to from Paused (blue-green: pre-switch analysis or monitor)."""
    baseline_figures: dict[str, Any] | None = None
    """Blue-green: the serving track's error rate and P95 measured just before the switch (and,
    for the sequential judge, the counts behind them)."""
    switched_at: datetime | None = None
    judge_state: JudgeState | None = None
    """The sequential judge's evidence in the current step."""
    analyses: list[AnalysisRun] = Field(default_factory=list)
    analyses_dropped: int = 0
    events: list[Event] = Field(default_factory=list)
    events_dropped: int = 0
    history: HistoryMarks = Field(default_factory=HistoryMarks)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    @property
    def last_analysis(self) -> AnalysisRun | None:
        return self.analyses[-1] if self.analyses else None

    def add_event(self, at: datetime, message: str) -> None:
        last = self.events[-1] if self.events else None
        if last is not None and last.message == message and last.phase == self.phase:
            last.count += 1
            last.last_at = at
            return
        self.events.append(Event(at=at, phase=self.phase, message=message))
        if len(self.events) > MAX_EVENTS:
            # The first event (the start) stays: it says what this rollout is.
            del self.events[1]
            self.events_dropped += 1

    def add_analysis(self, run: AnalysisRun, coalesce: bool = False) -> None:
        """Append the run; with `coalesce`, a run with the same step and result as the last one
        replaces it (counted in `repeats`), so that a judge evaluating on every scrape keeps the
        record small."""
        last = self.analyses[-1] if self.analyses else None
        if coalesce and last and (last.step, last.result) == (run.step, run.result):
            run.repeats = last.repeats + 1
            run.first_at = last.first_at or last.at
            self.analyses[-1] = run
            return
        self.analyses.append(run)
        if len(self.analyses) > MAX_ANALYSES:
            del self.analyses[0]
            self.analyses_dropped += 1
