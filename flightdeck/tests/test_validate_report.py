"""`flightdeck validate`'s logic: verdicts, "no data" as a failure, restart windows, exit codes.

The checks run on stand-in probes (the rollout rig's router and workloads, in-memory replicas,
autoscalers and metrics), so that each verdict can be staged; the real probes are tested on the
local platform (tests/e2e/test_validate_local.py) and on a real control plane
(tests/kubernetes/test_validate_kubernetes.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from flightdeck import cli
from flightdeck.core.errors import ConfigError, PermanentError, RetryableError
from flightdeck.core.tracks import Track, TrackSpec
from flightdeck.rollout.smoke import SmokeResult
from flightdeck.routers import Routing
from flightdeck.validate import (
    ReplicaHealth,
    Restarts,
    TrackReplicas,
    ValidationTarget,
    serving_routes,
)
from flightdeck.validate.checks import (
    CHECKS,
    ValidationOptions,
    elapsed,
    restart_verdict,
    selector,
    validate,
)
from flightdeck.validate.report import CheckReport, Finding, ServingTrack, ValidationReport
from testsupport.rollout_rig import Router, Workloads

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def replica(name: str, **changes: object) -> ReplicaHealth:
    fields: dict[str, object] = {
        "name": name,
        "running": True,
        "ready": True,
        "detail": "RUNNING",
        "restarts": Restarts(),
        "scrape_labels": {"instance": name},
    }
    fields.update(changes)
    return ReplicaHealth(**fields)  # type: ignore[arg-type]


class Replicas:
    def __init__(self) -> None:
        self.tracks: dict[Track, TrackReplicas] = {
            "stable": TrackReplicas("stable", (replica("stable-0"), replica("stable-1")))
        }
        self.fail_with: Exception | None = None

    def replicas(self, track: Track) -> TrackReplicas:
        if self.fail_with:
            raise self.fail_with
        return self.tracks.get(track, TrackReplicas(track, (), f"track {track} not found"))


class Scaling:
    def __init__(self) -> None:
        self.findings = [Finding("hpa backend", True, "ScalingActive")]
        self.asked: list[Sequence[Track]] = []

    def scaling(self, tracks: Sequence[Track]) -> list[Finding]:
        self.asked.append(tracks)
        return list(self.findings)


class Metrics:
    """PromQL -> value; a query it does not know is "no data"."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.fail_with: Exception | None = None

    def query(self, expression: str) -> float | None:
        if self.fail_with:
            raise self.fail_with
        return self.values.get(expression)

    def healthy(self, track: str, version: str, instances: Sequence[str]) -> None:
        for instance in instances:
            self.values[f'max(up{{job="backend",instance="{instance}"}})'] = 1
        self.values['count(up{job="backend"})'] = len(instances)
        self.values['sum(up{job="backend"} == bool 0)'] = 0
        for series in ("http_requests_total", "http_request_duration_seconds_bucket"):
            labels = f'job="backend",track="{track}",version="{version}"'
            self.values[f"count({series}{{{labels}}})"] = 4


class Smoke:
    def __init__(self) -> None:
        self.calls: list[tuple[Track, str]] = []
        self.failing: set[Track] = set()

    def __call__(self, track: Track, version: str, timeout: float) -> list[SmokeResult]:
        self.calls.append((track, version))
        if track in self.failing:
            return [SmokeResult("readiness", True, "ready"), SmokeResult("version", False, "no")]
        return [SmokeResult("readiness", True, "ready"), SmokeResult("version", True, version)]


class Rig:
    def __init__(self) -> None:
        self.router = Router()
        self.workloads = Workloads()
        self.replicas = Replicas()
        self.scaling = Scaling()
        self.metrics = Metrics()
        self.metrics.healthy("stable", "1.0.0", ["stable-0", "stable-1"])
        self.smoke = Smoke()
        self.target = ValidationTarget(
            engine="local",
            router=self.router,
            workloads=self.workloads,
            replicas=self.replicas,
            scaling=self.scaling,
            metrics=self.metrics,
            smoke=self.smoke,
        )

    def run(self, **options: object) -> ValidationReport:
        return validate(self.target, ValidationOptions(**options), now=NOW)  # type: ignore[arg-type]


def check(report: ValidationReport, name: str) -> CheckReport:
    (found,) = [item for item in report.checks if item.name == name]
    return found


# -- the report ---------------------------------------------------------------------------------


def test_a_check_with_no_finding_fails_as_no_data() -> None:
    report = CheckReport.of("scaling", [], "no autoscaler found")
    assert report.status == "fail"
    assert report.findings == (Finding("scaling", False, "no data: no autoscaler found"),)


def test_one_failed_finding_fails_the_check_and_the_report() -> None:
    passing = CheckReport.of("replicas", [Finding("a", True, "")], "")
    failing = CheckReport.of("metrics", [Finding("b", True, ""), Finding("c", False, "down")], "")
    assert passing.status == "pass"
    assert failing.status == "fail"
    assert failing.problems == [Finding("c", False, "down")]
    report = ValidationReport("local", 600, (), (passing, failing, CheckReport.skipped("smoke")))
    assert report.failed == ["metrics"]
    assert not report.passed
    assert report.exit_code == 1


def test_skipped_checks_do_not_count_but_a_report_with_nothing_run_does_not_pass() -> None:
    passing = CheckReport.of("replicas", [Finding("a", True, "")], "")
    skipped = CheckReport.skipped("smoke")
    assert ValidationReport("local", 600, (), (passing, skipped)).exit_code == 0
    assert not ValidationReport("local", 600, (), (CheckReport.skipped("smoke"),)).passed


def test_the_json_shape() -> None:
    report = ValidationReport(
        "kubernetes",
        600.0,
        (ServingTrack("stable", "1.0.0"),),
        (
            CheckReport.of("replicas", [Finding("pod-a", False, "not ready")], ""),
            CheckReport.skipped("smoke"),
        ),
    )
    assert report.as_dict() == {
        "engine": "kubernetes",
        "passed": False,
        "failed": ["replicas"],
        "restart_window_seconds": 600.0,
        "serving": [{"track": "stable", "version": "1.0.0"}],
        "checks": [
            {
                "name": "replicas",
                "status": "fail",
                "findings": [{"subject": "pod-a", "ok": False, "detail": "not ready"}],
            },
            {"name": "smoke", "status": "skipped", "findings": []},
        ],
    }


# -- options -------------------------------------------------------------------------------------


def test_options_refuse_unknown_checks_and_skipping_everything() -> None:
    with pytest.raises(ConfigError, match=r"--skip smok: no such check \(known: replicas, "):
        ValidationOptions(skip=frozenset({"smok"}))
    with pytest.raises(ConfigError, match="every check is skipped"):
        ValidationOptions(skip=frozenset(CHECKS))
    with pytest.raises(ConfigError, match="--timeout"):
        ValidationOptions(timeout=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--restart-window", "soon"], "--restart-window: 'soon' is not a duration"),
        (["--restart-window", "0s"], "--restart-window: a duration must be positive"),
        (["--skip", "hpa"], "--skip hpa: no such check"),
        (["--target", "mars"], "unknown engine 'mars' (known: kubernetes, local)"),
    ],
)
def test_the_command_exits_2_naming_a_bad_option(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["validate", *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# -- restarts -----------------------------------------------------------------------------------


def test_restarts_inside_the_window_fail_and_older_ones_pass() -> None:
    assert restart_verdict(Restarts(), WINDOW, NOW) == (True, "no restarts")
    recent = Restarts(2, NOW - timedelta(seconds=75), "OOMKilled, exit code 137")
    ok, detail = restart_verdict(recent, WINDOW, NOW)
    assert not ok
    assert detail == (
        "restarted 1m 15s ago (OOMKilled, exit code 137), within the 10m restart window, "
        "2 restarts in all"
    )
    old = Restarts(1, NOW - timedelta(hours=2, minutes=5), "Error")
    assert restart_verdict(old, WINDOW, NOW) == (
        True,
        "1 restart, the last 2h 5m ago, before the 10m window",
    )


def test_a_restart_at_an_unknown_time_fails() -> None:
    ok, detail = restart_verdict(Restarts(3, None), WINDOW, NOW)
    assert not ok
    assert detail == "3 restarts, and when the last was is unknown"


def test_elapsed() -> None:
    assert elapsed(timedelta(seconds=9)) == "9s"
    assert elapsed(timedelta(seconds=185)) == "3m 5s"
    assert elapsed(timedelta(hours=26, minutes=3)) == "26h 3m"


def test_selector_escapes_values_and_refuses_bad_label_names() -> None:
    assert selector({"job": "backend", "pod": 'a"b\\c'}) == r'{job="backend",pod="a\"b\\c"}'
    with pytest.raises(ValueError, match="not a Prometheus label name"):
        selector({"bad-name": "x"})


def test_serving_routes_reach_the_canary_with_always_and_the_active_track_with_never() -> None:
    routes = serving_routes("X-Canary")
    assert routes["canary"] == {"X-Canary": "always"}
    assert routes["stable"] == routes["blue"] == routes["green"] == {"X-Canary": "never"}


# -- the checks on stand-in probes ----------------------------------------------------------------


def test_a_healthy_deployment_passes_every_check() -> None:
    rig = Rig()
    report = rig.run()
    assert report.passed, report.as_dict()
    assert [item.status for item in report.checks] == ["pass"] * 4
    assert report.serving == (ServingTrack("stable", "1.0.0"),)
    assert rig.smoke.calls == [("stable", "1.0.0")]
    assert rig.scaling.asked == [("stable",)]


def test_a_replica_not_ready_or_restarted_fails_the_replicas_check_only() -> None:
    rig = Rig()
    rig.replicas.tracks["stable"] = TrackReplicas(
        "stable",
        (
            replica("stable-0", ready=False, detail="HTTP 503"),
            replica("stable-1", restarts=Restarts(1, NOW - timedelta(seconds=30), "SIGKILL")),
        ),
    )
    report = rig.run()
    assert report.failed == ["replicas"]
    problems = {finding.subject: finding.detail for finding in check(report, "replicas").problems}
    assert problems["stable-0"] == "not ready (HTTP 503)"
    assert problems["stable-1"].startswith("restarted 30s ago (SIGKILL)")
    assert rig.run(restart_window=timedelta(seconds=20)).failed == ["replicas"]  # stable-0 still
    rig.replicas.tracks["stable"] = TrackReplicas(
        "stable",
        (
            replica("stable-0"),
            replica("stable-1", restarts=Restarts(1, NOW - timedelta(seconds=30), "SIGKILL")),
        ),
    )
    assert rig.run(restart_window=timedelta(seconds=20)).passed


def test_a_track_that_is_not_rolled_out_or_has_no_replica_fails() -> None:
    rig = Rig()
    rig.replicas.tracks["stable"] = TrackReplicas("stable", (), "1 of 2 replicas updated")
    report = rig.run()
    assert check(report, "replicas").problems == [
        Finding("track stable", False, "1 of 2 replicas updated")
    ]
    rig.replicas.tracks["stable"] = TrackReplicas("stable", ())
    assert check(rig.run(), "replicas").problems == [
        Finding("track stable", False, "version 1.0.0: no replica found")
    ]


def test_a_serving_track_that_runs_nothing_fails_every_check_that_needs_its_version() -> None:
    rig = Rig()
    rig.workloads.tracks.pop("stable")
    report = rig.run()
    assert report.serving == (ServingTrack("stable", None),)
    assert set(report.failed) == {"replicas", "metrics", "smoke"}
    assert rig.smoke.calls == []


def test_missing_metrics_are_a_failure_not_a_pass() -> None:
    rig = Rig()
    rig.metrics.values.pop('max(up{job="backend",instance="stable-1"})')
    rig.metrics.values.pop(
        'count(http_requests_total{job="backend",track="stable",version="1.0.0"})'
    )
    report = rig.run()
    assert report.failed == ["metrics"]
    details = [finding.detail for finding in check(report, "metrics").problems]
    assert details == [
        'Prometheus has no target for it: no up{job="backend",instance="stable-1"}',
        'no data: no series http_requests_total{job="backend",track="stable",version="1.0.0"}',
    ]


def test_a_target_down_fails_the_metrics_check() -> None:
    rig = Rig()
    rig.metrics.values['sum(up{job="backend"} == bool 0)'] = 1
    rig.metrics.values['count(up{job="backend"})'] = 3
    report = rig.run()
    assert report.failed == ["metrics"]
    assert [f.subject for f in check(report, "metrics").problems] == ["backend targets"]
    del rig.metrics.values['count(up{job="backend"})']
    assert "has no backend target" in check(rig.run(), "metrics").problems[0].detail


def test_metrics_are_confined_to_the_targets_scope() -> None:
    rig = Rig()
    rig.target.metrics_scope = {"namespace": "shop"}
    report = rig.run()
    assert report.failed == ["metrics"]
    assert 'up{job="backend",namespace="shop",instance="stable-0"}' in (
        check(report, "metrics").problems[0].detail
    )


def test_an_error_while_checking_fails_that_check_with_the_error() -> None:
    rig = Rig()
    rig.metrics.fail_with = RetryableError("Prometheus at http://p did not answer")
    report = rig.run()
    assert report.failed == ["metrics"]
    assert check(report, "metrics").findings == (
        Finding("metrics", False, "could not check: Prometheus at http://p did not answer"),
    )


def test_a_config_error_stops_the_validation() -> None:
    rig = Rig()
    rig.replicas.fail_with = ConfigError("FLIGHTDECK_NAMESPACE: is not set")
    with pytest.raises(ConfigError):
        rig.run()


def test_unknown_routing_fails_every_check_that_runs() -> None:
    rig = Rig()
    rig.router.routing = None  # type: ignore[assignment]

    def broken() -> Routing:
        raise PermanentError("ingress fd-canary not found")

    rig.router.current = broken  # type: ignore[method-assign]
    report = rig.run(skip=frozenset({"smoke"}))
    assert report.failed == ["replicas", "scaling", "metrics"]
    assert check(report, "smoke").status == "skipped"
    assert check(report, "scaling").findings == (
        Finding(
            "routing", False, "cannot tell which tracks serve users: ingress fd-canary not found"
        ),
    )


def test_an_active_canary_is_validated_with_the_active_track() -> None:
    rig = Rig()
    rig.router.routing = Routing(canary_active=True, canary_weight=10)
    rig.workloads.tracks["canary"] = TrackSpec("canary", "1.1.0", 1)
    rig.replicas.tracks["canary"] = TrackReplicas("canary", (replica("canary-0"),))
    rig.metrics.healthy("stable", "1.0.0", ["stable-0", "stable-1", "canary-0"])
    rig.metrics.healthy("canary", "1.1.0", [])
    rig.metrics.values['count(up{job="backend"})'] = 3
    rig.smoke.failing.add("canary")
    report = rig.run()
    assert report.serving == (ServingTrack("stable", "1.0.0"), ServingTrack("canary", "1.1.0"))
    assert rig.scaling.asked == [("stable", "canary")]
    assert rig.smoke.calls == [("stable", "1.0.0"), ("canary", "1.1.0")]
    assert report.failed == ["smoke"]
    assert check(report, "smoke").problems == [Finding("canary: version", False, "no")]
    assert "canary-0" in [f.subject for f in check(report, "replicas").findings]


def test_scaling_findings_come_from_the_probe() -> None:
    rig = Rig()
    rig.scaling.findings = [Finding("hpa backend", False, "ScalingActive is False")]
    assert rig.run().failed == ["scaling"]
    rig.scaling.findings = []
    report = rig.run()
    assert check(report, "scaling").findings[0].detail.startswith("no data")
