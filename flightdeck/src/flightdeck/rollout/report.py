"""A rollout report: one self-contained HTML page with charts of canary vs stable over time and
every decision with its reason. Charts are inline SVG, so the page needs nothing from the network.
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
from flightdeck.rollout.record import RolloutRecord

WIDTH, HEIGHT, PAD = 760, 220, 48
COLOURS = {"canary": "#d9480f", "stable": "#1c7ed6"}


@dataclass
class Sample:
    at: float  # seconds since the epoch
    values: dict[str, float | None]


class MetricsSampler(BackgroundThread):
    """Samples canary and stable error rate and P95 from Prometheus every `interval` seconds."""

    def __init__(self, provider: MetricsProvider, window_seconds: float, interval: float = 1.0):
        super().__init__()
        self.provider = provider
        self.interval = interval
        self.samples: list[Sample] = []
        window = timedelta(seconds=window_seconds)
        self._queries = {
            f"{track}_{name}": query
            for track in ("canary", "stable")
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


def _mark_label(message: str, phase: str) -> str:
    if message.startswith("step "):
        return message.split(": ")[1].split("%")[0] + "%"
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
) -> str:
    """An SVG line chart of canary vs stable for `metric` between start and end."""
    series: dict[str, list[tuple[float, float]]] = {}
    for track in ("canary", "stable"):
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
    for index, track in enumerate(("canary", "stable")):
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
    marks: list[tuple[float, str]] = []
    previous = None
    for event in record.events:
        entered = event.phase != previous and event.phase in ("RolledBack", "Succeeded", "Aborted")
        if entered or event.message.startswith(("step ", "analysis failed")):
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
    )
    latency_chart = _chart(
        "P95 latency", samples, "p95_seconds", 1000, "ms", start, end, limits.max_p95_seconds, marks
    )
    return f"""
<section>
<h2>{html.escape(record.baseline_version)} &rarr; {html.escape(record.version)}
  <span class="{record.phase}">{html.escape(outcome)}</span></h2>
<p>Environment of the canary: <code>{html.escape(str(record.env or "none"))}</code>;
 duration {end - start:.0f}s.</p>
{error_chart}
{latency_chart}
<h3>Analyses</h3>
<table><tr><th>time</th><th>weight</th><th>result</th><th>checks</th></tr>{analyses}</table>
<h3>Decisions</h3>
<table><tr><th>time</th><th>phase</th><th>what and why</th></tr>{decisions}</table>
</section>"""


def render_report(title: str, records: list[RolloutRecord], samples: list[Sample]) -> str:
    sections = "\n".join(_rollout_section(record, samples) for record in records)
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
