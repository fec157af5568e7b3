"""`flightdeck pipeline run | stages | version | notify`: the delivery pipeline (docs/pipeline.md).

`run` takes a release through the seven stages on the local platform. `version` and `notify` are
what the GitHub release workflow calls for its version and its last stage; `stages` lists the
stages with what each does here and on GitHub.

Exit codes of `run`: 0 every stage that ran passed, 1 a stage failed (named, with its reason),
2 usage or configuration error, 4 stopped before production because it was not approved.
"""

from __future__ import annotations

import functools
import getpass
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.text import Text

from flightdeck.cli.options import ConfigOption, JsonOption, SpecOption, TargetOption
from flightdeck.cli.rollout import spec_for_strategy
from flightdeck.core import terminal
from flightdeck.core.config import describe_validation_error
from flightdeck.core.errors import ConfigError
from flightdeck.core.paths import repo_root
from flightdeck.core.validation import (
    check_aware_time,
    check_run_id,
    check_version,
    control_characters,
    parse_env_assignments,
)
from flightdeck.engines.kubernetes import kubernetes_history
from flightdeck.engines.pipeline import (
    SETTLE_SECONDS,
    LocalPipeline,
    LocalPipelineOptions,
    kubernetes_staging,
    notify_urls_from_environment,
    record_in_history,
)
from flightdeck.pipeline.commands import log_tail
from flightdeck.pipeline.release import github_version, resolve_release
from flightdeck.pipeline.runner import (
    Approval,
    Approver,
    PipelineRun,
    Release,
    StageAction,
    StageFailed,
    StageResult,
    StageStatus,
    run_pipeline,
    run_stage,
    save_run,
)
from flightdeck.pipeline.stages import STAGES, Stage, StageName, stage_named
from flightdeck.pipeline.summary import STATUS_MARKS, dashboard_links, deliver, headline
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.validate.checks import CHECKS, ValidationOptions

app = typer.Typer(help="The delivery pipeline: seven stages from the tests to production.")

STATUS_STYLES = {"passed": "green", "failed": "bold red", "not approved": "yellow"}


def _stage_option(value: str | None, option: str) -> StageName | None:
    return None if value is None else stage_named(value, option).name


class TerminalProgress:
    """A spinner per stage on a terminal (a line otherwise), then its result with its time."""

    def __init__(self, on_github: bool = False) -> None:
        self.on_github = on_github
        """Describe the stages as the release workflow runs them, not as the local engine."""

    @contextmanager
    def running(self, stage: Stage, run: PipelineRun) -> Iterator[None]:
        what = stage.github if self.on_github else stage.local
        with terminal.status(f"[{stage.number}/{len(STAGES)}] {stage.title}: {what}"):
            yield

    def stage_finished(self, result: StageResult, run: PipelineRun) -> None:
        stage = result.stage
        line = f"[{stage.number}/{len(STAGES)}] {stage.title} ({result.seconds or 0:.1f}s): "
        if result.status == "passed":
            terminal.success(line + result.detail)
            return
        if result.status == "not approved":
            terminal.warning(f"[{stage.number}/{len(STAGES)}] {stage.title}: {result.detail}")
            return
        terminal.error(line + result.detail)
        for tail in log_tail(run.log(stage.name)):
            terminal.info(f"    | {tail}", style="dim")


def _approver(approve: bool) -> Approver:
    def ask(stage: Stage, release: Release) -> Approval:
        if approve:
            return Approval(True, "--approve")
        if not sys.stdin.isatty():
            return Approval(
                False,
                "not approved: nobody to ask (no terminal) and no --approve; continue with "
                f"`flightdeck pipeline run --from {stage.name} --approve --version "
                f"{release.version}`",
            )
        if typer.confirm(f"Deploy {release.version} to production (blue-green)?", default=False):
            return Approval(True, f"approved at the terminal by {getpass.getuser()}")
        return Approval(False, f"declined at the terminal by {getpass.getuser()}")

    return ask


def print_summary(run: PipelineRun) -> None:
    rows = [
        (
            str(result.stage.number),
            result.stage.name,
            Text(STATUS_MARKS[result.status], style=STATUS_STYLES.get(result.status, "")),
            "" if result.seconds is None else f"{result.seconds:.1f}s",
            result.detail,
        )
        for result in run.results
    ]
    terminal.print_table(headline(run), ["#", "stage", "result", "time", "detail"], rows)
    links = dict(run.links)
    for result in run.results:
        links.update({f"{result.stage.name}: {k}": v for k, v in result.links.items()})
    terminal.print_table(None, ["link", "where"], list(links.items()))


@app.command()
def run(
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            "-v",
            envvar="FLIGHTDECK_PIPELINE_VERSION",
            help="The release's version label (default: sha-<commit>, -dirty with changes).",
        ),
    ] = None,
    commit: Annotated[
        str | None,
        typer.Option("--commit", help="The commit it is built from (default: git HEAD)."),
    ] = None,
    start_from: Annotated[
        str | None, typer.Option("--from", help="Start at this stage (the ones before: skipped).")
    ] = None,
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help="Leave this stage out (repeatable).")
    ] = None,
    approve: Annotated[
        bool,
        typer.Option(
            "--approve",
            envvar="FLIGHTDECK_PIPELINE_APPROVE",
            help="Approve production in advance (for scripts; otherwise asked at the terminal).",
        ),
    ] = False,
    spec: SpecOption = None,
    monitor: Annotated[
        str | None,
        typer.Option("--monitor", help="The production monitor's length (e.g. 2m; spec: 5m)."),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY=VAL environment for the new version (as for rollouts)."),
    ] = None,
    traffic: Annotated[
        float,
        typer.Option(
            min=0,
            max=1000,
            help="Requests per second through the ingress while production is deployed, so "
            "the monitor has figures to judge (0: none; stay under the rate limit).",
        ),
    ] = 10.0,
    grafana_url: Annotated[
        str | None,
        typer.Option(
            "--grafana-url",
            envvar="FLIGHTDECK_GRAFANA_URL",
            help="A Grafana with the dashboards, for the summary's links.",
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take a release through the seven stages on the local platform, then print a summary."""
    first = _stage_option(start_from, "--from")
    skipped = [_stage_option(name, "--skip") for name in skip or []]
    env = parse_env_assignments(sets or [])
    source = repo_root("flightdeck pipeline run")
    release = resolve_release(source, version or None, commit, env)
    rollout = _production_spec(spec, monitor)
    pipeline = LocalPipeline(
        LocalPipelineOptions(
            source=source,
            config_path=config,
            spec=rollout,
            traffic_rate=traffic,
            grafana_url=grafana_url,
            notify_urls=notify_urls_from_environment(),
        )
    )
    names = [stage.name for stage in STAGES]
    to_run = {name for name in names[names.index(first) if first else 0 :] if name not in skipped}
    pipeline.preflight(release.version, to_run)
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    state = PipelineRun(
        run_id=run_id,
        release=release,
        directory=pipeline.context.run_dir.root / "pipeline" / run_id,
        started_at=started,
        links=pipeline.links(),
    )
    terminal.info(
        f"pipeline {run_id}: release {release.version} (commit {release.commit or 'unknown'}"
        f"{', with uncommitted changes' if release.uncommitted_changes else ''}); "
        f"logs in {state.directory}",
        style="bold",
    )
    if "production" in to_run and not approve and not sys.stdin.isatty():
        terminal.warning("no --approve and no terminal: the pipeline will stop before production")
    run_pipeline(
        pipeline.actions(),
        state,
        approve=_approver(approve),
        progress=TerminalProgress(),
        start_from=first,
        skip=[name for name in skipped if name is not None],
    )
    save_run(state)
    pipeline.record(state)
    if as_json:
        terminal.print_json(state.as_dict())
    else:
        print_summary(state)
    raise typer.Exit(state.exit_code)


def _production_spec(path: Path | None, monitor: str | None) -> RolloutSpec:
    spec = spec_for_strategy("bluegreen", path)
    if monitor is None:
        return spec
    data = spec.model_dump(mode="json")
    data["strategy"]["monitor"] = monitor
    try:
        return RolloutSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error("--monitor", exc)) from None


@app.command()
def stages(as_json: JsonOption = False) -> None:
    """List the stages: what each checks, what it runs here and on GitHub."""
    if as_json:
        terminal.print_json(
            [
                {
                    "number": stage.number,
                    "name": stage.name,
                    "title": stage.title,
                    "purpose": stage.purpose,
                    "local": stage.local,
                    "github": stage.github,
                    "approval": stage.approval,
                    "always": stage.always,
                }
                for stage in STAGES
            ]
        )
        return
    terminal.print_table(
        "the delivery pipeline",
        ["#", "stage", "purpose", "on this machine", "on GitHub"],
        [(s.number, s.name, s.purpose, s.local, s.github) for s in STAGES],
    )


@app.command("version")
def version_command(
    ref: Annotated[
        str, typer.Option("--ref", help="GITHUB_REF: refs/tags/v1.4.0, refs/heads/main")
    ],
    sha: Annotated[str, typer.Option("--sha", help="GITHUB_SHA: the commit.")],
    requested: Annotated[
        str | None, typer.Option("--requested", help="A version asked for (a manual run's input).")
    ] = None,
) -> None:
    """Print the version a release workflow run delivers (the tag's, else sha-<commit>)."""
    terminal.stdout.print(github_version(ref, sha, requested or None))


GITHUB_RESULTS: dict[str, tuple[StageStatus, str]] = {
    "success": ("passed", "the job succeeded"),
    "failure": ("failed", "the job failed: see the run's log"),
    "cancelled": ("not run", "the job was cancelled"),
    "skipped": ("not run", "skipped: an earlier stage did not pass"),
}
"""A GitHub job's `needs.<job>.result`, as a stage's result."""


def _stage_results(assignments: list[str]) -> dict[StageName, tuple[StageStatus, str]]:
    results: dict[StageName, tuple[StageStatus, str]] = {}
    for assignment in assignments:
        name, sep, result = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--result {assignment[:80]!r}: expected STAGE=RESULT")
        stage = stage_named(name, "--result").name
        if result not in GITHUB_RESULTS:
            raise ConfigError(
                f"--result {name}={result[:40]!r}: a GitHub job result is one of "
                f"{', '.join(GITHUB_RESULTS)}"
            )
        results[stage] = GITHUB_RESULTS[result]
    reporting = {stage.name for stage in STAGES if stage.always}
    missing = [s.name for s in STAGES if s.name not in results and s.name not in reporting]
    if missing:
        raise ConfigError(f"--result is missing for the stages {', '.join(missing)}")
    return results


def _links(assignments: list[str]) -> dict[str, str]:
    links: dict[str, str] = {}
    for assignment in assignments:
        name, sep, url = assignment.partition("=")
        if not sep or not name or not url.startswith(("https://", "http://")):
            raise ConfigError(f"--link {assignment[:80]!r}: expected NAME=https://...")
        if control_characters(assignment) or any(ch.isspace() for ch in url):
            raise ConfigError(f"--link {name[:40]!r}: control characters or spaces")
        links[name] = url
    return links


@app.command()
def notify(
    ref: Annotated[
        str, typer.Option("--ref", help="GITHUB_REF: refs/tags/v1.4.0, refs/heads/main")
    ],
    sha: Annotated[str, typer.Option("--sha", help="GITHUB_SHA: the release's commit.")],
    result: Annotated[
        list[str],
        typer.Option(
            "--result",
            help="STAGE=RESULT for every stage before notify (GitHub's "
            "needs.<job>.result: success, failure, cancelled, skipped).",
        ),
    ],
    requested: Annotated[
        str | None, typer.Option("--requested", help="A version asked for (a manual run's input).")
    ] = None,
    run_id: Annotated[
        str, typer.Option("--run-id", help="The run's id (GITHUB_RUN_ID).")
    ] = "github",
    link: Annotated[
        list[str] | None, typer.Option("--link", help="NAME=URL for the summary (repeatable).")
    ] = None,
    summary_file: Annotated[
        Path | None,
        typer.Option(
            "--summary-file",
            envvar="GITHUB_STEP_SUMMARY",
            help="Append the summary here (default: $GITHUB_STEP_SUMMARY).",
            dir_okay=False,
        ),
    ] = None,
    grafana_url: Annotated[
        str | None,
        typer.Option("--grafana-url", envvar="FLIGHTDECK_GRAFANA_URL", help="Grafana's address."),
    ] = None,
    started_at: Annotated[
        str | None,
        typer.Option("--started-at", help="When the run started (ISO 8601; default: now)."),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            envvar="FLIGHTDECK_PIPELINE_RECORD",
            help="Also record the run in the delivery history of the kubernetes engine's "
            "settings (FLIGHTDECK_HISTORY*, docs/kubernetes.md).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Stage 7 for the release workflow: the summary to the job summary and the notifier.

    The version is the one `flightdeck pipeline version` gave the run's build job.

    Notification URLs (Apprise) come from FLIGHTDECK_NOTIFY_URLS, whitespace-separated.
    """
    version = github_version(ref, sha, requested or None)
    check_run_id(run_id)
    results = _stage_results(result)
    started = check_aware_time(started_at, "--started-at") if started_at else datetime.now(UTC)
    if summary_file is None:
        raise ConfigError("--summary-file is needed outside GitHub Actions ($GITHUB_STEP_SUMMARY)")
    state = PipelineRun(
        run_id=run_id,
        release=Release(version=version, commit=sha),
        directory=summary_file.parent,
        started_at=started,
        links={**dashboard_links(grafana_url), **_links(link or [])},
    )
    for stage in STAGES:
        if not stage.always:
            status, detail = results[stage.name]
            state.results.append(StageResult(stage, status, detail))
    for stage in (stage for stage in STAGES if stage.always):
        reported = StageResult(stage, "running", "this summary")
        state.results.append(reported)
        try:
            sent = deliver(state, notify_urls_from_environment(), summary_file, append=True)
        except StageFailed as exc:
            reported.status, reported.detail = "failed", str(exc)
        else:
            reported.status, reported.detail = "passed", sent.detail
    state.finished_at = datetime.now(UTC)
    if record:
        record_in_history(kubernetes_history(), state, Path.cwd())
    if as_json:
        terminal.print_json(state.as_dict())
    else:
        print_summary(state)
    failed = [r for r in state.results if r.stage.always and r.status == "failed"]
    for reported in failed:
        terminal.error(reported.detail)
    raise typer.Exit(1 if failed else 0)


@app.command()
def staging(
    version: Annotated[str, typer.Option("--version", "-v", help="The release's version.")],
    target: TargetOption = "local",
    values: Annotated[
        list[Path] | None,
        typer.Option("--values", help="kubernetes: a Helm values file of the staging release."),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="local: KEY=VAL environment for the new version."),
    ] = None,
    skip_check: Annotated[
        list[str] | None,
        typer.Option(
            "--skip-check",
            help=f"kubernetes: leave a check of the validation out: {', '.join(CHECKS)}.",
        ),
    ] = None,
    settle: Annotated[
        float,
        typer.Option(
            min=0,
            max=3600,
            help="kubernetes: seconds the checks may take to pass after the upgrade (new "
            "pods scraped, autoscalers settled).",
        ),
    ] = SETTLE_SECONDS,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="kubernetes: the folder for the stage's log and results, one subfolder per run "
            "(default: .flightdeck/pipeline in the current directory).",
        ),
    ] = None,
    spec: SpecOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stage 4 alone: the new version where users are not, smoke tests, health checks.

    local: on the blue-green preview route, then removed (production unchanged). kubernetes:
    `helm upgrade --install --wait` in the staging namespace (FLIGHTDECK_NAMESPACE), then the
    checks of `flightdeck validate` there. Exit 0 when it passed, 1 when it failed.
    """
    check_version(version)
    env = parse_env_assignments(sets or [])
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    stage = stage_named("staging")
    if target == "kubernetes":
        if env:
            raise ConfigError("--set is for the local target; on kubernetes use --values")
        for path in values or []:
            if not path.is_file():
                raise ConfigError(f"--values {path}: no such file")
        checks = ValidationOptions(skip=frozenset(skip_check or ()))
        folder = records if records is not None else Path(".flightdeck") / "pipeline"
        state = PipelineRun(run_id, Release(version=version), folder / run_id, started)
        action: StageAction = functools.partial(
            kubernetes_staging, values=values or [], settle_seconds=settle, options=checks
        )
    elif target == "local":
        if values or skip_check or records:
            raise ConfigError("--values, --skip-check and --records are for the kubernetes target")
        pipeline = LocalPipeline(
            LocalPipelineOptions(
                source=repo_root("flightdeck pipeline staging"),
                config_path=config,
                spec=_production_spec(spec, None),
            )
        )
        pipeline.preflight(version, {"staging"})
        state = PipelineRun(
            run_id,
            Release(version=version, env=env),
            pipeline.context.run_dir.root / "pipeline" / run_id,
            started,
        )
        action = pipeline.staging
    else:
        raise ConfigError(f"--target {target!r}: the staging stage runs on local or kubernetes")
    state.directory.mkdir(parents=True, exist_ok=True)
    result = run_stage(stage, action, state, TerminalProgress(on_github=target == "kubernetes"))
    state.finished_at = datetime.now(UTC)
    if as_json:
        terminal.print_json(state.as_dict())
    raise typer.Exit(0 if result.status == "passed" else 1)
