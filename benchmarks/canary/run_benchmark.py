"""Canary detection benchmark on a real local platform (nginx, Prometheus, FerretDB, backends).

1. Time to rollback: a canary failing 20% of its requests at 10% weight, 50 req/s of traffic,
   Prometheus scraping every 5 s: seconds from the canary taking traffic (the 10% step applied)
   to its weight being 0 (the rollback's first action), over --bad runs.
2. False rollbacks: --good healthy canaries under the same traffic; how many were rolled back.

    uv run --all-packages python benchmarks/canary/run_benchmark.py --bad 5 --good 20

The platform runs in a temporary directory on free ports; results are printed as Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "lib"))

from flightdeck.engines.local import local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from testsupport.platform import benchmark_platform
from testsupport.traffic import Traffic

SCRAPE_SECONDS = 5
RATE = 50
SPEC: dict[str, Any] = {
    "strategy": {"steps": [{"weight": 10, "hold": "30s"}, {"weight": 50, "hold": "10s"}]},
    "analysis": {
        "judge": "threshold",  # RESULTS.md measured the threshold judge
        "interval": "5s",
        "window": f"{4 * SCRAPE_SECONDS}s",
        "min_requests": 10,
        "inconclusive": {"policy": "rollback", "limit": 8},
    },
    "smoke_tests": {"enabled": False},
}


def event_time(record: RolloutRecord, prefix: str) -> float:
    return next(e.at.timestamp() for e in record.events if e.message.startswith(prefix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bad", type=int, default=5)
    parser.add_argument("--good", type=int, default=20)
    args = parser.parse_args()
    spec = RolloutSpec.model_validate(SPEC)
    with (
        tempfile.TemporaryDirectory() as directory,
        benchmark_platform(Path(directory), SCRAPE_SECONDS) as (platform, config),
    ):
        controller = Controller(local_target(config))
        detection: list[float] = []
        outcomes: list[str] = []
        with Traffic(platform, rate=RATE):
            for run in range(args.bad):
                record = controller.start(spec, f"bad-{run}", {"FAULT_ERROR_RATE": "0.2"})
                record = controller.run(record.name, lambda _: None, poll=0.2)
                took = event_time(record, "weight 0") - event_time(record, "step 1/")
                detection.append(took)
                print(f"bad canary {run}: {record.phase} after {took:.1f}s", flush=True)
            for run in range(args.good):
                record = controller.start(spec, f"good-{run}", {})
                record = controller.run(record.name, lambda _: None, poll=0.2)
                outcomes.append(record.phase)
                print(f"good canary {run}: {record.phase} {record.reason or ''}", flush=True)
    false_rollbacks = sum(phase != "Succeeded" for phase in outcomes)
    print("\n| measure | result |\n|---|---|")
    if detection:
        print(
            f"| time to weight 0, {len(detection)} canaries failing 20% | median "
            f"{statistics.median(detection):.1f} s, min {min(detection):.1f} s, "
            f"max {max(detection):.1f} s |"
        )
    print(f"| false rollbacks over {len(outcomes)} good canaries | {false_rollbacks} |")


if __name__ == "__main__":
    main()
