"""The blue-green strategy: a full second colour, checked on a preview route, then one switch.

Initializing (deploy the new colour at the serving track's replica count, wait until every
replica is ready, show it on the preview route) -> SmokeTesting (the smoke tests through the
preview route) -> Progressing (only with `pre_promotion_analysis`: load on the preview route,
analysed against the serving track) -> Paused (only with `auto_promotion: false`: the manual
gate, until `promote`, or `auto_promotion_seconds`) -> Promoting (the serving track's error rate
and P95 are measured, then all traffic switches at once) -> Monitoring (the new colour analysed
against those figures for `monitor`; the old colour stays up and ready all the while) ->
Finalising (the old colour is removed) -> Succeeded.

A failure at any point rolls back: if the switch happened, traffic switches back in the same
tick as the decision; then the new colour is removed, the old one verified, people notified and
an incident opened. Every step is safe to run again, so a controller killed between any two
transitions resumes from the record.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flightdeck.core.errors import FlightdeckError, PermanentError
from flightdeck.core.tracks import COLOURS, Colour, TrackSpec
from flightdeck.rollout.analysis import (
    Comparison,
    Figures,
    Series,
    Verdict,
    judge_for,
    measure,
    undecided,
    undecided_allowance,
)
from flightdeck.rollout.record import AnalysisRun, Phase, RolloutRecord
from flightdeck.rollout.spec import BlueGreenStrategy as BlueGreenSpec
from flightdeck.rollout.spec import format_duration
from flightdeck.rollout.strategy import PhaseHandler, Request, strategies
from flightdeck.routers import Routing

if TYPE_CHECKING:
    from flightdeck.rollout.controller import Controller


def _colour(record: RolloutRecord) -> Colour:
    track = record.candidate_track
    if track not in COLOURS:
        raise PermanentError(f"rollout {record.name}: the new colour is {track}, not blue or green")
    return track


@strategies.register("bluegreen")
class BlueGreenStrategy:
    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.target = controller.target

    def handlers(self) -> Mapping[Phase, PhaseHandler]:
        return {
            "Initializing": self._initializing,
            "SmokeTesting": self._smoke_testing,
            "Progressing": self._analysing_preview,
            "Paused": self._paused,
            "Promoting": self._switching,
            "Monitoring": self._monitoring,
            "Finalising": self._finalising,
            "RollingBack": self._rolling_back,
        }

    @staticmethod
    def _spec(record: RolloutRecord) -> BlueGreenSpec:
        strategy = record.spec.strategy
        assert isinstance(strategy, BlueGreenSpec)
        return strategy

    # -- requests -----------------------------------------------------------------------------
    def refusal(self, record: RolloutRecord, request: Request) -> str | None:
        if request == "abort" and record.phase == "Finalising":
            return (
                f"rollout {record.name!r} is removing the old colour: it can't be aborted; "
                "roll back with a new rollout of the previous version"
            )
        return None

    def apply_request(self, record: RolloutRecord, request: Request) -> None:
        controller = self.controller
        if request == "abort" and record.phase not in ("RollingBack", "Finalising"):
            record.abort_requested = True
            controller.roll_back(record, "aborted by request")
        elif request == "promote" and record.phase in ("Progressing", "Paused"):
            controller.transition(record, "Promoting", "switch requested: skipping the checks left")
        elif request == "promote" and record.phase == "Monitoring":
            controller.transition(record, "Finalising", "promotion requested: monitor cut short")
        elif request == "resume" and record.phase == "Paused":
            if record.resume_phase is None:  # the manual gate: resume releases it too
                controller.transition(record, "Promoting", "released by request")
            else:
                record.inconclusive_streak = 0
                record.last_analysis_at = controller.clock()
                controller.transition(record, record.resume_phase, "resumed by request")
                record.resume_phase = None

    # -- before the switch --------------------------------------------------------------------
    def _initializing(self, record: RolloutRecord) -> bool:
        colour, workloads = _colour(record), self.target.workloads
        replicas = max(record.baseline_replicas, 1)
        workloads.apply(TrackSpec(colour, record.version, replicas, record.env))
        try:
            workloads.wait_ready(colour, record.spec.timeouts.candidate_ready.total_seconds())
        except FlightdeckError as exc:
            self.controller.roll_back(record, f"{colour} did not become ready: {exc}")
            return True
        self.target.router.apply(Routing(record.baseline_track, preview=colour))
        self.controller.transition(
            record,
            "SmokeTesting",
            f"{colour} ready ({replicas} replicas) on the preview route; no user traffic",
        )
        return True

    def _smoke_testing(self, record: RolloutRecord) -> bool:
        controller, spec, colour = self.controller, record.spec, _colour(record)
        if spec.smoke_tests.enabled:
            passed = controller.smoke_test(record, colour)
            if passed is None:
                return True
            message = f"{passed} smoke tests passed on the preview route"
        else:
            message = "smoke tests disabled"
        if self._spec(record).pre_promotion_analysis is not None:
            record.step_started_at = record.last_analysis_at = controller.clock()
            controller.transition(record, "Progressing", f"{message}; analysing the preview")
        else:
            self._gate(record, message)
        return True

    def _analysing_preview(self, record: RolloutRecord) -> bool:
        """Load on the preview route, one analysis interval per tick, for the configured time."""
        controller, spec, colour = self.controller, record.spec, _colour(record)
        duration = self._spec(record).pre_promotion_analysis
        if duration is None or record.step_started_at is None:
            raise PermanentError(f"rollout {record.name} analyses its preview without a duration")
        if not self.target.workloads.ready(colour):
            controller.roll_back(record, f"{colour} is not running or not ready (crashed?)")
            return True
        if self.target.preview_load is None:
            raise PermanentError("this engine cannot put load on the preview route")
        self.target.preview_load(colour, spec.analysis.interval.total_seconds())
        judge = judge_for(self.target.metrics, spec.analysis)
        comparison = Comparison(
            Series(colour, record.version),
            Series(record.baseline_track),
            record.step_started_at,
            record.judge_state,
        )
        verdict = judge.judge(comparison, controller.clock())
        if self._judge(record, verdict, "the preview analysis", "Progressing"):
            return True
        if controller.clock() - record.step_started_at >= duration and record.step_passes > 0:
            self._gate(record, f"the preview passed {record.step_passes} analyses")
            return True
        return self._undecided(record, duration, "the preview analysis", "Progressing")

    def _gate(self, record: RolloutRecord, message: str) -> None:
        spec = self._spec(record)
        if spec.auto_promotion:
            self.controller.transition(record, "Promoting", message)
        else:
            wait = (
                f"; switching anyway after {format_duration(spec.auto_promotion_seconds)}"
                if spec.auto_promotion_seconds
                else ""
            )
            record.resume_phase = None
            self.controller.transition(
                record, "Paused", f"{message}; waiting for `promote` (manual approval){wait}"
            )

    def _paused(self, record: RolloutRecord) -> bool:
        spec, entered = self._spec(record), record.phase_entered_at
        at_gate = record.resume_phase is None
        limit = spec.auto_promotion_seconds
        if at_gate and limit is not None and entered and self.controller.clock() - entered >= limit:
            self.controller.transition(record, "Promoting", "no decision in time: switching")
            return True
        return False

    # -- the switch and after -----------------------------------------------------------------
    def _switching(self, record: RolloutRecord) -> bool:
        """Measure the serving track first (saved), then switch every request at once."""
        controller, colour = self.controller, _colour(record)
        if record.baseline_figures is None:
            figures = measure(
                self.target.metrics, Series(record.baseline_track), record.spec.analysis
            )
            record.baseline_figures = figures.as_dict()
            controller.event(
                record, f"{record.baseline_track} before the switch: {figures.summary()}"
            )
            return True  # saved before traffic moves: a resumed controller never re-measures
        self.target.router.apply(Routing(colour))
        now = controller.clock()
        record.switched_at = record.step_started_at = record.last_analysis_at = now
        record.step_passes = 0
        record.weight = 100
        controller.transition(
            record,
            "Monitoring",
            f"switched: every request goes to {colour} ({record.version}); "
            f"{record.baseline_track} stays up for the "
            f"{format_duration(self._spec(record).monitor)} monitor",
        )
        return True

    def _monitoring(self, record: RolloutRecord) -> bool:
        controller, spec, colour = self.controller, record.spec, _colour(record)
        now = controller.clock()
        if not self.target.workloads.ready(colour):
            controller.roll_back(record, f"{colour} is not running or not ready (crashed?)")
            return True
        if record.step_started_at is None or record.last_analysis_at is None:
            raise PermanentError(f"rollout record {record.name!r} monitors without a start")
        judge = judge_for(self.target.metrics, spec.analysis)
        comparison = Comparison(
            Series(colour, record.version),
            Figures.from_dict(record.baseline_figures),
            record.step_started_at,
            record.judge_state,
        )
        if judge.due(comparison, record.last_analysis_at, now):
            verdict = judge.judge(comparison, now)
            record.last_analysis_at = now
            if self._judge(record, verdict, "the monitor", "Monitoring"):
                return True
        monitor = self._spec(record).monitor
        if now - record.step_started_at >= monitor:
            last = record.last_analysis
            if record.step_passes > 0 and last is not None and last.result == "pass":
                controller.transition(
                    record, "Finalising", f"{record.step_passes} clean windows after the switch"
                )
                return True
        return self._undecided(record, monitor, "the monitor", "Monitoring")

    def _judge(self, record: RolloutRecord, verdict: Verdict, what: str, phase: Phase) -> bool:
        """Record the analysis; True when it decided (rolled back or paused)."""
        controller, now = self.controller, self.controller.clock()
        record.last_analysis_at = now
        record.judge_state = verdict.state
        waits = judge_for(self.target.metrics, record.spec.analysis).waits_for_evidence
        record.add_analysis(
            AnalysisRun(
                at=now,
                step=0 if phase == "Progressing" else 1,
                weight=record.weight,
                result=verdict.result,
                checks=[check.as_dict() for check in verdict.checks],
            ),
            coalesce=waits,
        )
        if verdict.result == "fail":
            controller.roll_back(record, f"{what} failed: {verdict.reason}")
            return True
        if verdict.result == "inconclusive" and not waits:
            record.inconclusive_streak += 1
            inconclusive = record.spec.analysis.inconclusive
            controller.event(
                record,
                f"inconclusive window {record.inconclusive_streak}/{inconclusive.limit}: "
                f"{verdict.reason}",
            )
            if record.inconclusive_streak >= inconclusive.limit:
                reason = f"{record.inconclusive_streak} inconclusive windows in a row in {what}"
                self._inconclusive_policy(record, reason, phase)
                return True
        elif verdict.result == "pass":
            record.inconclusive_streak = 0
            record.step_passes += 1
        return False

    def _inconclusive_policy(self, record: RolloutRecord, reason: str, phase: Phase) -> None:
        if record.spec.analysis.inconclusive.policy == "rollback":
            self.controller.roll_back(record, reason)
        else:
            record.resume_phase = phase
            self.controller.transition(
                record, "Paused", f"{reason}: waiting for `resume` or `abort`"
            )

    def _undecided(
        self, record: RolloutRecord, planned: timedelta, what: str, phase: Phase
    ) -> bool:
        """A judge that waits for evidence gets `limit` intervals past the planned end."""
        analysis, started = record.spec.analysis, record.step_started_at
        if not judge_for(self.target.metrics, analysis).waits_for_evidence or started is None:
            return False
        allowed = undecided_allowance(analysis)
        if self.controller.clock() - started < planned + allowed:
            return False
        reason = (
            f"no decision in {what} {format_duration(allowed)} after its planned end: "
            f"{undecided(record)}"
        )
        self._inconclusive_policy(record, reason, phase)
        return True

    def _finalising(self, record: RolloutRecord) -> bool:
        controller, old = self.controller, record.baseline_track
        self.target.workloads.remove(old)
        record.finished_at = controller.clock()
        controller.transition(
            record,
            "Succeeded",
            f"{record.version} promoted on {record.candidate_track}; {old} removed",
        )
        controller.notify(
            record,
            "info",
            f"Blue-green rollout of {record.version} promoted",
            record.events[-1].message,
        )
        return True

    # -- rollback -----------------------------------------------------------------------------
    def _rolling_back(self, record: RolloutRecord) -> bool:
        """Traffic back on the old colour first (if it moved), then remove the new one."""
        old = record.baseline_track
        self.controller.undo(
            record,
            back_to=Routing(old),
            routed=f"switched back: every request goes to {old}" if record.switched_at else None,
            title=f"Blue-green rollout of {record.version}",
            details={
                "switched_at": _iso(record.switched_at),
                "baseline_figures": record.baseline_figures,
            },
        )
        return True


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
