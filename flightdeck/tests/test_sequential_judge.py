"""The sequential judge on staged counts, alone and driving canary and blue-green rollouts.

The counts grow with a controllable clock (testsupport.rollout_rig.Metrics: steady flows, a
scrape every 5 s); the controller, its state store and its incident sink are real.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from flightdeck.rollout.analysis import Comparison, Figures, Series, Verdict, judge_for
from flightdeck.rollout.evidence import JudgeState
from flightdeck.rollout.exporter import rollout_registry, write_rollout_metrics
from flightdeck.rollout.spec import Analysis, RolloutSpec
from testsupport.rollout_rig import SPEC, Clock, Flow, Metrics, Rig, make_rig, run_for

pytestmark = pytest.mark.unit

SEQUENTIAL = Analysis(judge="sequential", interval=timedelta(seconds=30))
CANDIDATE, BASELINE = Series("canary", "2.0.0"), Series("stable")


def staged(candidate: Flow, baseline: Flow) -> tuple[Metrics, Clock]:
    clock = Clock()
    metrics = Metrics(SPEC, clock)
    metrics.flows = {"candidate": candidate, "baseline": baseline}
    return metrics, clock


class Run:
    """The judge evaluated at every scrape, as a strategy would, with its state carried."""

    def __init__(self, metrics: Metrics, clock: Clock, baseline: Series | Figures = BASELINE):
        self.metrics, self.clock, self.baseline = metrics, clock, baseline
        self.since = clock()
        self.state: JudgeState | None = None
        self.verdicts: list[Verdict] = []

    def until_decided(self, seconds: float, analysis: Analysis = SEQUENTIAL) -> Verdict:
        judge = judge_for(self.metrics, analysis)
        for _ in range(int(seconds)):
            self.clock.advance(1)
            comparison = Comparison(CANDIDATE, self.baseline, self.since, self.state)
            if judge.due(comparison, None, self.clock()):
                verdict = judge.judge(comparison, self.clock())
                self.state = verdict.state
                self.verdicts.append(verdict)
                if verdict.result != "inconclusive":
                    return verdict
        return self.verdicts[-1]

    @property
    def elapsed(self) -> float:
        return (self.clock() - self.since).total_seconds()


def checks(verdict: Verdict) -> dict[str, Any]:
    return {check.name: check for check in verdict.checks}


def test_no_requests_is_inconclusive_however_long_it_waits() -> None:
    run = Run(*staged(Flow(rate=0), Flow(rate=0)))
    verdict = run.until_decided(300)
    assert verdict.result == "inconclusive"
    assert {v.result for v in run.verdicts} == {"inconclusive"}
    assert checks(verdict)["requests"].result == "inconclusive"
    assert len(run.verdicts) == 60  # one evaluation per scrape, no more


def test_a_clear_failure_is_decided_within_a_few_scrapes_with_the_numbers_behind_it() -> None:
    run = Run(*staged(Flow(rate=5, error_share=0.2), Flow(rate=45)))
    verdict = run.until_decided(120)
    assert verdict.result == "fail"
    assert run.elapsed <= 15  # three scrapes: 15 requests, 3 of them failed
    compared = checks(verdict)["error_rate_vs_baseline"]
    assert compared.result == "fail"
    assert compared.evidence["worse"] >= compared.needed["worse"] == 200  # 1 / (1% / 2)
    assert compared.needed["not_worse"] == 40  # 1 / (5% / 2): passing rests on the miss rate
    assert compared.counts["candidate_errors"] >= 3
    assert compared.counts["baseline_errors"] == 0
    assert "evidence" in compared.detail
    assert compared.lower is not None
    assert compared.upper is not None


def test_a_good_candidate_passes_once_the_evidence_suffices_and_not_before() -> None:
    run = Run(*staged(Flow(rate=5), Flow(rate=45)))
    verdict = run.until_decided(300)
    assert verdict.result == "pass"
    assert 20 <= run.elapsed <= 90
    assert run.verdicts[0].result == "inconclusive"  # 5 requests prove nothing
    assert checks(verdict)["error_rate"].upper <= 0.05
    assert checks(verdict)["p95_vs_baseline"].detail.startswith("p95_vs_baseline: under the")


def test_the_absolute_limit_fails_a_candidate_even_without_a_baseline() -> None:
    run = Run(*staged(Flow(rate=5, error_share=0.4), Flow(rate=0)))
    verdict = run.until_decided(120)
    assert verdict.result == "fail"
    assert checks(verdict)["error_rate"].result == "fail"
    assert checks(verdict)["error_rate_vs_baseline"].result == "inconclusive"


def test_a_small_regression_within_the_margin_is_not_failed() -> None:
    analysis = SEQUENTIAL.model_copy(
        update={"sequential": SEQUENTIAL.sequential.model_copy(update={"error_rate_margin": 0.02})}
    )
    run = Run(*staged(Flow(rate=20, error_share=0.012), Flow(rate=20, error_share=0.002)))
    verdict = run.until_decided(600, analysis)
    assert verdict.result == "pass"  # 1 point worse: within the margin, and under the 3-point bar


def test_a_latency_regression_is_failed_and_a_fast_candidate_is_under_the_floor() -> None:
    slower = Run(*staged(Flow(rate=5, latency=0.4), Flow(rate=45, latency=0.2)))
    verdict = slower.until_decided(120)
    assert verdict.result == "fail"
    assert checks(verdict)["p95_vs_baseline"].result == "fail"
    assert checks(verdict)["p95_vs_baseline"].lower > 1.5

    too_slow = Run(*staged(Flow(rate=5, latency=3.0), Flow(rate=45, latency=3.0)))
    verdict = too_slow.until_decided(120)
    assert checks(verdict)["p95_latency"].result == "fail"
    assert checks(verdict)["p95_vs_baseline"].result != "fail"  # as slow as the baseline


def test_due_only_when_prometheus_has_a_newer_scrape() -> None:
    metrics, clock = staged(Flow(rate=5), Flow(rate=45))
    since = clock()
    judge = judge_for(metrics, SEQUENTIAL)
    comparison = Comparison(CANDIDATE, BASELINE, since)
    assert not judge.due(comparison, None, clock())  # nothing scraped since the step began
    clock.advance(5)
    assert judge.due(comparison, None, clock())
    state = judge.judge(comparison, clock()).state
    judged = Comparison(CANDIDATE, BASELINE, since, state)
    clock.advance(4)
    assert not judge.due(judged, None, clock())
    clock.advance(1)
    assert judge.due(judged, None, clock())


def test_evidence_belongs_to_its_step() -> None:
    metrics, clock = staged(Flow(rate=5, error_share=0.2), Flow(rate=45))
    run = Run(metrics, clock)
    run.until_decided(10)
    assert run.state is not None
    assert run.state.blocks >= 1
    clock.advance(5)
    later = Comparison(CANDIDATE, BASELINE, clock() - timedelta(seconds=5), run.state)
    fresh = judge_for(metrics, SEQUENTIAL).judge(later, clock()).state
    assert fresh is not None
    assert fresh.since == later.since
    assert fresh.blocks == 1


def test_against_figures_from_before_a_switch() -> None:
    metrics, clock = staged(Flow(rate=20, error_share=0.1), Flow(rate=0))
    before = Figures(0.001, 0.02, requests=3000, errors=3, buckets=Flow(rate=1).buckets(3000))
    run = Run(metrics, clock, before)
    verdict = run.until_decided(120)
    assert verdict.result == "fail"
    assert checks(verdict)["error_rate_vs_baseline"].result == "fail"
    assert "before the switch" in checks(verdict)["error_rate_vs_baseline"].detail

    good = Run(*staged(Flow(rate=20), Flow(rate=0)), before)
    assert good.until_decided(300).result == "pass"

    no_counts = Run(*staged(Flow(rate=20), Flow(rate=0)), Figures(0.0, 0.02))
    verdict = no_counts.until_decided(60)
    assert checks(verdict)["error_rate_vs_baseline"].result == "inconclusive"


def test_the_spec_names_a_bad_judge_and_a_missing_pass_bar() -> None:
    with pytest.raises(ValidationError, match="judge"):
        Analysis.model_validate({"judge": "bayesian"})
    with pytest.raises(ValidationError, match="max_error_rate_increase"):
        Analysis.model_validate(
            {"judge": "sequential", "thresholds": {"max_error_rate_increase": 0}}
        )
    with pytest.raises(ValidationError, match="false_alarm_rate"):
        Analysis.model_validate({"sequential": {"false_alarm_rate": 0.5}})


# -- driving rollouts ---------------------------------------------------------------------------
def sequential(spec: RolloutSpec = SPEC, **analysis: Any) -> RolloutSpec:
    data = spec.model_dump(mode="json")
    data["analysis"] |= {"judge": "sequential", **analysis}
    return RolloutSpec.model_validate(data)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def test_a_bad_canary_is_rolled_back_at_the_first_scrapes_that_prove_it(rig: Rig) -> None:
    controller, router, _, metrics, _, clock, _ = rig
    metrics.flows["candidate"] = Flow(rate=5, error_share=0.2)
    controller.start(sequential(), "2.0.0", {})
    controller.tick("backend")  # Initializing .. Progressing
    assert router.routing.canary_weight == 10
    phase = run_for(controller, clock, 30, step=1)
    assert phase == "RolledBack"
    record = controller.load("backend")
    assert record is not None
    assert "error_rate" in (record.reason or "")
    assert record.analyses[-1].result == "fail"
    decided = next(e.at for e in record.events if e.phase == "RollingBack")
    step = next(e.at for e in record.events if e.message.startswith("step 1/"))
    assert (decided - step).total_seconds() <= 15
    assert metrics.evaluations <= 3  # one per scrape, not one per tick


def test_a_good_canary_passes_every_step_on_evidence_and_is_promoted(rig: Rig) -> None:
    controller, router, *_, clock, _ = rig
    controller.start(sequential(), "2.0.0", {})
    assert run_for(controller, clock, 400, step=1) == "Succeeded"
    record = controller.load("backend")
    assert record is not None
    passes = [run for run in record.analyses if run.result == "pass"]
    assert [run.step for run in passes] == [0, 1]
    # Repeated evaluations with the same result are one entry with a count: a small record.
    assert len(record.analyses) <= 6
    assert max(run.repeats for run in record.analyses) > 1
    assert [routing.canary_weight for routing in router.history] == [0, 10, 50, 100, 0]


def test_the_canary_takes_traffic_only_once_prometheus_scrapes_it(rig: Rig) -> None:
    controller, router, _, metrics, _, clock, _ = rig
    metrics.candidate_scraped = False
    controller.start(sequential(), "2.0.0", {})
    assert run_for(controller, clock, 20, step=5) == "Initializing"
    assert router.history == []  # no pool, no weight: nothing would judge its requests
    metrics.candidate_scraped = True
    assert run_for(controller, clock, 5, step=5) == "Progressing"

    metrics.candidate_scraped = False
    controller.request("backend", "abort")
    controller.tick("backend")
    controller.start(sequential(), "2.0.0", {})
    assert run_for(controller, clock, 310, step=10) == "RolledBack"  # candidate_ready: 5m
    record = controller.load("backend")
    assert record is not None
    assert "Prometheus has not scraped the canary within 5m" in (record.reason or "")


def test_too_little_traffic_pauses_after_the_hold_and_its_allowance(rig: Rig) -> None:
    controller, router, _, metrics, _, clock, _ = rig
    metrics.flows["candidate"] = Flow(rate=0.1)
    controller.start(sequential(), "2.0.0", {})
    controller.tick("backend")
    # Hold 60 s, then 2 intervals of 30 s (inconclusive.limit x interval) to decide.
    assert run_for(controller, clock, 115, step=1) == "Progressing"
    assert run_for(controller, clock, 10, step=1) == "Paused"
    record = controller.load("backend")
    assert record is not None
    assert "no decision 1m after the hold" in record.events[-1].message
    assert max(routing.canary_weight for routing in router.history) == 10
    assert {run.result for run in record.analyses} == {"inconclusive"}


def test_the_metrics_and_the_view_show_the_numbers_behind_a_decision(rig: Rig) -> None:
    from flightdeck.cli.rollout import render
    from flightdeck.core import terminal

    controller, _, _, metrics, _, clock, _ = rig
    metrics.flows["candidate"] = Flow(rate=5, error_share=0.1)
    controller.start(sequential(), "2.0.0", {})
    controller.tick("backend")
    run_for(controller, clock, 6, step=1)  # not decided yet: the rollout is still running
    record = controller.load("backend")
    assert record is not None
    assert record.phase == "Progressing"
    directory = Path(controller.target.metrics_dir or "")
    write_rollout_metrics(record, directory, clock())
    text = (directory / "rollout-backend.prom").read_text()
    assert (
        'flightdeck_rollout_check_bound{bound="upper",check="error_rate",rollout="backend"}' in text
    )
    assert 'flightdeck_rollout_check_evidence{check="error_rate_vs_baseline",' in text
    assert (
        'flightdeck_rollout_check_count{check="error_rate_vs_baseline",count="candidate_errors"'
        in text
    )
    with terminal.stdout.capture() as captured:
        terminal.stdout.print(render(record, clock()))
    shown = captured.get()
    assert "evidence" in shown
    assert "errors" in shown


def test_the_numbers_of_several_rollouts_are_served_together(rig: Rig) -> None:
    """What `flightdeck metrics serve` computes from a state store: one family per metric."""
    from prometheus_client import generate_latest

    controller, _, _, metrics, _, clock, _ = rig
    metrics.flows["candidate"] = Flow(rate=5, error_share=0.1)
    controller.start(sequential(), "2.0.0", {})
    controller.tick("backend")
    run_for(controller, clock, 6, step=1)
    backend = controller.load("backend")
    assert backend is not None
    assert backend.last_analysis is not None
    api = backend.model_copy(update={"name": "api"})
    text = generate_latest(rollout_registry([backend, api], clock())).decode()
    for name in ("backend", "api"):
        assert (
            f'flightdeck_rollout_check_count{{check="error_rate_vs_baseline",'
            f'count="candidate_errors",rollout="{name}"}}' in text
        )
    assert text.count("# TYPE flightdeck_rollout_check_evidence gauge") == 1


def test_a_blue_green_monitor_switches_back_on_evidence_against_the_figures(rig: Rig) -> None:
    controller, router, workloads, metrics, _, clock, _ = rig
    spec = sequential(RolloutSpec.model_validate({"strategy": {"type": "bluegreen"}}))
    controller.start(spec, "2.0.0", {})
    controller.tick("backend")  # up to the switch
    record = controller.load("backend")
    assert record is not None
    assert record.phase == "Monitoring"
    assert record.baseline_figures is not None
    assert record.baseline_figures["requests"] > 0  # counts measured before the switch
    metrics.flows["candidate"] = Flow(rate=50, error_share=0.1)
    assert run_for(controller, clock, 60, step=1) == "RolledBack"
    record = controller.load("backend")
    assert record is not None
    assert "the monitor failed" in (record.reason or "")
    assert router.routing.active == "stable"
    assert "green" not in workloads.tracks


def bluegreen_sequential(**strategy: Any) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "strategy": {"type": "bluegreen", "monitor": "60s", **strategy},
            "analysis": {
                "judge": "sequential",
                "interval": "10s",
                "inconclusive": {"policy": "pause", "limit": 3},
            },
        }
    )


def test_a_blue_green_preview_is_judged_against_the_serving_colour(rig: Rig) -> None:
    controller, router, workloads, metrics, _, clock, _ = rig
    metrics.flows["candidate"] = Flow(rate=20, error_share=0.1)
    controller.start(bluegreen_sequential(pre_promotion_analysis="60s"), "2.0.0", {})
    assert run_for(controller, clock, 30, step=5) == "RolledBack"
    record = controller.load("backend")
    assert record is not None
    assert (record.reason or "").startswith("the preview analysis failed: error_rate")
    assert record.switched_at is None  # never switched
    assert router.routing.active == "stable"
    assert workloads.preview_loads  # the preview was under load while judged

    metrics.flows["candidate"] = Flow(rate=20)
    controller.start(bluegreen_sequential(pre_promotion_analysis="20s"), "2.0.0", {})
    assert run_for(controller, clock, 30, step=5) == "Monitoring"
    record = controller.load("backend")
    assert record is not None
    preview = [run for run in record.analyses if run.step == 0 and run.at > record.started_at]
    assert preview[-1].result == "pass"  # the switch came on evidence
    assert record.judge_state is None or record.judge_state.since == record.step_started_at


def test_a_good_blue_green_monitor_finishes_on_evidence(rig: Rig) -> None:
    controller, _, workloads, *_, clock, _ = rig
    controller.start(bluegreen_sequential(), "2.0.0", {})
    controller.tick("backend")
    assert run_for(controller, clock, 80, step=1) == "Succeeded"
    assert "stable" not in workloads.tracks


def test_a_blue_green_monitor_without_evidence_pauses_with_the_old_colour_up(rig: Rig) -> None:
    controller, _, workloads, metrics, _, clock, _ = rig
    metrics.flows["candidate"] = Flow(rate=0.05)  # almost nothing to judge after the switch
    controller.start(bluegreen_sequential(), "2.0.0", {})
    controller.tick("backend")
    # The 60 s monitor, then 3 x 10 s to decide: paused with the old colour still up.
    assert run_for(controller, clock, 85, step=1) == "Monitoring"
    assert run_for(controller, clock, 10, step=1) == "Paused"
    record = controller.load("backend")
    assert record is not None
    assert "no decision in the monitor 30s after its planned end" in record.events[-1].message
    assert "stable" in workloads.tracks
