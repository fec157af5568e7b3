"""Both canary judges side by side, on the same real local platform, in one run.

The platform (nginx, Prometheus scraping every 5 s, FerretDB, backend processes) runs in a
temporary directory on free ports. Real rollouts are driven tick by tick, as `flightdeck canary
watch` does (one tick a second), under real traffic through the ingress. Each scenario runs its
repetitions with the judges taking turns (threshold, sequential, threshold, ...), so that both
see the same machine. The spec is the same for both apart from `analysis.judge`.

  (a) a canary failing 20% of its requests at 10% weight, 50 req/s: time to weight 0
  (b) a subtle regression: canary 3% errors, stable 0.2%: caught, when, in which step
  (c) latency 1.5x at P95: stable answers in ~170 ms, the canary in ~260 ms
  (d) good canaries (both 0.2% errors): false rollbacks, and how long a promotion takes
  (e) 2 req/s in all: a good and a bad canary; no decision without the evidence for it
  (f) good canaries on a noisier service (both 2% errors): false rollbacks

    uv run --all-packages python benchmarks/analysis/run_benchmark.py \
        --runs 5 --good 30 --low 2 --json benchmarks/analysis/results.json

Results are printed as Markdown (and saved as JSON with --json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "lib"))

from flightdeck.core.loadgen import LoadGenerator
from flightdeck.core.tracks import TrackSpec
from flightdeck.engines.local import LocalPlatform, local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from testsupport.platform import benchmark_platform
from testsupport.traffic import Traffic

SCRAPE_SECONDS = 5
TICK_SECONDS = 1.0  # `flightdeck canary watch` ticks once a second
JUDGES = ("threshold", "sequential")
SPEC: dict[str, Any] = {
    "strategy": {"steps": [{"weight": 10, "hold": "30s"}, {"weight": 50, "hold": "15s"}]},
    "analysis": {
        "interval": "5s",
        "window": f"{4 * SCRAPE_SECONDS}s",
        "min_requests": 10,
        "inconclusive": {"policy": "pause", "limit": 12},
    },
    "smoke_tests": {"enabled": False},
}
GOOD_ERRORS = {"FAULT_ERROR_RATE": "0.002"}
NOISY_ERRORS = {"FAULT_ERROR_RATE": "0.02"}


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    stable_env: dict[str, str]
    canary_env: dict[str, str]
    rate: float = 50
    bad: bool = True


SCENARIOS = {
    "a": Scenario("a", "20% errors at 10% weight", {}, {"FAULT_ERROR_RATE": "0.2"}),
    "b": Scenario("b", "3% errors vs 0.2%", GOOD_ERRORS, {"FAULT_ERROR_RATE": "0.03"}),
    "c": Scenario(
        "c", "P95 1.5x (260 ms vs 170 ms)", {"FAULT_LATENCY_MS": "170"}, {"FAULT_LATENCY_MS": "260"}
    ),
    "d": Scenario("d", "good canary (0.2% errors)", GOOD_ERRORS, GOOD_ERRORS, bad=False),
    "e-good": Scenario("e-good", "2 req/s, good canary", GOOD_ERRORS, GOOD_ERRORS, 2, bad=False),
    "e-bad": Scenario("e-bad", "2 req/s, 20% errors", GOOD_ERRORS, {"FAULT_ERROR_RATE": "0.2"}, 2),
    "f": Scenario("f", "good canary, 2% errors as stable", NOISY_ERRORS, NOISY_ERRORS, bad=False),
}


@dataclass
class Outcome:
    scenario: str
    judge: str
    run: int
    phase: str
    """Succeeded, RolledBack, or Paused (the benchmark aborts a paused rollout)."""
    reason: str
    decided_after: float | None
    """Seconds from the canary taking traffic (10% applied) to its weight going to 0."""
    after_first_failure: float | None
    """Seconds from the first failed request the clients saw after the canary took traffic to
    the weight going to 0 (scenario a: stable fails nothing, so that request was the canary's)."""
    step: int
    canary_requests: float | None
    """Canary requests behind the last analysis (in its window, or since its step began)."""
    duration: float
    load: tuple[float, float, float] = field(default_factory=lambda: os.getloadavg())

    @property
    def caught(self) -> bool:
        return self.phase == "RolledBack" and self.reason.startswith("analysis failed")


def event_time(record: RolloutRecord, prefix: str) -> float | None:
    return next((e.at.timestamp() for e in record.events if e.message.startswith(prefix)), None)


def drive(controller: Controller, name: str, limit: float = 600) -> tuple[RolloutRecord, bool]:
    """Tick until the rollout ends; a paused one is aborted. True when it paused."""
    deadline = time.monotonic() + limit
    while True:
        record = controller.tick(name)
        if record.finished:
            return record, False
        if record.phase == "Paused" or time.monotonic() > deadline:
            controller.request(name, "abort")
            return controller.tick(name), True
        time.sleep(TICK_SECONDS)


def canary_requests(record: RolloutRecord) -> float | None:
    last = record.last_analysis
    if last is None:
        return None
    requests = next((c for c in last.checks if c["name"] == "requests"), None)
    return None if requests is None else requests.get("value")


def set_stable(platform: LocalPlatform, env: dict[str, str]) -> None:
    stable = platform.workloads.get("stable")
    assert stable is not None
    if stable.env != env:
        platform.workloads.apply(TrackSpec("stable", stable.version, stable.replicas, env))
        platform.workloads.wait_ready("stable", 120)
        time.sleep(2 * SCRAPE_SECONDS)  # the new processes scraped before the rollout starts


@contextlib.contextmanager
def traffic(platform: LocalPlatform, rate: float) -> Iterator[list[LoadGenerator]]:
    """`rate` requests/s in all, spread over enough clients for 260 ms answers."""
    clients = max(1, min(20, round(rate / 2.5)))
    with contextlib.ExitStack() as stack:
        generators = [
            stack.enter_context(Traffic(platform, rate=rate / clients)) for _ in range(clients)
        ]
        time.sleep(2 * SCRAPE_SECONDS)  # a baseline in Prometheus before the first rollout
        yield generators


def run_one(
    controller: Controller,
    platform: LocalPlatform,
    clients: list[LoadGenerator],
    scenario: Scenario,
    judge: str,
    run: int,
) -> Outcome:
    data = json.loads(json.dumps(SPEC))
    data["analysis"]["judge"] = judge
    spec = RolloutSpec.model_validate(data)
    set_stable(platform, scenario.stable_env)
    version = f"{scenario.key}-{judge[:3]}-{run}-{int(time.time())}"
    started = time.monotonic()
    record = controller.start(spec, version, dict(scenario.canary_env))
    record, paused = drive(controller, record.name)
    stepped, zero = event_time(record, "step 1/"), event_time(record, "weight 0")
    failed = [c.first_failure_since(stepped) for c in clients] if stepped is not None else []
    first_failure = min((moment for moment in failed if moment is not None), default=None)
    return Outcome(
        scenario=scenario.key,
        judge=judge,
        run=run,
        phase="Paused" if paused else record.phase,
        reason=record.reason or "",
        decided_after=None if stepped is None or zero is None or paused else zero - stepped,
        after_first_failure=None
        if first_failure is None or zero is None or paused
        else zero - first_failure,
        step=record.step,
        canary_requests=canary_requests(record),
        duration=time.monotonic() - started,
    )


def seconds(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s (n={len(values)})"


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| scenario | judge | outcomes | weight 0 after the canary took traffic "
        "| after the first failed request | canary requests at the end |"
    ]
    lines.append("|---|---|---|---|---|---|")
    for key, scenario in SCENARIOS.items():
        for judge in JUDGES:
            mine = [o for o in outcomes if o.scenario == key and o.judge == judge]
            if not mine:
                continue
            phases: dict[str, int] = {}
            for outcome in mine:
                label = outcome.phase + (" (analysis)" if outcome.caught else "")
                phases[label] = phases.get(label, 0) + 1
            shown = ", ".join(f"{count} {phase}" for phase, count in sorted(phases.items()))
            caught = [o for o in mine if o.caught]
            decided = [o.decided_after for o in caught if o.decided_after is not None]
            first = [o.after_first_failure for o in caught if o.after_first_failure is not None]
            requests = [o.canary_requests for o in mine if o.canary_requests is not None]
            lines.append(
                f"| {key}: {scenario.title} | {judge} | {shown} | {seconds(decided)} | "
                f"{seconds(first) if key == 'a' else '-'} | "
                f"{', '.join(f'{r:.0f}' for r in requests)} |"
            )
    return "\n".join(lines)


def main() -> None:
    # A TERM (or an INT to a background job, which ignores INT) still takes the platform down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="a,b,c,d,e", help="comma-separated: a,b,c,d,e,f")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of a, b, c per judge")
    parser.add_argument("--good", type=int, default=30, help="good canaries (d) per judge")
    parser.add_argument("--low", type=int, default=2, help="low-traffic canaries of each kind")
    parser.add_argument("--noisy", type=int, default=10, help="good canaries at 2%% errors (f)")
    parser.add_argument("--json", type=Path, help="also write every outcome here")
    args = parser.parse_args()
    wanted = args.scenarios.split(",")
    plan: list[tuple[str, int]] = [(key, args.runs) for key in ("a", "b", "c") if key in wanted]
    if "d" in wanted:
        plan.append(("d", args.good))
    if "e" in wanted:
        plan += [("e-good", args.low), ("e-bad", args.low)]
    if "f" in wanted:
        plan.append(("f", args.noisy))
    outcomes: list[Outcome] = []
    began, load_before = time.time(), os.getloadavg()
    with (
        tempfile.TemporaryDirectory() as directory,
        benchmark_platform(Path(directory), SCRAPE_SECONDS) as (platform, config),
    ):
        controller = Controller(local_target(config))
        for key, runs in plan:
            scenario = SCENARIOS[key]
            with traffic(platform, scenario.rate) as clients:
                for run in range(runs):
                    for judge in JUDGES:
                        outcome = run_one(controller, platform, clients, scenario, judge, run)
                        outcomes.append(outcome)
                        print(json.dumps(asdict(outcome)), flush=True)
    took = time.time() - began
    print(
        f"\n{len(outcomes)} rollouts in {took / 60:.0f} min on {os.cpu_count()} CPUs; "
        f"load average (1/5/15 min) {load_before} at the start, {os.getloadavg()} at the end\n"
    )
    print(table(outcomes))
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=1) + "\n")


if __name__ == "__main__":
    main()
