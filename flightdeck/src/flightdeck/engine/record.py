"""The rollout record: everything a controller needs to resume, persisted after every transition."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from flightdeck.engine.spec import RolloutSpec
from flightdeck.validation import EnvKey, EnvValue, Name, Version

Phase = Literal[
    "Initializing",
    "SmokeTesting",
    "Progressing",
    "Paused",
    "Promoting",
    "Succeeded",
    "RollingBack",
    "RolledBack",
    "Aborted",
]
PHASES: tuple[Phase, ...] = Phase.__args__  # type: ignore[attr-defined]
TERMINAL: frozenset[Phase] = frozenset({"Succeeded", "RolledBack", "Aborted"})
PromotionStage = Literal["route-to-canary", "replace-stable", "route-to-stable", "remove-canary"]


class Event(BaseModel):
    at: datetime
    phase: Phase
    message: str


class AnalysisRun(BaseModel):
    at: datetime
    step: int
    weight: int
    result: Literal["pass", "fail", "inconclusive"]
    checks: list[dict[str, Any]]


class RolloutRecord(BaseModel):
    name: Name
    version: Version
    env: dict[EnvKey, EnvValue] = Field(default_factory=dict)
    spec: RolloutSpec
    stable_version: Version
    stable_replicas: int
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
    analyses: list[AnalysisRun] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    @property
    def last_analysis(self) -> AnalysisRun | None:
        return self.analyses[-1] if self.analyses else None
