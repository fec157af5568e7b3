"""The threshold judge with a fake metrics provider: thresholds, comparisons and "no data"."""

from datetime import timedelta

import pytest

from flightdeck.rollout.analysis import Figures, Series, analyse, build_queries
from flightdeck.rollout.spec import Analysis

pytestmark = pytest.mark.unit

WINDOW = timedelta(seconds=60)


class FakeMetrics:
    """Answers each known query with a fixed value; unknown queries have no data (None)."""

    def __init__(self, canary: dict[str, float | None], stable: dict[str, float | None]) -> None:
        self.answers: dict[str, float | None] = {}
        for track, values, version in (("canary", canary, "2.0.0"), ("stable", stable, None)):
            queries = build_queries(track, version, WINDOW)
            for name, value in values.items():
                self.answers[queries[name]] = value
        self.asked: list[str] = []

    def query(self, expression: str) -> float | None:
        self.asked.append(expression)
        return self.answers.get(expression)


HEALTHY_CANARY: dict[str, float | None] = {
    "requests": 600,
    "error_rate": 0.001,
    "p95_seconds": 0.120,
    "memory_bytes": 100 * 2**20,
    "cpu_cores": 0.2,
}
HEALTHY_STABLE: dict[str, float | None] = {"error_rate": 0.001, "p95_seconds": 0.110}


def judge(
    canary: dict[str, float | None], stable: dict[str, float | None] | None = None
) -> dict[str, str]:
    metrics = FakeMetrics({**HEALTHY_CANARY, **canary}, {**HEALTHY_STABLE, **(stable or {})})
    verdict = analyse(
        metrics,
        Analysis(judge="threshold", interval=WINDOW),
        Series("canary", "2.0.0"),
        Series("stable"),
    )
    results = {check.name: check.result for check in verdict.checks}
    results["verdict"] = verdict.result
    return results


def test_a_healthy_canary_passes_every_check() -> None:
    results = judge({})
    assert results["verdict"] == "pass"
    assert set(results.values()) == {"pass"}
    assert len(results) == 8  # seven checks and the verdict


@pytest.mark.parametrize(
    ("canary", "stable", "failing"),
    [
        ({"error_rate": 0.06}, {"error_rate": 0.05}, "error_rate"),  # > 5 %
        ({"p95_seconds": 2.5}, {"p95_seconds": 2.4}, "p95_latency"),  # > 2 s
        ({"error_rate": 0.04}, {"error_rate": 0.005}, "error_rate_vs_baseline"),  # +3.5 points
        ({"p95_seconds": 0.400}, {"p95_seconds": 0.200}, "p95_vs_baseline"),  # 2x
        ({"memory_bytes": 600 * 2**20}, {}, "memory"),  # > 512 MiB
        ({"cpu_cores": 1.5}, {}, "cpu"),  # > 1 core
    ],
)
def test_each_trigger_fails_the_window(
    canary: dict[str, float], stable: dict[str, float], failing: str
) -> None:
    results = judge(canary, stable)
    assert results["verdict"] == "fail"
    assert results[failing] == "fail"
    assert [name for name, result in results.items() if result == "fail"] == [failing, "verdict"]


def test_thresholds_are_exclusive_limits() -> None:
    assert judge({"error_rate": 0.05}, {"error_rate": 0.03})["error_rate"] == "pass"
    assert judge({"p95_seconds": 0.3}, {"p95_seconds": 0.2})["p95_vs_baseline"] == "pass"  # 1.5x


def test_a_latency_ratio_under_the_floor_is_noise_not_a_failure() -> None:
    results = judge({"p95_seconds": 0.024}, {"p95_seconds": 0.006})  # 4x, but 24 ms
    assert results["p95_vs_baseline"] == "pass"
    assert results["verdict"] == "pass"


def test_too_few_canary_requests_is_inconclusive_and_nothing_else_is_asked() -> None:
    metrics = FakeMetrics({**HEALTHY_CANARY, "requests": 3}, HEALTHY_STABLE)
    verdict = analyse(
        metrics,
        Analysis(judge="threshold", interval=WINDOW, min_requests=20),
        Series("canary", "2.0.0"),
        Series("stable"),
    )
    assert verdict.result == "inconclusive"
    assert len(metrics.asked) == 1
    assert "need 20" in verdict.reason


@pytest.mark.parametrize("missing", ["requests", "error_rate", "p95_seconds", "memory_bytes"])
def test_no_data_is_never_read_as_zero(missing: str) -> None:
    results = judge({missing: None})
    assert results["verdict"] == "inconclusive"
    assert "fail" not in results.values()


def test_no_stable_data_makes_the_comparisons_inconclusive() -> None:
    results = judge({}, {"error_rate": None, "p95_seconds": None})
    assert results["error_rate_vs_baseline"] == "inconclusive"
    assert results["p95_vs_baseline"] == "inconclusive"
    assert results["verdict"] == "inconclusive"


def test_a_failure_outranks_missing_data() -> None:
    results = judge({"error_rate": 0.5, "memory_bytes": None})
    assert results["verdict"] == "fail"


def test_queries_select_the_canary_version_and_api_routes_only() -> None:
    queries = build_queries("canary", "2.0.0", timedelta(seconds=30))
    assert 'track="canary",version="2.0.0"' in queries["requests"]
    assert 'route=~"/api/.*"' in queries["error_rate"]
    assert "[30s]" in queries["p95_seconds"]
    assert "or vector(0)" in queries["error_rate"]  # no 5xx series yet means 0 errors, not no data


def test_a_baseline_measured_before_a_switch_is_compared_like_a_live_one() -> None:
    """Blue-green: after the switch the baseline is blue's figures from before it."""
    metrics = FakeMetrics({**HEALTHY_CANARY, "error_rate": 0.05}, {})
    verdict = analyse(
        metrics,
        Analysis(judge="threshold", interval=WINDOW),
        Series("canary", "2.0.0"),
        Figures(error_rate=0.001, p95_seconds=0.110),
    )
    results = {check.name: check.result for check in verdict.checks}
    assert results["error_rate_vs_baseline"] == "fail"  # +4.9 points
    assert not any("stable" in query for query in metrics.asked)
