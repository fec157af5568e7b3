"""The deployment summary: what stage 7 shows, saves and sends, on one machine and on GitHub.

One rendering (Markdown) serves the GitHub job summary (`$GITHUB_STEP_SUMMARY`), the run's
`summary.md` and the notification's body, so people read the same summary wherever it reaches
them: the outcome, the version and commit, each stage with its result and time, which stage
failed and why, what was left out (`--from`, `--skip`) and the links (Grafana dashboards, the
rollout report, Prometheus, the run's logs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from flightdeck.core.errors import FlightdeckError
from flightdeck.core.files import write_atomically
from flightdeck.notify import Notifications, notifier_for
from flightdeck.pipeline.runner import PipelineRun, StageFailed, StageReport

DASHBOARDS: dict[str, str] = {
    "Application overview": "flightdeck-app-overview",
    "Canary vs stable": "flightdeck-canary-vs-stable",
    "Infrastructure": "flightdeck-infrastructure",
    "Delivery": "flightdeck-delivery",
}
"""Grafana dashboard uids (monitoring/grafana/dashboards/*.json; a test checks they agree)."""

STATUS_MARKS = {
    "running": "▶ running",
    "passed": "✅ passed",
    "failed": "❌ failed",
    "skipped": "⏭ skipped",
    "not run": "· not run",
    "not approved": "✋ not approved",
}


def dashboard_links(grafana_url: str | None) -> dict[str, str]:
    """Links to the dashboards on a Grafana at `grafana_url`; none without one."""
    if not grafana_url:
        return {}
    base = grafana_url.rstrip("/")
    return {f"Grafana: {title}": f"{base}/d/{uid}" for title, uid in DASHBOARDS.items()}


def headline(run: PipelineRun) -> str:
    release = run.release
    failed = run.failed
    if failed is not None:
        what = f"failed at stage {failed.stage.number} ({failed.stage.title})"
    elif run.outcome == "not approved":
        what = "stopped before production: not approved"
    else:
        what = "delivered to production" if _reached_production(run) else "succeeded"
    return f"Release {release.version}: {what}"


def _reached_production(run: PipelineRun) -> bool:
    production = run.result("production")
    return production is not None and production.status == "passed"


def severity(run: PipelineRun) -> str:
    return {"succeeded": "info", "not approved": "warning", "failed": "critical"}[run.outcome]


def _cell(text: str) -> str:
    """Table cell text: one line, no column separators."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown(run: PipelineRun, extra_links: Mapping[str, str] | None = None) -> str:
    release = run.release
    lines = [f"## {headline(run)}", ""]
    commit = release.commit or "unknown"
    if release.uncommitted_changes:
        commit += " (with uncommitted changes)"
    lines += [f"- version: `{release.version}`", f"- commit: `{commit}`", f"- run: `{run.run_id}`"]
    if run.approval is not None:
        lines.append(f"- production approval: {_cell(run.approval)}")
    failed = run.failed
    if failed is not None:
        lines.append(f"- **stage {failed.stage.number} ({failed.stage.name}) failed:** ")
        lines[-1] += _cell(failed.detail)
    left_out = [r for r in run.results if r.status == "skipped"]
    if left_out:
        lines.append(
            "- left out: " + ", ".join(f"{r.stage.name} ({_cell(r.detail)})" for r in left_out)
        )
    lines += ["", "| # | stage | result | time | detail |", "|---|---|---|---|---|"]
    for result in run.results:
        seconds = "" if result.seconds is None else f"{result.seconds:.1f} s"
        lines.append(
            f"| {result.stage.number} | {result.stage.title} | {STATUS_MARKS[result.status]} "
            f"| {seconds} | {_cell(result.detail)} |"
        )
    links = {**run.links, **(extra_links or {})}
    for result in run.results:
        links.update({f"{result.stage.name}: {k}": v for k, v in result.links.items()})
    if links:
        lines += ["", "Links:", ""]
        lines += [f"- {_cell(name)}: {_cell(target)}" for name, target in links.items()]
    return "\n".join(lines) + "\n"


def deliver(run: PipelineRun, urls: Sequence[str], summary_file: Path, append: bool) -> StageReport:
    """Stage 7: the summary into `summary_file` (appended to, for `$GITHUB_STEP_SUMMARY`) and
    through the notifier to `urls`. A notification that cannot be delivered fails the stage,
    naming where the summary still is."""
    text = markdown(run)
    if append:
        with summary_file.open("a", encoding="utf-8") as out:
            out.write(text)
    else:
        write_atomically(summary_file, text)
    try:
        notifier_for(Notifications(urls=list(urls))).notify(headline(run), text, severity(run))
    except FlightdeckError as exc:
        raise StageFailed(
            f"the summary could not be sent: {exc} (it is in {summary_file})"
        ) from exc
    sent = f"sent to {len(urls)} destination(s)" if urls else "no notification URL configured"
    return StageReport(f"summary written; {sent}", {"summary": str(summary_file)})
