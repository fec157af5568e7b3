"""The rollout spec: a YAML file validated by pydantic, with the architecture document's defaults.

Stages (document, "Canary deployment workflow"): 10% for 15 minutes with a Prometheus query every
minute, then 25% for 10 minutes, 50% for 15 minutes, then promotion at 100%. Rollback triggers:
canary error rate > 5%, canary P95 > 2 s, error rate more than 3 points above stable's, P95 more
than 1.5x stable's, and the canary's memory or CPU above limits (the document's backend limits:
512Mi, 1000m). Every duration accepts `90s`, `15m`, `1h`, `500ms` or a number of seconds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from flightdeck.core.config import load_yaml_model
from flightdeck.core.validation import Duration, Name
from flightdeck.core.validation import format_duration as format_duration  # re-exported
from flightdeck.notify import Notifications


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(Strict):
    weight: int = Field(ge=1, le=99, description="percent of traffic to the canary")
    hold: Duration = Field(description="how long the weight stays while the analysis passes")


class Thresholds(Strict):
    max_error_rate: float = Field(0.05, gt=0, le=1, description="canary 5xx share")
    max_p95_seconds: float = Field(2.0, gt=0)
    max_error_rate_increase: float = Field(
        0.03, ge=0, le=1, description="canary error rate minus stable's (0.03 = 3 points)"
    )
    max_p95_ratio: float = Field(1.5, gt=1, description="canary P95 / stable P95")
    p95_ratio_floor_seconds: float = Field(
        0.1, ge=0, description="the ratio is judged only above this canary P95 (below is noise)"
    )
    max_memory_bytes: int = Field(512 * 1024 * 1024, gt=0, description="resident memory")
    max_cpu_cores: float = Field(1.0, gt=0)


class Inconclusive(Strict):
    """What repeated windows without enough data lead to."""

    policy: Literal["pause", "rollback"] = "pause"
    limit: int = Field(3, ge=1, description="consecutive inconclusive windows before the policy")


class Sequential(Strict):
    """The sequential judge: tests that decide as soon as the evidence allows (docs/canary.md)."""

    false_alarm_rate: float = Field(
        0.01,
        gt=0,
        le=0.2,
        description="chance that a step of a canary as good as the baseline is failed, however "
        "often it is evaluated",
    )
    miss_rate: float = Field(
        0.05,
        gt=0,
        le=0.5,
        description="chance that a step of a candidate clearly worse than the thresholds allow "
        "is passed (the next steps test it again)",
    )
    error_rate_margin: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="how much more often than the baseline the candidate may fail before it is "
        "a regression (0.005 = half a point)",
    )


Judge = Literal["threshold", "sequential"]


class Analysis(Strict):
    judge: Judge = Field(
        "sequential",
        description="sequential (the default): statistical tests on the counts since the step "
        "began, on every new scrape; threshold: window averages against limits every interval",
    )
    interval: Duration = Field(timedelta(minutes=1), description="how often Prometheus is queried")
    window: Duration | None = Field(
        None, description="the PromQL rate window; default: the interval (at least 2 scrapes)"
    )
    min_requests: int = Field(20, ge=1, description="canary requests per window for a verdict")
    thresholds: Thresholds = Thresholds()
    sequential: Sequential = Sequential()
    inconclusive: Inconclusive = Inconclusive()

    @property
    def rate_window(self) -> timedelta:
        return self.window or self.interval

    @model_validator(mode="after")
    def _sequential_needs_a_pass_bar(self) -> Analysis:
        if self.judge == "sequential" and self.thresholds.max_error_rate_increase <= 0:
            raise ValueError(
                "thresholds.max_error_rate_increase: the sequential judge passes a candidate "
                "once it is sure the error rate is less than this above the baseline's; it "
                "must be above 0"
            )
        return self


class SmokeTests(Strict):
    enabled: bool = True
    timeout: Duration = Field(timedelta(seconds=10), description="per request")


class Timeouts(Strict):
    candidate_ready: Duration = Field(
        timedelta(minutes=5), description="until every replica of the new version is ready"
    )
    baseline_ready: Duration = Field(
        timedelta(minutes=5), description="until the serving version is ready again"
    )


DEFAULT_STEPS = (
    Step(weight=10, hold=timedelta(minutes=15)),
    Step(weight=25, hold=timedelta(minutes=10)),
    Step(weight=50, hold=timedelta(minutes=15)),
)


class CanaryStrategy(Strict):
    """Progressive traffic: each step's weight is held while the analysis passes."""

    type: Literal["canary"] = "canary"
    steps: list[Step] = Field(default_factory=lambda: list(DEFAULT_STEPS), min_length=1)

    @model_validator(mode="after")
    def _weights_increase(self) -> CanaryStrategy:
        weights = [step.weight for step in self.steps]
        if weights != sorted(set(weights)):
            raise ValueError(f"steps: weights must strictly increase, got {weights}")
        return self


class BlueGreenStrategy(Strict):
    """A full second colour, checked on a preview route, then all traffic switched at once."""

    type: Literal["bluegreen"] = "bluegreen"
    auto_promotion: bool = Field(True, description="false: pause before the switch until promote")
    auto_promotion_seconds: Duration | None = Field(
        None, description="with auto_promotion false: switch anyway after this long"
    )
    pre_promotion_analysis: Duration | None = Field(
        None, description="analyse the new colour under load on the preview route this long"
    )
    monitor: Duration = Field(
        timedelta(minutes=5), description="after the switch, the old colour stays up this long"
    )


StrategySpec = Annotated[CanaryStrategy | BlueGreenStrategy, Field(discriminator="type")]
FailurePolicy = Literal["rollback", "pause"]


class RolloutSpec(Strict):
    name: Name = "backend"
    strategy: StrategySpec = CanaryStrategy()
    analysis: Analysis = Analysis()
    smoke_tests: SmokeTests = SmokeTests()
    timeouts: Timeouts = Timeouts()
    notifications: Notifications = Notifications()
    on_error: FailurePolicy = Field(
        "rollback",
        description="what a permanent error in a tick leads to: roll back, or pause for a person",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: object) -> object:
        if isinstance(data, dict) and "steps" in data:
            raise ValueError("steps: moved under strategy (strategy: {type: canary, steps: [...]})")
        return data

    @field_validator("strategy", mode="before")
    @classmethod
    def _canary_by_default(cls, value: object) -> object:
        """`strategy: {steps: [...]}` is a canary: the type may be left out."""
        if isinstance(value, dict) and "type" not in value:
            return {"type": "canary", **value}
        return value

    @property
    def canary(self) -> CanaryStrategy:
        """The canary section; a ConfigError-free shortcut for code that only runs for canaries."""
        if not isinstance(self.strategy, CanaryStrategy):
            raise TypeError(f"rollout {self.name} is not a canary")
        return self.strategy


def load_rollout_spec(path: Path | None) -> RolloutSpec:
    return load_yaml_model(RolloutSpec, path)
