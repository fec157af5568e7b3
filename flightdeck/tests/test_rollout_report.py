"""The HTML report: charts of canary vs stable, every decision, and escaping."""

from datetime import UTC, datetime, timedelta

import pytest

from flightdeck.history import HistoryEntry
from flightdeck.rollout.kpi import kpi_report
from flightdeck.rollout.record import AnalysisRun, Event, RolloutRecord
from flightdeck.rollout.report import Sample, render_report
from flightdeck.rollout.spec import RolloutSpec

pytestmark = pytest.mark.unit

START = datetime(2026, 1, 1, tzinfo=UTC)


def record() -> RolloutRecord:
    def at(seconds: int) -> datetime:
        return START + timedelta(seconds=seconds)

    return RolloutRecord(
        name="backend",
        version="2.0.0",
        spec=RolloutSpec(),
        baseline_version="1.0.0",
        baseline_replicas=2,
        phase="RolledBack",
        started_at=at(0),
        finished_at=at(30),
        reason="analysis failed at 10%: error_rate 40.00% (limit 5.00%)",
        analyses=[
            AnalysisRun(
                at=at(20),
                step=0,
                weight=10,
                result="fail",
                checks=[{"name": "error_rate", "result": "fail", "value": 0.4, "threshold": 0.05}],
            )
        ],
        events=[
            Event(at=at(5), phase="Progressing", message="step 1/3: 10% of traffic on the canary"),
            Event(at=at(20), phase="RollingBack", message="analysis failed at 10%: error_rate"),
            Event(at=at(21), phase="RolledBack", message="canary removed <script>; stable healthy"),
        ],
    )


def samples() -> list[Sample]:
    base = START.timestamp()
    return [
        Sample(
            base + t,
            {
                "canary_error_rate": 0.4 if t > 10 else None,
                "stable_error_rate": 0.0,
                "canary_p95_seconds": 0.02,
                "stable_p95_seconds": 0.01,
            },
        )
        for t in range(0, 31, 2)
    ]


def test_the_report_has_both_charts_with_both_lines_and_every_decision() -> None:
    page = render_report("demo", [record()], samples())
    assert page.count("<svg") == 2
    assert page.count("<polyline") == 4
    assert page.count('class="limit"') == 1  # 5% is near 40%; 2 s is far above 20 ms
    assert ">10%</text>" in page  # the step marker
    assert ">rolled back</text>" in page
    assert "analysis failed at 10%" in page
    assert "error_rate: fail" in page


def test_missing_samples_are_gaps_not_zeros() -> None:
    page = render_report("demo", [record()], samples())
    canary_error_line = page.split('stroke="#d9480f"')[0].rsplit('<polyline points="', 1)[1]
    points = canary_error_line.split('"')[0].split()
    assert len(points) == 10  # only the samples with data (t = 12..30)


def test_text_is_escaped() -> None:
    page = render_report("<b>demo</b>", [record()], samples())
    assert "<script>" not in page
    assert "canary removed &lt;script&gt;" in page
    assert "&lt;b&gt;demo&lt;/b&gt;" in page


def test_a_chart_of_zeros_shows_its_limit_for_scale() -> None:
    quiet = [
        Sample(s.at, {**s.values, "canary_error_rate": 0.0, "stable_error_rate": 0.0})
        for s in samples()
    ]
    page = render_report("demo", [record()], quiet)
    error_chart = page.split("<svg")[1]
    assert 'class="limit"' in error_chart
    assert ">5.8%</text>" in error_chart  # the top of the scale: the 5% limit plus headroom


def test_a_sequential_decision_shows_the_numbers_behind_it() -> None:
    decided = record()
    decided.analyses[0].repeats = 3
    decided.analyses[0].checks = [
        {
            "name": "error_rate_vs_baseline",
            "result": "fail",
            "value": 0.2,
            "threshold": 0.0,
            "lower": 0.012,
            "upper": 0.71,
            "evidence": {"worse": 512.0, "not_worse": 0.4},
            "needed": {"worse": 200.0, "not_worse": 40.0},
            "counts": {
                "candidate_errors": 3,
                "candidate_requests": 15,
                "baseline_errors": 0,
                "baseline_requests": 140,
            },
        }
    ]
    page = render_report("demo", [decided], samples())
    assert "error_rate_vs_baseline: fail (0.2; [0.012, 0.71]; errors 3/15 vs 0/140;" in page
    assert "evidence worse 512 of 200, not_worse 0.4 of 40" in page
    assert "(3 in a row)" in page


def test_the_delivery_section_has_every_kpi_and_its_trends() -> None:
    def entry(key: str, kind: str, seconds: int, **fields: object) -> HistoryEntry:
        return HistoryEntry.model_validate(
            {
                "id": f"rollout:{key}:{kind}",
                "kind": kind,
                "at": START + timedelta(seconds=seconds),
                "rollout": key,
                "version": "2.0.0" if key == "a" else "2.1.0",
                **fields,
            }
        )

    history = [
        entry("a", "rollout.started", 0),
        entry("a", "rollout.traffic", 10),
        entry("a", "promotion", 600),
        entry("b", "rollout.started", 1200),
        entry("b", "rollout.traffic", 1210),
        entry("b", "rollback.decided", 1270, reason="<script>p95</script>"),
        entry("b", "rollback.restored", 1271),
    ]
    report = kpi_report(history, None, START, START + timedelta(hours=1))
    page = render_report("demo", [record()], samples(), report)
    section = page.split("<h2>Delivery KPIs")[1]
    for result in report.results:
        assert result.kpi.label in section
    assert "50.00%" in section  # one failed change of two
    assert section.count("<svg") == 2
    assert section.count("<rect") >= 2 + 2  # two legend squares, a deployment and a failure
    assert section.count("<circle") == 3  # detect, restore and rollback of the failed change
    assert "<script>" not in page
    assert ">FAIL<" in section
    assert ">no data<" in section  # no Prometheus, no commit time
