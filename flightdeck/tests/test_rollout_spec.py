"""The rollout spec: the document's defaults, durations, and errors that name the field."""

from datetime import timedelta
from pathlib import Path

import pytest

from flightdeck.core.errors import ConfigError
from flightdeck.rollout.spec import RolloutSpec, format_duration, load_rollout_spec

pytestmark = pytest.mark.unit


def test_defaults_are_the_documents_numbers() -> None:
    spec = load_rollout_spec(None)
    assert spec.strategy.type == "canary"
    assert [(step.weight, step.hold) for step in spec.canary.steps] == [
        (10, timedelta(minutes=15)),
        (25, timedelta(minutes=10)),
        (50, timedelta(minutes=15)),
    ]
    assert spec.analysis.judge == "sequential"  # benchmarks/analysis/RESULTS.md
    assert spec.analysis.interval == timedelta(minutes=1)
    limits = spec.analysis.thresholds
    assert limits.max_error_rate == 0.05
    assert limits.max_p95_seconds == 2.0
    assert limits.max_error_rate_increase == 0.03
    assert limits.max_p95_ratio == 1.5
    assert limits.max_memory_bytes == 512 * 2**20
    assert limits.max_cpu_cores == 1.0
    assert spec.smoke_tests.enabled


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("15m", 900), ("1h", 3600), (45, 45)]
)
def test_durations(text: str | int, seconds: float) -> None:
    spec = RolloutSpec.model_validate({"analysis": {"interval": text}})
    assert spec.analysis.interval.total_seconds() == seconds
    assert RolloutSpec.model_validate(spec.model_dump(mode="json")) == spec  # round trip


def test_format_duration() -> None:
    assert format_duration(timedelta(minutes=15)) == "15m"
    assert format_duration(timedelta(seconds=90)) == "90s"
    assert format_duration(timedelta(milliseconds=250)) == "250ms"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("analysis:\n  interval: soon\n", r"analysis\.interval"),
        ("analysis:\n  interval: -5s\n", r"analysis\.interval"),
        ("strategy:\n  steps:\n  - {weight: 150, hold: 1m}\n", r"steps\.0\.weight"),
        (
            "strategy:\n  steps:\n  - {weight: 50, hold: 1m}\n  - {weight: 10, hold: 1m}\n",
            "strictly increase",
        ),
        ("strategy:\n  steps: []\n", "steps"),
        ("strategy:\n  type: rolling\n", "strategy"),
        ("steps:\n  - {weight: 10, hold: 1m}\n", "moved under strategy"),
        ("strategy: {type: bluegreen, monitor: 5}\nanalysis: {interval: 0s}\n", "interval"),
        ("analysis:\n  thresholds:\n    max_error_rate: 2\n", r"thresholds\.max_error_rate"),
        ("analysis:\n  inconclusive:\n    policy: ignore\n", r"inconclusive\.policy"),
        ("notifications:\n  incidents: github\n", "github_repository"),
        ("smoke_test: {enabled: false}\n", "smoke_test"),
        ("name: Not_A_Name\n", "name"),
    ],
)
def test_bad_specs_name_the_field(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=field):
        load_rollout_spec(path)
