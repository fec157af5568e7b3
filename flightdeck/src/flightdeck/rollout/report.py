"""A rollout report: one self-contained HTML page with charts of the new version against the one
that served (canary vs stable, or the new colour vs the old one before and after the switch) over
time, every decision with its reason, and a section of delivery KPIs with their trends (from the
delivery history). Charts are inline SVG: the page needs no network.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flightdeck.core.background import BackgroundThread
from flightdeck.core.errors import FlightdeckError
from flightdeck.metrics import MetricsProvider
from flightdeck.rollout.analysis import bounds_text, build_queries, numbers_behind
from flightdeck.rollout.kpi import KpiReport, format_seconds
from flightdeck.rollout.record import RolloutRecord

WIDTH, HEIGHT, PAD = 760, 220, 48
COLOURS = {"canary": "#d9480f", "stable": "#1c7ed6", "blue": "#1c7ed6", "green": "#2b8a3e"}
SAMPLED_TRACKS = ("stable", "canary", "blue", "green")


@dataclass
class Sample:
    at: float  # seconds since the epoch
    values: dict[str, float | None]


class MetricsSampler(BackgroundThread):
    """Samples every track's error rate and P95 from Prometheus every `interval` seconds."""

    def __init__(self, provider: MetricsProvider, window_seconds: float, interval: float = 1.0):
        super().__init__()
        self.provider = provider
        self.interval = interval
        self.samples: list[Sample] = []
        window = timedelta(seconds=window_seconds)
        self._queries = {
            f"{track}_{name}": query
            for track in SAMPLED_TRACKS
            for name, query in build_queries(track, None, window).items()
            if name in ("error_rate", "p95_seconds")
        }

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            values: dict[str, float | None] = {}
            for key, query in self._queries.items():
                try:
                    values[key] = self.provider.query(query)
                except FlightdeckError:
                    values[key] = None
            self.samples.append(Sample(time.time(), values))


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


MARKED = ("step ", "analysis failed", "the monitor failed", "the preview analysis failed",
          "switched")  # fmt: skip


def _mark_label(message: str, phase: str) -> str:
    if message.startswith("step "):
        return message.split(": ")[1].split("%")[0] + "%"
    if message.startswith("switched back"):
        return "switch back"
    if message.startswith("switched"):
        return "switch"
    return {"RolledBack": "rolled back", "Succeeded": "promoted", "Aborted": "aborted"}.get(
        phase, "decision"
    )


def _chart(
    title: str,
    samples: list[Sample],
    metric: str,
    scale: float,
    unit: str,
    start: float,
    end: float,
    limit: float | None,
    marks: Sequence[tuple[float, str]],
    tracks: tuple[str, str] = ("canary", "stable"),
) -> str:
    """An SVG line chart of the two tracks (new, serving) for `metric` between start and end."""
    series: dict[str, list[tuple[float, float]]] = {}
    for track in tracks:
        raw = [(s.at, s.values.get(f"{track}_{metric}")) for s in samples if start <= s.at <= end]
        series[track] = [(at, value * scale) for at, value in raw if value is not None]
    data_top = max([v for points in series.values() for _, v in points] or [0.0])
    # The limit is drawn when it is near the data (otherwise it would flatten the lines), or when
    # every value is 0 (so the scale says something).
    near = limit is not None and (data_top == 0 or limit * scale <= 3 * data_top)
    shown_limit = limit * scale if near and limit is not None else None
    top = max(data_top, shown_limit or 0.0) * 1.15 or 1.0
    span = max(end - start, 1e-9)

    def x(t: float) -> float:
        return PAD + (t - start) / span * (WIDTH - 2 * PAD)

    def y(v: float) -> float:
        return HEIGHT - PAD + -v / top * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<text x="{PAD}" y="20" class="title">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'class="axis"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" class="tick" text-anchor="end">'
        f"{_number(top)}{unit}</text>",
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" class="tick" text-anchor="end">0</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" class="tick" text-anchor="end">'
        f"{end - start:.0f}s</text>",
    ]
    if shown_limit is not None:
        ly = y(shown_limit)
        parts.append(
            f'<line x1="{PAD}" y1="{ly:.1f}" x2="{WIDTH - PAD}" y2="{ly:.1f}" class="limit"/>'
        )
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{ly - 4:.1f}" class="tick" text-anchor="end">limit</text>'
        )
    for at, label in marks:
        mx = x(at)
        parts.append(
            f'<line x1="{mx:.1f}" y1="{PAD}" x2="{mx:.1f}" y2="{HEIGHT - PAD}" class="mark"/>'
        )
        # Labels near the right edge go to the left of their line.
        anchor, dx = ("end", -3) if mx > WIDTH - 2 * PAD else ("start", 3)
        parts.append(
            f'<text x="{mx + dx:.1f}" y="{PAD + 10}" class="tick" text-anchor="{anchor}">'
            f"{html.escape(label)}</text>"
        )
    for track, points in series.items():
        if points:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{COLOURS[track]}" '
                'stroke-width="2"/>'
            )
    for index, track in enumerate(tracks):
        lx = WIDTH - PAD - 160 + index * 80
        parts.append(f'<rect x="{lx}" y="10" width="10" height="10" fill="{COLOURS[track]}"/>')
        parts.append(f'<text x="{lx + 14}" y="19" class="tick">{track}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _check_line(check: dict[str, Any]) -> str:
    """A check's result with the numbers behind it: value, bounds, counts, e-values."""
    value = check.get("value")
    numbers = [
        part
        for part in (
            "" if value is None else f"{value:.4g}",
            bounds_text(check),
            numbers_behind(check),
        )
        if part
    ]
    return f"{check['name']}: {check['result']}" + (f" ({'; '.join(numbers)})" if numbers else "")


def _rollout_section(record: RolloutRecord, samples: list[Sample]) -> str:
    start = record.started_at.timestamp()
    end = (record.finished_at or datetime.now(UTC)).timestamp()
    limits = record.spec.analysis.thresholds
    tracks = (record.candidate_track, record.baseline_track)
    marks: list[tuple[float, str]] = []
    previous = None
    for event in record.events:
        entered = event.phase != previous and event.phase in ("RolledBack", "Succeeded", "Aborted")
        if entered or event.message.startswith(MARKED):
            marks.append((event.at.timestamp(), _mark_label(event.message, event.phase)))
        previous = event.phase
    decisions = "\n".join(
        f"<tr><td>{event.at:%H:%M:%S}</td><td>{event.phase}</td>"
        f"<td>{html.escape(event.message)}</td></tr>"
        for event in record.events
    )
    analyses = "\n".join(
        '<tr><td>{:%H:%M:%S}{}</td><td>{}%</td><td class="{}">{}</td><td>{}</td></tr>'.format(
            run.at,
            f" ({run.repeats} in a row)" if run.repeats > 1 else "",
            run.weight,
            run.result,
            run.result,
            "<br>".join(html.escape(_check_line(check)) for check in run.checks),
        )
        for run in record.analyses
    )
    outcome = record.phase + (f": {record.reason}" if record.reason else "")
    error_chart = _chart(
        "Error rate (5xx share of /api requests)",
        samples,
        "error_rate",
        100,
        "%",
        start,
        end,
        limits.max_error_rate,
        marks,
        tracks,
    )
    latency_chart = _chart(
        "P95 latency",
        samples,
        "p95_seconds",
        1000,
        "ms",
        start,
        end,
        limits.max_p95_seconds,
        marks,
        tracks,
    )
    return f"""
<section>
<h2>{record.spec.strategy.type}: {html.escape(record.baseline_version)} &rarr;
  {html.escape(record.version)} <span class="{record.phase}">{html.escape(outcome)}</span></h2>
<p>{tracks[0]} (the new version) against {tracks[1]} (the one serving before);
 environment of the new version: <code>{html.escape(str(record.env or "none"))}</code>;
 duration {end - start:.0f}s.</p>
{error_chart}
{latency_chart}
<h3>Analyses</h3>
<table><tr><th>time</th><th>weight</th><th>result</th><th>checks</th></tr>{analyses}</table>
<h3>Decisions</h3>
<table><tr><th>time</th><th>phase</th><th>what and why</th></tr>{decisions}</table>
</section>"""


TREND_STEPS = (60.0, 300.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)
"""Bucket sizes of the trend charts: the smallest that cuts the window into at most 40."""


def _buckets(start: float, end: float) -> tuple[float, int]:
    step = next((s for s in TREND_STEPS if (end - start) / s <= 40), TREND_STEPS[-1])
    return step, max(1, int((end - start) // step) + (1 if (end - start) % step else 0))


def _axis(start: float, end: float, top: float, unit: str) -> list[str]:
    span = end - start
    label = format_seconds(span) if span < 2 * 86400 else f"{span / 86400:.0f} days"
    return [
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        'class="axis"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" class="axis"/>',
        f'<text x="{PAD - 4}" y="{PAD + 4}" class="tick" text-anchor="end">'
        f"{_number(top)}{html.escape(unit)}</text>",
        f'<text x="{PAD - 4}" y="{HEIGHT - PAD}" class="tick" text-anchor="end">0</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 16}" class="tick" text-anchor="end">'
        f"{html.escape(label)}</text>",
    ]


def _legend(names: Sequence[tuple[str, str]]) -> list[str]:
    parts = []
    for index, (name, colour) in enumerate(names):
        lx = WIDTH - PAD - 130 * (len(names) - index)
        parts.append(f'<rect x="{lx}" y="10" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 14}" y="19" class="tick">{html.escape(name)}</text>')
    return parts


def _trend_bars(title: str, start: float, end: float, series: dict[str, list[float]]) -> str:
    """Counts per bucket of time (deployments, failed changes), side by side per bucket."""
    step, count = _buckets(start, end)
    colours = dict(zip(series, ("#1c7ed6", "#c92a2a", "#2b8a3e"), strict=False))
    counts = {
        name: [sum(1 for t in times if int((t - start) // step) == i) for i in range(count)]
        for name, times in series.items()
    }
    top = max([max(values, default=0) for values in counts.values()] + [1]) * 1.15
    width = (WIDTH - 2 * PAD) / count
    bar = width * 0.8 / max(len(series), 1)
    unit = {60.0: "/min", 300.0: "/5 min", 3600.0: "/h", 21600.0: "/6 h", 86400.0: "/day"}
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<text x="{PAD}" y="20" class="title">{html.escape(title)}</text>',
        *_axis(start, end, top, unit.get(step, "/week")),
        *_legend([(name, colours[name]) for name in series]),
    ]
    for index, (name, values) in enumerate(counts.items()):
        for bucket, value in enumerate(values):
            if value:
                x = PAD + bucket * width + width * 0.1 + index * bar
                h = value / top * (HEIGHT - 2 * PAD)
                parts.append(
                    f'<rect x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar:.1f}" '
                    f'height="{h:.1f}" fill="{colours[name]}"><title>{value} {html.escape(name)}'
                    "</title></rect>"
                )
    parts.append("</svg>")
    return "\n".join(parts)


def _trend_points(
    title: str, start: float, end: float, series: dict[str, list[tuple[float, float]]]
) -> str:
    """Durations (minutes) at the time they were measured, one line of points per KPI."""
    colours = dict(zip(series, ("#1c7ed6", "#d9480f", "#2b8a3e", "#7048e8"), strict=False))
    values = [v / 60 for points in series.values() for _, v in points]
    top = max([*values, 1.0 / 60]) * 1.15
    span = max(end - start, 1e-9)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">',
        f'<text x="{PAD}" y="20" class="title">{html.escape(title)}</text>',
        *_axis(start, end, top, " min"),
        *_legend([(name, colours[name]) for name in series]),
    ]
    for name, points in series.items():
        plot_width, plot_height = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
        coords = [
            (PAD + (t - start) / span * plot_width, HEIGHT - PAD - v / 60 / top * plot_height)
            for t, v in sorted(points)
        ]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colours[name]}" stroke-width="1"/>'
            )
        for (x, y), (_, value) in zip(coords, sorted(points), strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colours[name]}">'
                f"<title>{html.escape(name)}: {html.escape(format_seconds(value))}</title></circle>"
            )
    parts.append("</svg>")
    return "\n".join(parts)


def delivery_section(report: KpiReport) -> str:
    """The KPIs of the report's window against their targets, and their trends."""
    figures = report.figures
    start, end = figures.since.timestamp(), figures.until.timestamp()
    rows = "\n".join(
        '<tr><td>{}</td><td>{}</td><td>{}</td><td class="{}">{}</td><td>{}</td></tr>'.format(
            html.escape(result.kpi.label),
            html.escape(result.display),
            html.escape(result.kpi.target),
            "inconclusive" if result.met is None else "pass" if result.met else "fail",
            "no data" if result.met is None else "pass" if result.met else "FAIL",
            html.escape(result.level),
        )
        for result in report.results
    )
    bars = _trend_bars(
        "Deployments and failed changes",
        start,
        end,
        {
            "deployments": [
                d.promoted_at.timestamp() for d in figures.deployments if d.promoted_at
            ],
            "failed changes": [
                c.exposed_at.timestamp() for c in figures.failed_changes if c.exposed_at
            ],
        },
    )
    points = _trend_points(
        "Lead time, time to detect, time to restore, rollback time",
        start,
        end,
        {
            name: [(p.at.timestamp(), p.seconds) for p in measured]
            for name, measured in (
                ("lead time", figures.lead_times),
                ("detect", figures.detection_times),
                ("restore", figures.restore_times),
                ("rollback", figures.rollback_times),
            )
        },
    )
    return f"""
<section>
<h2>Delivery KPIs, {figures.since:%Y-%m-%d %H:%M} to {figures.until:%Y-%m-%d %H:%M} UTC</h2>
<p>From the delivery history ({len(figures.deployments)} deployments, {len(figures.changes)}
 production changes, {len(figures.failed_changes)} failed); availability, P95 and error rate from
 Prometheus. Targets: the platform's objectives; DORA levels: the 2023 State of DevOps report
 (docs/kpis.md).</p>
<table><tr><th>KPI</th><th>value</th><th>target</th><th>pass/fail</th><th>DORA level</th></tr>
{rows}</table>
{bars}
{points}
</section>"""


def render_report(
    title: str,
    records: list[RolloutRecord],
    samples: list[Sample],
    delivery: KpiReport | None = None,
) -> str:
    sections = "\n".join(_rollout_section(record, samples) for record in records)
    if delivery is not None:
        sections += delivery_section(delivery)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #212529; max-width: 60rem; }}
table {{ border-collapse: collapse; margin-bottom: 1rem; font-size: 0.9rem; }}
td, th {{ border: 1px solid #dee2e6; padding: 0.25rem 0.5rem; text-align: left; }}
.title {{ font-weight: 600; font-size: 14px; }} .tick {{ font-size: 11px; fill: #495057; }}
.axis {{ stroke: #868e96; }} .limit {{ stroke: #e03131; stroke-dasharray: 4 4; }}
.mark {{ stroke: #adb5bd; stroke-dasharray: 2 3; }}
.pass, .Succeeded {{ color: #2b8a3e; }} .fail, .RolledBack, .Aborted {{ color: #c92a2a; }}
.inconclusive {{ color: #e67700; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC by flightdeck.</p>
{sections}
</body></html>
"""
