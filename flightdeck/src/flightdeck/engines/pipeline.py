"""The local engine's pipeline: what each stage of `flightdeck pipeline run` does on one machine.

The composition root of the local pipeline: the stage list and runner (`flightdeck.pipeline`)
with, for each stage, the code that does its work on the local platform: the fast test tier,
the builds, a backup cycle on the platform's database and Azurite, staging on the blue-green
preview route, a blue-green rollout to production, `flightdeck validate`, and the summary through
the notifier. docs/pipeline.md says what each stage needs and how it differs on GitHub.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import ssl
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from flightdeck.backup.cycle import run_cycle
from flightdeck.backup.settings import load_settings
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, FlightdeckError
from flightdeck.core.files import write_atomically
from flightdeck.core.git import commit_time
from flightdeck.core.loadgen import LoadGenerator
from flightdeck.core.paths import repo_bin, repo_root
from flightdeck.engines import validation_target
from flightdeck.engines.local import local_target
from flightdeck.history import HistoryStore
from flightdeck.local.backup import backup_environment
from flightdeck.local.context import LocalContext, load_local_context
from flightdeck.pipeline.build import build
from flightdeck.pipeline.commands import run_logged
from flightdeck.pipeline.runner import (
    PipelineRun,
    StageAction,
    StageFailed,
    StageReport,
    record_run,
)
from flightdeck.pipeline.stages import StageName
from flightdeck.pipeline.summary import dashboard_links, deliver
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.report import MetricsSampler, render_report
from flightdeck.rollout.spec import BlueGreenStrategy, RolloutSpec, format_duration
from flightdeck.rollout.staging import stage_version
from flightdeck.rollout.target import Target
from flightdeck.routers.rolling import RollingRelease
from flightdeck.validate import ValidationTarget
from flightdeck.validate.checks import ValidationOptions, validate

NOTIFY_URLS_VARIABLE = "FLIGHTDECK_NOTIFY_URLS"
"""Apprise URLs (whitespace-separated) the summary goes to besides the spec's: secrets, so they
come from the environment (a GitHub secret), never from a file in the repository."""


@dataclass(frozen=True)
class LocalPipelineOptions:
    source: Path
    """The checkout the release is built from (its tests, Dockerfiles, frontend)."""
    config_path: Path | None
    """The local platform's config file (`--config`)."""
    spec: RolloutSpec
    """The production rollout's spec (blue-green); its notifications are the pipeline's too."""
    traffic_rate: float = 10.0
    """Requests per second through the ingress during the production stage (0: none)."""
    grafana_url: str | None = None
    notify_urls: tuple[str, ...] = field(default_factory=tuple)


def notify_urls_from_environment() -> tuple[str, ...]:
    return tuple(os.environ.get(NOTIFY_URLS_VARIABLE, "").split())


class LocalPipeline:
    """The stage actions of the local engine, and the checks before a run."""

    def __init__(self, options: LocalPipelineOptions) -> None:
        if options.spec.strategy.type != "bluegreen":
            raise ConfigError(
                f"the production spec's strategy is {options.spec.strategy.type}: production "
                "is deployed blue-green (strategy.type: bluegreen)"
            )
        self.options = options
        self.context: LocalContext = load_local_context(options.config_path)
        self._target: Target | None = None

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = local_target(self.options.config_path)
        return self._target

    def actions(self) -> dict[StageName, StageAction]:
        return {
            "validate": self.validate,
            "build": self.build,
            "backup": self.backup,
            "staging": self.staging,
            "production": self.production,
            "validate-deployment": self.validate_deployment,
            "notify": self.notify,
        }

    def links(self) -> dict[str, str]:
        ports = self.context.config.ports
        return {
            "app": f"https://localhost:{ports.https}",
            "Prometheus": f"http://127.0.0.1:{ports.prometheus}",
            "Alertmanager": f"http://127.0.0.1:{ports.alertmanager}",
            **dashboard_links(self.options.grafana_url),
        }

    def preflight(self, version: str, stages: set[StageName]) -> None:
        """Refuse a run that cannot reach production before any stage runs (ConfigError)."""
        if not stages & {"backup", "staging", "production", "validate-deployment"}:
            return
        target = self.target  # refuses when the platform is not up
        if "backup" in stages and not self.context.config.backup.enabled:
            raise ConfigError(
                "the backup stage needs the platform's backups (backup.enabled: false in its "
                "config): enable them, or leave the stage out with --skip backup"
            )
        if stages & {"staging", "production"}:
            serving = target.workloads.get(target.router.current().active)
            if serving is not None and serving.version == version:
                raise ConfigError(
                    f"--version {version} is already the serving version: give the release "
                    "a new version"
                )
            running = Controller(target).load(self.options.spec.name)
            if running is not None and not running.finished:
                raise ConfigError(
                    f"rollout {running.name!r} of {running.version} is {running.phase}: finish "
                    f"it (`flightdeck bluegreen watch`) or abort it first"
                )

    def record(self, run: PipelineRun) -> None:
        """The finished run into the platform's delivery history; a failure is a warning (the
        run happened whether or not the KPIs hear of it)."""
        history = self.target.history
        if history is None:
            return
        record_in_history(history, run, self.options.source)

    # -- the stages ---------------------------------------------------------------------------
    def validate(self, run: PipelineRun) -> StageReport:
        log = run.log("validate")
        run_logged(
            [str(self.options.source / "scripts" / "test.sh"), "--fast"], log, self.options.source
        )
        return StageReport("the linters and the unit tier passed", {"log": str(log)})

    def build(self, run: PipelineRun) -> StageReport:
        log = run.log("build")
        report = build(self.options.source, run.directory, log, run.release)
        return StageReport(report.detail, {**report.links, "log": str(log)})

    def backup(self, run: PipelineRun) -> StageReport:
        environment = backup_environment(self.context)
        settings = load_settings(
            **{
                key.removeprefix("FLIGHTDECK_BACKUP_").lower(): value
                for key, value in environment.items()
            }
        )
        # The Azure copy is the one a lost machine (or cluster) is restored from.
        result = run_cycle(settings, verify=True, prune_after=False, verify_from="azure")
        failed = [step for step in result.steps if step.status != "ok"]
        if failed:
            raise StageFailed(
                "; ".join(f"backup {step.step} {step.status}: {step.detail}" for step in failed)
            )
        return StageReport("; ".join(step.detail for step in result.steps))

    def staging(self, run: PipelineRun) -> StageReport:
        spec = self.options.spec
        result = stage_version(
            self.target,
            run.release.version,
            dict(run.release.env),
            lock_name=spec.name,
            ready_timeout=spec.timeouts.candidate_ready.total_seconds(),
            smoke_timeout=spec.smoke_tests.timeout.total_seconds(),
        )
        if not result.passed:
            raise StageFailed(
                f"{result.version} on the {result.track} preview: {'; '.join(result.problems)} "
                f"({result.track} removed; production unchanged)"
            )
        return StageReport(
            f"{result.version} on the {result.track} preview: {len(result.smoke)} smoke tests "
            "passed, every replica ready and scraped; removed again"
        )

    def production(self, run: PipelineRun) -> StageReport:
        """Blue-green to production, driven to its end without a person.

        The traffic starts a measuring window (and two scrapes) before the rollout, so that the
        serving track has figures for the switch to be compared with. Production was approved
        before this stage, so a manual gate in the spec opens at once; a rollout that pauses for
        any other reason (inconclusive windows, an error with `on_error: pause`) would wait for
        a person who is not there: it is aborted, which switches back if it had switched.
        """
        spec, target = self.options.spec, self.target
        controller = Controller(target)
        window = spec.analysis.rate_window.total_seconds()
        warm_up = window + 2 * self.context.config.monitoring.scrape_interval_seconds
        with (
            _traffic(self.context, self.options.traffic_rate),
            MetricsSampler(target.metrics, window) as sampler,
        ):
            if self.options.traffic_rate > 0:
                terminal.info(
                    f"    {self.options.traffic_rate:g} requests/s through the ingress for "
                    f"{warm_up:.0f}s before the rollout: the serving track's figures"
                )
                time.sleep(warm_up)
            record = controller.start(spec, run.release.version, dict(run.release.env))
            driver = _UnattendedDriver(controller)
            record = controller.run(record.name, driver.on_tick, poll=1.0)
        report = run.directory / "production-report.html"
        write_atomically(
            report,
            render_report(
                f"Release {run.release.version} to production", [record], sampler.samples
            ),
        )
        links = {"rollout report": str(report)}
        if record.phase != "Succeeded":
            why = f"{driver.paused}; the pipeline aborted it: " if driver.paused else ""
            raise StageFailed(why + _rollout_failure(record) + f" (report: {report})")
        return StageReport(
            f"{record.version} serves on {record.candidate_track} after a "
            f"{_monitor(record)} monitor; {record.baseline_track} removed",
            links,
        )

    def validate_deployment(self, run: PipelineRun) -> StageReport:
        # Long enough for Prometheus to scrape the serving replicas and drop the removed ones.
        settle = 4 * self.context.config.monitoring.scrape_interval_seconds + 10
        return validated(run, validation_target("local", self.options.config_path), settle)

    def notify(self, run: PipelineRun) -> StageReport:
        urls = [*self.options.spec.notifications.urls, *self.options.notify_urls]
        return deliver(run, urls, run.directory / "summary.md", append=False)


class _UnattendedDriver:
    """Shows the production rollout's events as they happen, and answers its pauses."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.shown = 0
        self.paused: str | None = None
        """Why the rollout paused, when the pipeline aborted it for that."""
        self._answered = False

    def on_tick(self, record: RolloutRecord) -> None:
        for event in record.events[self.shown :]:
            terminal.info(f"    {event.at:%H:%M:%S} {event.phase:<13} {event.message}", style="dim")
        self.shown = len(record.events)
        if record.phase != "Paused":
            self._answered = False  # a later pause is answered too
            return
        if self._answered:
            return
        self._answered = True
        if record.resume_phase is None:  # the spec's manual gate: approved before stage 5
            self.controller.request(record.name, "promote")
            terminal.info("    the manual gate opens: production was approved for this stage")
        else:
            self.paused = f"the rollout paused ({record.events[-1].message})"
            self.controller.request(record.name, "abort")
            terminal.warning(f"    {self.paused}: nobody to resume it, aborting")


def _traffic(context: LocalContext, rate: float) -> AbstractContextManager[object]:
    """Steady requests through the ingress, so that the monitor has figures to judge."""
    if rate <= 0:
        return nullcontext()
    verify = ssl.create_default_context(cafile=str(context.run_dir.tls / "ca.crt"))
    return LoadGenerator(f"https://localhost:{context.config.ports.https}", verify, rate=rate)


def _monitor(record: RolloutRecord) -> str:
    strategy = record.spec.strategy
    return format_duration(strategy.monitor) if isinstance(strategy, BlueGreenStrategy) else "-"


def _rollout_failure(record: RolloutRecord) -> str:
    switched = (
        f"switched back to {record.baseline_track} ({record.baseline_version})"
        if record.switched_at
        else f"never took user traffic; {record.baseline_track} ({record.baseline_version}) "
        "serves as before"
    )
    return f"blue-green rollout of {record.version} {record.phase}: {record.reason}; {switched}"


SETTLE_POLL_SECONDS = 2.0


def validated(
    run: PipelineRun,
    target: ValidationTarget,
    settle_seconds: float,
    options: ValidationOptions | None = None,
) -> StageReport:
    """`flightdeck validate` as a stage: its report kept in the run's directory, a failed check
    a StageFailed naming every problem.

    A deployment that has just changed takes a moment to settle: Prometheus scrapes new
    replicas only at its next scrape and notices removed ones only when its target list is
    read again. So the checks run again every few seconds until they pass, for at most
    `settle_seconds`; the last report is the verdict.
    """
    deadline = time.monotonic() + settle_seconds
    while True:
        report = validate(target, options or ValidationOptions())
        if report.passed or time.monotonic() >= deadline:
            break
        time.sleep(SETTLE_POLL_SECONDS)
    path = run.directory / "validation.json"
    write_atomically(path, json.dumps(report.as_dict(), indent=2) + "\n")
    serving = ", ".join(f"{s.track} {s.version}" for s in report.serving) or "nothing"
    if not report.passed:
        problems = [
            f"{check.name}: {finding.subject}: {finding.detail}"
            for check in report.checks
            for finding in check.problems
        ]
        raise StageFailed(
            f"serving {serving}, after {settle_seconds:.0f} s to settle: "
            f"{'; '.join(problems) or 'no check ran'}"
        )
    checks = ", ".join(check.name for check in report.checks if check.status == "pass")
    return StageReport(
        f"serving {serving}: every check passed ({checks})", {"validation": str(path)}
    )


HELM_TIMEOUT_SECONDS = 600
SETTLE_SECONDS = 120
"""After a helm upgrade: a few scrapes of a 15-30 s Prometheus interval."""


def kubernetes_staging(
    run: PipelineRun,
    values: Sequence[Path],
    timeout: float = HELM_TIMEOUT_SECONDS,
    settle_seconds: float = SETTLE_SECONDS,
    options: ValidationOptions | None = None,
) -> StageReport:
    """Stage 4 on a cluster: `helm upgrade --install --wait` of the chart in the staging
    namespace (a rolling update of the backend and frontend to the release's images), then
    `flightdeck validate` there: replicas ready, autoscalers, metrics, smoke tests through the
    staging ingress. Settings are the kubernetes engine's (FLIGHTDECK_NAMESPACE, _RELEASE...)."""
    from flightdeck.kubernetes.settings import load_kubernetes_settings

    settings = load_kubernetes_settings()
    root = repo_root("the staging stage (it installs the checkout's chart)")
    helm = repo_bin("helm")
    if helm is None or not helm.exists():
        found = shutil.which("helm")
        if found is None:
            raise StageFailed("helm is not installed: run `make setup` (it builds bin/helm)")
        helm = Path(found)
    version = run.release.version
    command = [
        str(helm),
        "upgrade",
        "--install",
        settings.release,
        str(root / "charts" / "flightdeck"),
        "--namespace",
        settings.namespace,
        "--wait",
        "--timeout",
        f"{int(timeout)}s",
        "--set-string",
        f"backend.image.tag={version}",
        "--set-string",
        f"frontend.image.tag={version}",
    ]
    for path in values:
        command += ["--values", str(path)]
    if settings.kube_context:
        command += ["--kube-context", settings.kube_context]
    log = run.log("staging")
    run_logged(command, log, cwd=root)
    # The staging release has no canary or blue-green objects: stable serves, and only stable.
    target = dataclasses.replace(validation_target("kubernetes", None), router=RollingRelease())
    report = validated(run, target, settle_seconds, options)
    return StageReport(
        f"helm upgrade of release {settings.release} in {settings.namespace} to {version}; "
        + report.detail,
        {**report.links, "log": str(log)},
    )


def record_in_history(history: HistoryStore, run: PipelineRun, checkout: Path) -> None:
    """`record_run` with the commit's time from git in `checkout`; a failure is a warning."""
    commit = run.release.commit
    committed_at = commit_time(commit, checkout) if commit else None
    try:
        record_run(history, run, committed_at)
    except FlightdeckError as exc:
        terminal.warning(f"pipeline run {run.run_id} is not in the delivery history: {exc}")
    else:
        terminal.info(f"pipeline run {run.run_id} recorded in the delivery history")
