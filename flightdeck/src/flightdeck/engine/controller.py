"""The rollout controller: the state machine of DESIGN.md §4, one `tick()` at a time.

Initializing -> SmokeTesting -> Progressing(step, weight) -> Promoting -> Succeeded, or
-> RollingBack -> RolledBack (Aborted when a person asked for it); Paused waits for `resume`.

A tick runs phase handlers until one has to wait (for time to pass, or for a person), saving the
record after every transition, so that a controller killed at any point resumes from the record.
A decision to roll back and the weight going to 0 happen in the same tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile

from flightdeck.engine.analysis import analyse
from flightdeck.engine.record import PHASES, AnalysisRun, Event, Phase, RolloutRecord
from flightdeck.engine.smoke import SmokeResult
from flightdeck.engine.spec import RolloutSpec
from flightdeck.errors import ConfigError, FlightdeckError, PermanentError, RetryableError
from flightdeck.metrics import MetricsProvider
from flightdeck.notify import Incident, IncidentSink, Notifier
from flightdeck.routers import Routing, TrafficRouter
from flightdeck.state import StateStore
from flightdeck.workloads import TrackSpec, Workloads

Clock = Callable[[], datetime]
REQUESTS = ("promote", "abort", "resume")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Target:
    """Everything a rollout acts on, from one engine (local or kubernetes)."""

    router: TrafficRouter
    workloads: Workloads
    metrics: MetricsProvider
    state: StateStore
    notifier: Notifier
    incidents: IncidentSink
    smoke: Callable[[str], list[SmokeResult]]
    metrics_dir: Path | None = None


class Controller:
    def __init__(self, target: Target, clock: Clock = utc_now) -> None:
        self.target = target
        self.clock = clock

    # -- starting and requests ----------------------------------------------------------------
    def start(self, spec: RolloutSpec, version: str, env: dict[str, str]) -> RolloutRecord:
        """Create the rollout record (the first tick starts the canary)."""
        with self.target.state.lock(spec.name):
            existing = self.load(spec.name)
            if existing is not None and not existing.finished:
                raise ConfigError(
                    f"rollout {spec.name!r} is already {existing.phase} (version "
                    f"{existing.version}); abort it or wait for it to finish"
                )
            stable = self.target.workloads.get("stable")
            if stable is None:
                raise PermanentError(
                    "there is no stable track to compare with: is the platform up?"
                )
            if stable.version == version:
                raise ConfigError(f"--version {version} is already the stable version")
            self.target.state.take_requests(spec.name)  # stale requests of an earlier rollout
            record = RolloutRecord(
                name=spec.name,
                version=version,
                env=env,
                spec=spec,
                stable_version=stable.version,
                stable_replicas=stable.replicas,
                started_at=self.clock(),
                rollbacks_before=_rollbacks_so_far(existing),
            )
            self._event(record, f"rollout of {version} started (stable is {stable.version})")
            self._save(record)
            return record

    def request(self, name: str, action: str) -> RolloutRecord:
        if action not in REQUESTS:
            raise ConfigError(f"unknown request {action!r} (known: {', '.join(REQUESTS)})")
        record = self.load(name)
        if record is None:
            raise ConfigError(f"there is no rollout {name!r}")
        if record.finished:
            raise ConfigError(f"rollout {name!r} already ended: {record.phase}")
        if action == "abort" and record.phase == "Promoting":
            raise ConfigError(
                f"rollout {name!r} is promoting (stable is being replaced): it can't be aborted; "
                "roll back with a new rollout of the previous version"
            )
        self.target.state.request(name, action)
        return record

    def load(self, name: str) -> RolloutRecord | None:
        raw = self.target.state.load(name)
        return RolloutRecord.model_validate(raw) if raw is not None else None

    # -- ticking ------------------------------------------------------------------------------
    def tick(self, name: str) -> RolloutRecord:
        """Advance the rollout as far as it can go now (under the controller lock)."""
        with self.target.state.lock(name):
            return self._tick_locked(name)

    def run(
        self, name: str, on_tick: Callable[[RolloutRecord], None], poll: float = 1.0
    ) -> RolloutRecord:
        """Drive the rollout to its end, holding the lock for the whole time."""
        with self.target.state.lock(name):
            while True:
                record = self._tick_locked(name)
                on_tick(record)
                if record.finished:
                    return record
                time.sleep(poll)

    def _tick_locked(self, name: str) -> RolloutRecord:
        record = self.load(name)
        if record is None:
            raise ConfigError(
                f"there is no rollout {name!r}: start one with `flightdeck canary start`"
            )
        if record.finished:
            return record
        self._take_requests(record)
        handlers: dict[Phase, Callable[[RolloutRecord], bool]] = {
            "Initializing": self._initializing,
            "SmokeTesting": self._smoke_testing,
            "Progressing": self._progressing,
            "Paused": self._paused,
            "Promoting": self._promoting,
            "RollingBack": self._rolling_back,
        }
        while not record.finished:
            try:
                moved = handlers[record.phase](record)
            except RetryableError as exc:
                self._event(record, f"will retry: {exc}")
                moved = False
            self._save(record)
            if not moved:
                break
        return record

    def _take_requests(self, record: RolloutRecord) -> None:
        for action in self.target.state.take_requests(record.name):
            if action == "abort" and record.phase == "Promoting":
                # Stable may already run the new version: removing the canary now would leave a
                # half-replaced stable, so the promotion finishes.
                self._event(record, "abort ignored: the promotion is replacing stable")
            elif action == "abort":
                record.abort_requested = True
                if record.phase != "RollingBack":
                    self._roll_back(record, "aborted by request")
            elif action == "promote" and record.phase in ("Progressing", "Paused"):
                self._event(record, "promotion requested: skipping the remaining analysis")
                self._transition(record, "Promoting")
            elif action == "resume" and record.phase == "Paused":
                record.inconclusive_streak = 0
                self._begin_step(record, max(record.step, 0))
                self._transition(record, "Progressing", "resumed by request")
            self._save(record)

    # -- phases -------------------------------------------------------------------------------
    def _initializing(self, record: RolloutRecord) -> bool:
        workloads = self.target.workloads
        workloads.apply(TrackSpec("canary", record.version, 1, record.env))
        try:
            workloads.wait_ready("canary", record.spec.timeouts.canary_ready.total_seconds())
        except FlightdeckError as exc:
            self._roll_back(record, f"the canary did not become ready: {exc}")
            return True
        self.target.router.apply(Routing(canary_active=True, canary_weight=0))
        self._transition(record, "SmokeTesting", "canary ready; its pool takes no weighted traffic")
        return True

    def _smoke_testing(self, record: RolloutRecord) -> bool:
        if not record.spec.smoke_tests.enabled:
            self._begin_step(record, 0)
            self._transition(record, "Progressing", "smoke tests disabled")
            return True
        results = self.target.smoke(record.version)
        for result in results:
            self._event(
                record,
                f"smoke test {result.name}: {'ok' if result.ok else 'FAILED'} ({result.detail})",
            )
        failed = [result for result in results if not result.ok]
        if failed:
            self._roll_back(record, f"smoke test {failed[0].name} failed: {failed[0].detail}")
            return True
        self._begin_step(record, 0)
        self._transition(record, "Progressing", f"{len(results)} smoke tests passed")
        return True

    def _progressing(self, record: RolloutRecord) -> bool:
        spec, now = record.spec, self.clock()
        if not self.target.workloads.ready("canary"):
            self._roll_back(record, "the canary is not running or not ready (crashed?)")
            return True
        if record.step_started_at is None or record.last_analysis_at is None:
            raise PermanentError(f"rollout record {record.name!r} is progressing without a step")
        if now - record.last_analysis_at >= spec.analysis.interval:
            verdict = analyse(self.target.metrics, spec.analysis, record.version)
            record.last_analysis_at = now
            record.analyses.append(
                AnalysisRun(
                    at=now,
                    step=record.step,
                    weight=record.weight,
                    result=verdict.result,
                    checks=[check.as_dict() for check in verdict.checks],
                )
            )
            self._write_metrics(record)
            if verdict.result == "fail":
                self._roll_back(record, f"analysis failed at {record.weight}%: {verdict.reason}")
                return True
            if verdict.result == "inconclusive":
                record.inconclusive_streak += 1
                self._event(
                    record,
                    f"inconclusive window {record.inconclusive_streak}/"
                    f"{spec.analysis.inconclusive.limit}: {verdict.reason}",
                )
                if record.inconclusive_streak >= spec.analysis.inconclusive.limit:
                    reason = f"{record.inconclusive_streak} inconclusive windows in a row"
                    if spec.analysis.inconclusive.policy == "rollback":
                        self._roll_back(record, reason)
                    else:
                        self._transition(
                            record, "Paused", f"{reason}: waiting for `resume` or `abort`"
                        )
                    return True
            else:
                record.inconclusive_streak = 0
                record.step_passes += 1
        step = spec.steps[record.step]
        held = now - record.step_started_at >= step.hold
        last = record.last_analysis
        if held and record.step_passes > 0 and last is not None and last.result == "pass":
            if record.step + 1 < len(spec.steps):
                self._begin_step(record, record.step + 1)
            else:
                self._transition(record, "Promoting", "every step passed its analysis")
            return True
        return False

    def _paused(self, record: RolloutRecord) -> bool:
        return False

    def _promoting(self, record: RolloutRecord) -> bool:
        router, workloads = self.target.router, self.target.workloads
        stage = record.promotion_stage or "route-to-canary"
        if stage == "route-to-canary":
            router.apply(Routing(canary_active=True, canary_weight=100))
            record.weight = 100
            self._advance_promotion(record, "replace-stable", "100% of traffic on the canary")
        elif stage == "replace-stable":
            workloads.apply(TrackSpec("stable", record.version, record.stable_replicas, record.env))
            workloads.wait_ready("stable", record.spec.timeouts.stable_ready.total_seconds())
            self._advance_promotion(record, "route-to-stable", f"stable now runs {record.version}")
        elif stage == "route-to-stable":
            router.apply(Routing())
            record.weight = 0
            self._advance_promotion(record, "remove-canary", "traffic back on stable")
        else:
            workloads.remove("canary")
            record.finished_at = self.clock()
            self._transition(record, "Succeeded", f"{record.version} promoted")
            self._notify(
                record, "info", f"Rollout of {record.version} promoted", record.events[-1].message
            )
        return True

    def _rolling_back(self, record: RolloutRecord) -> bool:
        """Weight to 0 first, then remove the canary, then check that stable is healthy."""
        self.target.router.apply(Routing())
        record.weight = 0
        self._event(record, "weight 0: every request goes to stable")
        self._save(record)
        self.target.workloads.remove("canary")
        stable_ok = True
        try:
            self.target.workloads.wait_ready(
                "stable", record.spec.timeouts.stable_ready.total_seconds()
            )
        except FlightdeckError as exc:
            stable_ok = False
            self._event(record, f"stable is NOT healthy after the rollback: {exc}")
        record.finished_at = self.clock()
        final: Phase = "Aborted" if record.abort_requested else "RolledBack"
        self._transition(
            record, final, f"canary removed; stable {'healthy' if stable_ok else 'UNHEALTHY'}"
        )
        title = (
            f"Rollout of {record.version} {'aborted' if record.abort_requested else 'rolled back'}"
        )
        severity = "warning" if record.abort_requested and stable_ok else "critical"
        self._notify(record, severity, title, record.reason or "")
        try:
            where = self.target.incidents.open(
                Incident(
                    title=title,
                    summary=record.reason or "",
                    severity=severity,
                    rollout=record.name,
                    details={
                        "version": record.version,
                        "stable_version": record.stable_version,
                        "stable_healthy": stable_ok,
                        "last_analysis": record.last_analysis.model_dump(mode="json")
                        if record.last_analysis
                        else None,
                    },
                )
            )
            self._event(record, f"incident recorded: {where}")
        except FlightdeckError as exc:
            self._event(record, f"the incident could not be recorded: {exc}")
        return True

    # -- helpers ------------------------------------------------------------------------------
    def _begin_step(self, record: RolloutRecord, index: int) -> None:
        weight = record.spec.steps[index].weight
        self.target.router.apply(Routing(canary_active=True, canary_weight=weight))
        now = self.clock()
        record.step, record.weight = index, weight
        record.step_started_at = record.last_analysis_at = now
        record.step_passes = 0
        self._event(
            record, f"step {index + 1}/{len(record.spec.steps)}: {weight}% of traffic on the canary"
        )

    def _advance_promotion(self, record: RolloutRecord, stage: str, message: str) -> None:
        record.promotion_stage = stage  # type: ignore[assignment]
        self._event(record, message)

    def _roll_back(self, record: RolloutRecord, reason: str) -> None:
        record.reason = reason
        self._transition(record, "RollingBack", reason)

    def _transition(self, record: RolloutRecord, phase: Phase, message: str = "") -> None:
        record.phase = phase
        self._event(record, message or phase)

    def _event(self, record: RolloutRecord, message: str) -> None:
        record.events.append(Event(at=self.clock(), phase=record.phase, message=message))

    def _notify(self, record: RolloutRecord, severity: str, title: str, body: str) -> None:
        try:
            self.target.notifier.notify(title, body, severity)
        except FlightdeckError as exc:
            self._event(record, f"notification failed: {exc}")

    def _save(self, record: RolloutRecord) -> None:
        self.target.state.save(record.name, record.model_dump(mode="json"))
        self._write_metrics(record)

    def _write_metrics(self, record: RolloutRecord) -> None:
        if self.target.metrics_dir is None:
            return
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
        end = record.finished_at or self.clock()
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
            "The rollout's versions",
            ["rollout", "version", "stable_version"],
            registry=registry,
        ).labels(
            rollout=record.name, version=record.version, stable_version=record.stable_version
        ).set(1)
        self.target.metrics_dir.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(self.target.metrics_dir / f"rollout-{record.name}.prom"), registry)


def _rollbacks_so_far(previous: RolloutRecord | None) -> int:
    """Rollbacks of this rollout name so far, carried from record to record for the metric."""
    if previous is None:
        return 0
    return previous.rollbacks_before + int(previous.phase in ("RolledBack", "Aborted"))
