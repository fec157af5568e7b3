"""The four checks of `flightdeck validate`, run against a ValidationTarget into a report.

Every check reads what serves users now (the router's routing, the tracks' versions and
replicas, read once and shared). An error while checking (Prometheus or the API server not
answering, a permission missing) fails that check with the error as its reason; a ConfigError
(bad settings) is the user's to fix and stops the command (exit code 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flightdeck.core.errors import ConfigError, FlightdeckError
from flightdeck.core.tracks import Track
from flightdeck.core.validation import format_duration
from flightdeck.validate import ReplicaHealth, Restarts, TrackReplicas, ValidationTarget
from flightdeck.validate.report import CheckReport, Finding, ServingTrack, ValidationReport

CHECKS: tuple[str, ...] = ("replicas", "scaling", "metrics", "smoke")
DEFAULT_RESTART_WINDOW = timedelta(minutes=10)
KEY_SERIES = ("http_requests_total", "http_request_duration_seconds_bucket")
"""The request rate and the latency histogram: what the rollouts' analysis and the alerts read."""
MAX_TIMEOUT_SECONDS = 300.0
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


@dataclass(frozen=True)
class ValidationOptions:
    restart_window: timedelta = DEFAULT_RESTART_WINDOW
    timeout: float = 10.0
    """Seconds per request of the smoke tests."""
    skip: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if unknown := sorted(self.skip - set(CHECKS)):
            raise ConfigError(
                f"--skip {', '.join(unknown)}: no such check (known: {', '.join(CHECKS)})"
            )
        if not set(CHECKS) - self.skip:
            raise ConfigError("--skip: every check is skipped, so nothing would be validated")
        if self.restart_window <= timedelta(0):
            raise ConfigError("--restart-window must be positive")
        if not 0 < self.timeout <= MAX_TIMEOUT_SECONDS:
            raise ConfigError(f"--timeout must be between 0 and {MAX_TIMEOUT_SECONDS:.0f} seconds")


class _Observation:
    """What serves users now: the tracks in the routing, their versions, their replicas."""

    def __init__(self, target: ValidationTarget) -> None:
        self.target = target
        routing = target.router.current()
        tracks: tuple[Track, ...] = (routing.active,)
        if routing.canary_active:
            tracks += ("canary",)
        self.tracks = tracks
        self.versions: dict[Track, str | None] = {}
        for track in tracks:
            spec = target.workloads.get(track)
            self.versions[track] = spec.version if spec else None
        self._replicas: dict[Track, TrackReplicas] = {}

    def replicas(self, track: Track) -> TrackReplicas:
        if track not in self._replicas:
            self._replicas[track] = self.target.replicas.replicas(track)
        return self._replicas[track]


def elapsed(duration: timedelta) -> str:
    """A duration for people: `42s`, `3m 5s`, `2h 10m`."""
    seconds = max(0, int(duration.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _restarts(count: int) -> str:
    return f"{count} restart{'' if count == 1 else 's'}"


def restart_verdict(restarts: Restarts, window: timedelta, now: datetime) -> tuple[bool, str]:
    """Whether the replica's restarts are acceptable (none within the window), and why."""
    if restarts.count == 0:
        return True, "no restarts"
    if restarts.last_at is None:
        return False, f"{_restarts(restarts.count)}, and when the last was is unknown"
    ago = now - restarts.last_at
    reason = f" ({restarts.last_reason})" if restarts.last_reason else ""
    shown = format_duration(window)
    if ago <= window:
        return False, (
            f"restarted {elapsed(ago)} ago{reason}, within the {shown} restart window, "
            f"{_restarts(restarts.count)} in all"
        )
    return True, (
        f"{_restarts(restarts.count)}, the last {elapsed(ago)} ago, before the {shown} window"
    )


def _replica_finding(replica: ReplicaHealth, window: timedelta, now: datetime) -> Finding:
    restarts_ok, restarts = restart_verdict(replica.restarts, window, now)
    problems = []
    if not replica.running:
        problems.append("not running")
    elif not replica.ready:
        problems.append("not ready")
    if not restarts_ok:
        problems.append(restarts)
    if problems:
        return Finding(replica.name, False, f"{'; '.join(problems)} ({replica.detail})")
    return Finding(replica.name, True, f"running and ready, {restarts} ({replica.detail})")


def check_replicas(obs: _Observation, options: ValidationOptions, now: datetime) -> list[Finding]:
    findings = []
    for track in obs.tracks:
        observed = obs.replicas(track)
        subject, version = f"track {track}", obs.versions[track]
        if version is None:
            findings.append(Finding(subject, False, "serves users but runs no replicas"))
        elif observed.waiting:
            findings.append(Finding(subject, False, observed.waiting))
        elif not observed.replicas:
            findings.append(Finding(subject, False, f"version {version}: no replica found"))
        else:
            findings.append(
                Finding(subject, True, f"version {version}, {len(observed.replicas)} replicas")
            )
        findings += [
            _replica_finding(replica, options.restart_window, now) for replica in observed.replicas
        ]
    return findings


def check_scaling(obs: _Observation) -> list[Finding]:
    return obs.target.scaling.scaling(obs.tracks)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(labels: Mapping[str, str]) -> str:
    """A PromQL label selector `{a="x",b="y"}`; values are escaped, names must be label names."""
    for name in labels:
        if not _LABEL_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a Prometheus label name")
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def check_metrics(obs: _Observation) -> list[Finding]:
    query = obs.target.metrics.query
    backend = {"job": "backend", **obs.target.metrics_scope}
    findings = []
    for track in obs.tracks:
        for replica in obs.replicas(track).replicas:
            target = selector({**backend, **replica.scrape_labels})
            up = query(f"max(up{target})")
            if up is None:
                findings.append(
                    Finding(replica.name, False, f"Prometheus has no target for it: no up{target}")
                )
            elif up < 1:
                findings.append(Finding(replica.name, False, f"target down: up{target} is 0"))
            else:
                findings.append(Finding(replica.name, True, f"target up: up{target}"))
    every = selector(backend)
    total = query(f"count(up{every})")
    down = query(f"sum(up{every} == bool 0)")
    if total is None or down is None:
        findings.append(
            Finding("backend targets", False, f"Prometheus has no backend target: no up{every}")
        )
    elif down > 0:
        findings.append(
            Finding(
                "backend targets",
                False,
                f"{down:.0f} of {total:.0f} down (they are listed by `up{every} == 0`)",
            )
        )
    else:
        findings.append(Finding("backend targets", True, f"all {total:.0f} up"))
    for track in obs.tracks:
        version = obs.versions[track]
        if version is None:
            findings.append(
                Finding(f"series of track {track}", False, "no version runs: no series to look for")
            )
            continue
        for series in KEY_SERIES:
            wanted = f"{series}{selector({**backend, 'track': track, 'version': version})}"
            count = query(f"count({wanted})")
            subject = f"{series} ({track} {version})"
            if count is None:
                findings.append(Finding(subject, False, f"no data: no series {wanted}"))
            else:
                findings.append(Finding(subject, True, f"{count:.0f} series"))
    return findings


def check_smoke(obs: _Observation, options: ValidationOptions) -> list[Finding]:
    findings = []
    for track in obs.tracks:
        version = obs.versions[track]
        if version is None:
            findings.append(Finding(f"track {track}", False, "no version runs: nothing to test"))
            continue
        results = obs.target.smoke(track, version, options.timeout)
        if not results:
            findings.append(Finding(f"track {track}", False, "the smoke suite ran no test"))
        findings += [
            Finding(f"{track}: {result.name}", result.ok, result.detail) for result in results
        ]
    return findings


def _run(name: str, check: Callable[[], list[Finding]], nothing_found: str) -> CheckReport:
    try:
        findings = check()
    except ConfigError:
        raise
    except FlightdeckError as exc:
        findings = [Finding(name, False, f"could not check: {exc}")]
    return CheckReport.of(name, findings, nothing_found)


def validate(
    target: ValidationTarget, options: ValidationOptions, now: datetime | None = None
) -> ValidationReport:
    """Run every check that is not skipped, in the order of CHECKS."""
    at = now or datetime.now(UTC)
    window = options.restart_window.total_seconds()
    try:
        obs = _Observation(target)
    except ConfigError:
        raise
    except FlightdeckError as exc:
        reason = Finding("routing", False, f"cannot tell which tracks serve users: {exc}")
        unknown = tuple(
            CheckReport.skipped(name)
            if name in options.skip
            else CheckReport.of(name, [reason], "")
            for name in CHECKS
        )
        return ValidationReport(target.engine, window, (), unknown)
    runs: dict[str, tuple[Callable[[], list[Finding]], str]] = {
        "replicas": (lambda: check_replicas(obs, options, at), "no track serves users"),
        "scaling": (lambda: check_scaling(obs), "no autoscaler and no serving track found"),
        "metrics": (lambda: check_metrics(obs), "nothing to look for in Prometheus"),
        "smoke": (lambda: check_smoke(obs, options), "no track to smoke-test"),
    }
    checks = tuple(
        CheckReport.skipped(name) if name in options.skip else _run(name, *runs[name])
        for name in CHECKS
    )
    serving = tuple(ServingTrack(track, obs.versions[track]) for track in obs.tracks)
    return ValidationReport(target.engine, window, serving, checks)
