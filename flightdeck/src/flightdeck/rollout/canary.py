"""The canary strategy: a share of the traffic on the new version, step by step, under analysis.

Initializing -> SmokeTesting -> Progressing(step, weight) -> Promoting -> Succeeded, or
-> RollingBack -> RolledBack (Aborted when a person asked for it); Paused waits for `resume`.

The canary is compared with the track that serves users (the record's baseline: `stable`, or
the live colour after a blue-green rollout), called "stable" in messages. A decision to roll back
and the weight going to 0 happen in the same tick. Promotion never puts all the traffic on a
single canary replica: the canary is first scaled to the serving track's replica count and
waited for, then takes 100% while the serving track is replaced, then traffic goes back to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING

from flightdeck.core.errors import FlightdeckError, PermanentError
from flightdeck.core.tracks import TrackSpec
from flightdeck.rollout.analysis import (
    Comparison,
    Series,
    Verdict,
    judge_for,
    undecided,
    undecided_allowance,
)
from flightdeck.rollout.record import AnalysisRun, Phase, RolloutRecord
from flightdeck.rollout.spec import format_duration
from flightdeck.rollout.strategy import PhaseHandler, Request, strategies
from flightdeck.routers import Routing

if TYPE_CHECKING:
    from flightdeck.rollout.controller import Controller


@strategies.register("canary")
class CanaryStrategy:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.target = controller.target

    def handlers(self) -> Mapping[Phase, PhaseHandler]:
        return {
            "Initializing": self._initializing,
            "SmokeTesting": self._smoke_testing,
            "Progressing": self._progressing,
            "Paused": lambda record: False,
            "Promoting": self._promoting,
            "RollingBack": self._rolling_back,
        }

    # -- requests -----------------------------------------------------------------------------
    def refusal(self, record: RolloutRecord, request: Request) -> str | None:
        if request == "abort" and record.phase == "Promoting":
            return (
                f"rollout {record.name!r} is promoting (stable is being replaced): it can't be "
                "aborted; roll back with a new rollout of the previous version"
            )
        return None

    def apply_request(self, record: RolloutRecord, request: Request) -> None:
        controller = self.controller
        if request == "abort" and record.phase == "Promoting":
            # Stable may already run the new version: removing the canary now would leave a
            # half-replaced stable, so the promotion finishes.
            controller.event(record, "abort ignored: the promotion is replacing stable")
        elif request == "abort":
            record.abort_requested = True
            if record.phase != "RollingBack":
                controller.roll_back(record, "aborted by request")
        elif request == "promote" and record.phase in ("Progressing", "Paused"):
            controller.event(record, "promotion requested: skipping the remaining analysis")
            controller.transition(record, "Promoting")
        elif request == "resume" and record.phase == "Paused":
            record.inconclusive_streak = 0
            self._begin_step(record, max(record.step, 0))
            controller.transition(record, "Progressing", "resumed by request")

    # -- phases -------------------------------------------------------------------------------
    def _initializing(self, record: RolloutRecord) -> bool:
        workloads = self.target.workloads
        workloads.apply(TrackSpec("canary", record.version, 1, record.env))
        ready_within = record.spec.timeouts.candidate_ready
        try:
            workloads.wait_ready("canary", ready_within.total_seconds())
        except FlightdeckError as exc:
            self.controller.roll_back(record, f"the canary did not become ready: {exc}")
            return True
        judge = judge_for(self.target.metrics, record.spec.analysis)
        if not judge.sees(Series("canary", record.version)):
            # Traffic before Prometheus scrapes the canary would go unjudged for a while.
            if self.controller.clock() - record.started_at < ready_within:
                return False
            self.controller.roll_back(
                record,
                f"Prometheus has not scraped the canary within {format_duration(ready_within)}",
            )
            return True
        self.target.router.apply(Routing(record.baseline_track, canary_active=True))
        self.controller.transition(
            record, "SmokeTesting", "canary ready; its pool takes no weighted traffic"
        )
        return True

    def _smoke_testing(self, record: RolloutRecord) -> bool:
        controller, spec = self.controller, record.spec
        if not spec.smoke_tests.enabled:
            self._begin_step(record, 0)
            controller.transition(record, "Progressing", "smoke tests disabled")
            return True
        passed = controller.smoke_test(record, "canary")
        if passed is not None:
            self._begin_step(record, 0)
            controller.transition(record, "Progressing", f"{passed} smoke tests passed")
        return True

    def _progressing(self, record: RolloutRecord) -> bool:
        controller, spec, now = self.controller, record.spec, self.controller.clock()
        if not self.target.workloads.ready("canary"):
            controller.roll_back(record, "the canary is not running or not ready (crashed?)")
            return True
        if record.step_started_at is None or record.last_analysis_at is None:
            raise PermanentError(f"rollout record {record.name!r} is progressing without a step")
        judge = judge_for(self.target.metrics, spec.analysis)
        comparison = Comparison(
            Series("canary", record.version),
            Series(record.baseline_track),
            since=record.step_started_at,
            state=record.judge_state,
        )
        if judge.due(comparison, record.last_analysis_at, now):
            verdict = judge.judge(comparison, now)
            record.judge_state = verdict.state
            record.last_analysis_at = now
            record.add_analysis(
                AnalysisRun(
                    at=now,
                    step=record.step,
                    weight=record.weight,
                    result=verdict.result,
                    checks=[check.as_dict() for check in verdict.checks],
                ),
                coalesce=judge.waits_for_evidence,
            )
            if verdict.result == "fail":
                controller.roll_back(
                    record, f"analysis failed at {record.weight}%: {verdict.reason}"
                )
                return True
            if verdict.result == "pass":
                record.inconclusive_streak = 0
                record.step_passes += 1
            elif not judge.waits_for_evidence and self._inconclusive_window(record, verdict):
                return True
        steps = spec.canary.steps
        hold_ends = record.step_started_at + steps[record.step].hold
        last = record.last_analysis
        passed = record.step_passes > 0 and last is not None and last.result == "pass"
        if now >= hold_ends and passed:
            if record.step + 1 < len(steps):
                self._begin_step(record, record.step + 1)
            else:
                controller.transition(record, "Promoting", "every step passed its analysis")
            return True
        if judge.waits_for_evidence and now >= hold_ends:
            return self._undecided_after_hold(record, now - hold_ends)
        return False

    def _inconclusive_window(self, record: RolloutRecord, verdict: Verdict) -> bool:
        """Count an inconclusive window; True when the policy for repeated ones applied."""
        controller, inconclusive = self.controller, record.spec.analysis.inconclusive
        record.inconclusive_streak += 1
        controller.event(
            record,
            f"inconclusive window {record.inconclusive_streak}/{inconclusive.limit}: "
            f"{verdict.reason}",
        )
        if record.inconclusive_streak < inconclusive.limit:
            return False
        self._apply_inconclusive_policy(
            record, f"{record.inconclusive_streak} inconclusive windows in a row"
        )
        return True

    def _undecided_after_hold(self, record: RolloutRecord, overdue: timedelta) -> bool:
        """A judge that waits for evidence gets `limit` intervals past the hold to decide."""
        allowed = undecided_allowance(record.spec.analysis)
        if overdue < allowed:
            return False
        reason = f"no decision {format_duration(allowed)} after the hold: {undecided(record)}"
        self._apply_inconclusive_policy(record, reason)
        return True

    def _apply_inconclusive_policy(self, record: RolloutRecord, reason: str) -> None:
        if record.spec.analysis.inconclusive.policy == "rollback":
            self.controller.roll_back(record, reason)
        else:
            self.controller.transition(
                record, "Paused", f"{reason}: waiting for `resume` or `abort`"
            )

    def _promoting(self, record: RolloutRecord) -> bool:
        router, workloads = self.target.router, self.target.workloads
        timeouts = record.spec.timeouts
        stage = record.promotion_stage or "scale-candidate"
        if stage == "scale-candidate":
            # 100% of the traffic must never land on one canary replica.
            replicas = max(record.baseline_replicas, 1)
            workloads.apply(TrackSpec("canary", record.version, replicas, record.env))
            workloads.wait_ready("canary", timeouts.candidate_ready.total_seconds())
            self._advance(record, "route-to-canary", f"canary scaled to {replicas} replicas")
        elif stage == "route-to-canary":
            router.apply(Routing(record.baseline_track, canary_active=True, canary_weight=100))
            record.weight = 100
            self._advance(record, "replace-stable", "100% of traffic on the canary")
        elif stage == "replace-stable":
            serving = record.baseline_track
            replaced = TrackSpec(serving, record.version, record.baseline_replicas, record.env)
            workloads.apply(replaced)
            workloads.wait_ready(serving, timeouts.baseline_ready.total_seconds())
            self._advance(record, "route-to-stable", f"stable now runs {record.version}")
        elif stage == "route-to-stable":
            router.apply(Routing(record.baseline_track))
            record.weight = 0
            self._advance(record, "remove-canary", "traffic back on stable")
        else:
            workloads.remove("canary")
            record.finished_at = self.controller.clock()
            self.controller.transition(record, "Succeeded", f"{record.version} promoted")
            self.controller.notify(
                record, "info", f"Rollout of {record.version} promoted", record.events[-1].message
            )
        return True

    def _rolling_back(self, record: RolloutRecord) -> bool:
        """Weight to 0 first, then remove the canary, then check that stable is healthy."""
        self.controller.undo(
            record,
            back_to=Routing(record.baseline_track),
            routed="weight 0: every request goes to stable",
            title=f"Rollout of {record.version}",
        )
        return True

    # -- helpers ------------------------------------------------------------------------------
    def _begin_step(self, record: RolloutRecord, index: int) -> None:
        steps = record.spec.canary.steps
        weight = steps[index].weight
        self.target.router.apply(
            Routing(record.baseline_track, canary_active=True, canary_weight=weight)
        )
        now = self.controller.clock()
        record.step, record.weight = index, weight
        record.step_started_at = record.last_analysis_at = now
        record.step_passes = 0
        record.judge_state = None  # the evidence of a step is its own
        self.controller.event(
            record, f"step {index + 1}/{len(steps)}: {weight}% of traffic on the canary"
        )

    def _advance(self, record: RolloutRecord, stage: str, message: str) -> None:
        record.promotion_stage = stage  # type: ignore[assignment]
        self.controller.event(record, message)
