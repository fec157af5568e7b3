"""The rollout controller: the tick loop shared by every strategy (DESIGN: one controller).

One `tick()` takes the controller lock, loads the record, applies people's requests, then runs
the strategy's handler for the current phase, and the next one, until a handler has to wait (for
time to pass, or for a person). The record is saved after every transition, so a controller
killed at any point resumes from the record; every handler is written to be re-run safely.

Errors follow one policy, here and nowhere else:
- RetryableError (a server not answering, a timeout): an event, and the next tick tries again.
  Repeats of the same event are counted, not appended, so the record stays bounded.
- Any other FlightdeckError during a tick is permanent: the spec's `on_error` decides, either
  roll back with the error as the reason (the default) or pause with it for a person. An error
  while already rolling back is retried instead: there is nothing safer to fall back to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from flightdeck.core.errors import ConfigError, FlightdeckError, PermanentError, RetryableError
from flightdeck.core.tracks import ServingTrack, Track
from flightdeck.notify import Incident
from flightdeck.rollout.delivery import DeliveryRecorder
from flightdeck.rollout.exporter import write_rollout_metrics
from flightdeck.rollout.record import Phase, RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.rollout.strategy import REQUESTS, Strategy, strategies
from flightdeck.rollout.target import Target
from flightdeck.routers import Routing

Clock = Callable[[], datetime]


def candidate_track(strategy: str, serving: ServingTrack) -> Track:
    """Where a new version runs: the canary track, or the colour that does not serve now."""
    if strategy == "canary":
        return "canary"
    return "blue" if serving == "green" else "green"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _strategy_modules() -> None:
    """Importing the strategies registers them."""
    from flightdeck.rollout import bluegreen, canary  # noqa: F401


class Controller:
    def __init__(self, target: Target, clock: Clock = utc_now) -> None:
        self.target = target
        self.clock = clock
        self.history = DeliveryRecorder(target.history, target.metrics_dir)
        _strategy_modules()

    def strategy(self, record: RolloutRecord) -> Strategy:
        return strategies.create(record.spec.strategy.type, self)

    # -- starting and requests ----------------------------------------------------------------
    def start(self, spec: RolloutSpec, version: str, env: dict[str, str]) -> RolloutRecord:
        """Create the rollout record (the first tick starts the new version)."""
        if spec.strategy.type not in strategies.names():
            strategies.create(spec.strategy.type, self)  # raises, naming the known strategies
        with self.target.state.lock(spec.name):
            existing = self.load(spec.name)
            if existing is not None and not existing.finished:
                raise ConfigError(
                    f"rollout {spec.name!r} is already {existing.phase} (version "
                    f"{existing.version}); abort it or wait for it to finish"
                )
            serving = self.target.router.current().active
            baseline = self.target.workloads.get(serving)
            if baseline is None:
                raise PermanentError(
                    f"the serving track ({serving}) is not running: is the platform up?"
                )
            if baseline.version == version:
                raise ConfigError(f"--version {version} is already the serving version")
            self.target.state.take_requests(spec.name)  # stale requests of an earlier rollout
            record = RolloutRecord(
                name=spec.name,
                version=version,
                env=env,
                spec=spec,
                candidate_track=candidate_track(spec.strategy.type, serving),
                baseline_track=serving,
                baseline_version=baseline.version,
                baseline_replicas=baseline.replicas,
                started_at=self.clock(),
                rollbacks_before=_rollbacks_so_far(existing),
            )
            self.event(
                record,
                f"{spec.strategy.type} rollout of {version} started "
                f"({serving} serves {baseline.version})",
            )
            self.save(record)
            return record

    def request(self, name: str, action: str) -> RolloutRecord:
        """Leave a person's request for the controller, or refuse it now with the reason."""
        if action not in REQUESTS:
            raise ConfigError(f"unknown request {action!r} (known: {', '.join(REQUESTS)})")
        record = self.load(name)
        if record is None:
            raise ConfigError(f"there is no rollout {name!r}")
        if record.finished:
            raise ConfigError(f"rollout {name!r} already ended: {record.phase}")
        refusal = self.strategy(record).refusal(record, action)
        if refusal:
            raise ConfigError(refusal)
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
                f"there is no rollout {name!r}: start one with `flightdeck ... start`"
            )
        if record.finished:
            return record
        strategy = self.strategy(record)
        for action in self.target.state.take_requests(record.name):
            strategy.apply_request(record, action)  # type: ignore[arg-type]
            self.save(record)
        handlers = strategy.handlers()
        while not record.finished:
            try:
                moved = handlers[record.phase](record)
            except RetryableError as exc:
                self.event(record, f"will retry: {exc}")
                moved = False
            except FlightdeckError as exc:
                moved = self._permanent_error(record, exc)
            self.save(record)
            if not moved:
                break
        return record

    def _permanent_error(self, record: RolloutRecord, error: FlightdeckError) -> bool:
        reason = f"{type(error).__name__} in {record.phase}: {error}"
        if record.phase == "RollingBack":
            self.event(record, f"will retry the rollback: {reason}")
            return False
        if record.spec.on_error == "pause":
            self.transition(record, "Paused", f"{reason}; waiting for `resume` or `abort`")
            return False
        self.roll_back(record, reason)
        return True

    # -- what strategies use ------------------------------------------------------------------
    def roll_back(self, record: RolloutRecord, reason: str) -> None:
        record.reason = reason
        self.transition(record, "RollingBack", reason)

    def smoke_test(self, record: RolloutRecord, track: Track) -> int | None:
        """Run the spec's smoke tests on `track`'s route, each result an event.

        Returns how many passed (all of them); on a failure the rollout rolls back, naming the
        first failed test, and this returns None.
        """
        timeout = record.spec.smoke_tests.timeout.total_seconds()
        results = self.target.smoke(track, record.version, timeout)
        for result in results:
            outcome = "ok" if result.ok else "FAILED"
            self.event(record, f"smoke test {result.name}: {outcome} ({result.detail})")
        failed = [result for result in results if not result.ok]
        if failed:
            self.roll_back(record, f"smoke test {failed[0].name} failed: {failed[0].detail}")
            return None
        return len(results)

    def transition(self, record: RolloutRecord, phase: Phase, message: str = "") -> None:
        record.phase = phase
        record.phase_entered_at = self.clock()
        self.event(record, message or phase)

    def event(self, record: RolloutRecord, message: str) -> None:
        record.add_event(self.clock(), message)

    def notify(self, record: RolloutRecord, severity: str, title: str, body: str) -> None:
        try:
            self.target.notifier(record.spec.notifications).notify(title, body, severity)
        except FlightdeckError as exc:
            self.event(record, f"notification failed: {exc}")

    def open_incident(
        self, record: RolloutRecord, title: str, severity: str, details: dict[str, object]
    ) -> None:
        try:
            sink = self.target.incidents(record.spec.notifications)
            where = sink.open(
                Incident(
                    title=title,
                    summary=record.reason or "",
                    severity=severity,
                    rollout=record.name,
                    details=details,
                )
            )
            self.event(record, f"incident recorded: {where}")
        except FlightdeckError as exc:
            self.event(record, f"the incident could not be recorded: {exc}")

    def undo(
        self,
        record: RolloutRecord,
        back_to: Routing,
        routed: str | None,
        title: str,
        details: dict[str, object] | None = None,
    ) -> None:
        """The end of every rollback: traffic back to the serving track first (and saved), then
        the new version removed, the serving track verified, people told, an incident opened."""
        self.target.router.apply(back_to)
        record.weight = 0
        if routed:
            self.event(record, routed)
        self.save(record)
        self.target.workloads.remove(record.candidate_track)
        serving, serving_ok = record.baseline_track, True
        try:
            self.target.workloads.wait_ready(
                serving, record.spec.timeouts.baseline_ready.total_seconds()
            )
        except FlightdeckError as exc:
            serving_ok = False
            self.event(record, f"{serving} is NOT healthy after the rollback: {exc}")
        record.finished_at = self.clock()
        final: Phase = "Aborted" if record.abort_requested else "RolledBack"
        health = "healthy" if serving_ok else "UNHEALTHY"
        self.transition(record, final, f"{record.candidate_track} removed; {serving} {health}")
        title = f"{title} {'aborted' if record.abort_requested else 'rolled back'}"
        severity = "warning" if record.abort_requested and serving_ok else "critical"
        self.notify(record, severity, title, record.reason or "")
        last = record.last_analysis
        self.open_incident(
            record,
            title,
            severity,
            {
                "version": record.version,
                "stable_version": record.baseline_version,
                "stable_healthy": serving_ok,
                **(details or {}),
                "last_analysis": last.model_dump(mode="json") if last else None,
            },
        )

    def save(self, record: RolloutRecord) -> None:
        # The delivery history: marks the transition, queues its entries, never raises.
        for message in self.history.observe(record, self.clock()):
            self.event(record, message)
        self.target.state.save(record.name, record.model_dump(mode="json"))
        if self.target.metrics_dir is not None:
            write_rollout_metrics(record, self.target.metrics_dir, self.clock())


def _rollbacks_so_far(previous: RolloutRecord | None) -> int:
    """Rollbacks of this rollout name so far, carried from record to record for the metric."""
    if previous is None:
        return 0
    return previous.rollbacks_before + int(previous.phase in ("RolledBack", "Aborted"))
