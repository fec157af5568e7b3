"""Blue-green switch benchmark on a real local platform (nginx, Prometheus, FerretDB, backends).

Each run rolls out a good version (switched to, monitored, the old colour removed) and then a bad
one (+300 ms per request: switched to, then switched back by the monitor), under 200 requests/s
from four keep-alive clients, while a probe opens a new connection for every request. Measured:

1. failed requests during the switch and the switch back (and keep-alive requests resent because
   a reload closed their idle connection, which clients do on their own for GETs);
2. from the switch decision (the router call) until every new connection reaches the new colour;
3. from the bad version taking all traffic, and from the failed analysis, until traffic is back on
   the old colour (the switch back has returned).

    uv run --all-packages python benchmarks/bluegreen/run_benchmark.py --runs 5

The platform runs in a temporary directory on free ports; results are printed as Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "lib"))

from flightdeck.core.background import BackgroundThread
from flightdeck.engines.local import LocalPlatform, local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing, TrafficRouter
from testsupport.platform import benchmark_platform, trust_platform_ca
from testsupport.traffic import Traffic

SCRAPE_SECONDS = 1
RATE, CLIENTS = 200, 4
SPEC: dict[str, Any] = {
    "strategy": {"type": "bluegreen", "monitor": "8s"},
    "analysis": {
        "judge": "threshold",  # RESULTS.md measured the threshold judge
        "interval": "2s",
        "window": "4s",
        "min_requests": 5,
        "thresholds": {"p95_ratio_floor_seconds": 0.25},
    },
    "smoke_tests": {"enabled": True},
}


class TimedRouter:
    """The platform's router, remembering when each switch was asked for and when it returned."""

    def __init__(self, inner: TrafficRouter) -> None:
        self.inner = inner
        self.calls: list[tuple[float, float, Routing]] = []

    def apply(self, routing: Routing) -> None:
        started = time.time()
        self.inner.apply(routing)
        self.calls.append((started, time.time(), routing))

    def current(self) -> Routing:
        return self.inner.current()


class NewConnections(BackgroundThread):
    """GET /api/version on a new connection each time, as fast as it goes: (sent at, track)."""

    def __init__(self, platform: LocalPlatform) -> None:
        super().__init__()
        self.platform = platform
        self.answers: list[tuple[float, str]] = []
        self.lock = threading.Lock()

    def run(self) -> None:
        url = f"https://localhost:{self.platform.config.ports.https}/api/version"
        verify = trust_platform_ca(self.platform)
        while not self.stopping.is_set():
            sent = time.time()
            try:
                track = httpx.get(url, verify=verify, timeout=5).json()["track"]
            except (httpx.HTTPError, ValueError, KeyError):
                track = "error"
            with self.lock:
                self.answers.append((sent, track))


def reached_all(answers: list[tuple[float, str]], since: float, track: str) -> float:
    """Seconds after `since` from which every new connection answered from `track`."""
    later = [(sent, got) for sent, got in answers if sent >= since]
    last_other = max((sent for sent, got in later if got != track), default=since)
    return last_other - since


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    spec = RolloutSpec.model_validate(SPEC)
    rows: dict[str, list[float]] = {
        "to the new colour": [],
        "back to the old colour": [],
        "exposure": [],
        "decision to back": [],
    }
    failed = {"switch": 0, "switch back": 0}
    resent = 0
    total = 0
    with (
        tempfile.TemporaryDirectory() as directory,
        benchmark_platform(Path(directory), SCRAPE_SECONDS) as (platform, config),
    ):
        target = local_target(config)
        router = TimedRouter(target.router)
        target.router = router
        controller = Controller(target)
        for run in range(args.runs):
            for label, env in (("good", {}), ("bad", {"FAULT_LATENCY_MS": "300"})):
                router.calls.clear()
                with ExitStack() as stack:
                    load = [
                        stack.enter_context(Traffic(platform, rate=RATE / CLIENTS))
                        for _ in range(CLIENTS)
                    ]
                    probe = stack.enter_context(NewConnections(platform))
                    record = controller.start(spec, f"{label}-{run}", env)
                    record = controller.run(record.name, lambda _: None, poll=0.2)
                outcomes = [g.outcomes for g in load]
                bad = sum(
                    count
                    for counter in outcomes
                    for key, count in counter.items()
                    if not key.startswith("200 ")
                )
                total += sum(sum(counter.values()) for counter in outcomes)
                resent += sum(g.reconnects for g in load)
                report(record, router, probe, rows)
                failed["switch" if label == "good" else "switch back"] += bad
                print(f"{label} {run}: {record.phase}, failed requests {bad}", flush=True)
    print(f"\n| measure ({args.runs} runs, {RATE} requests/s) | result |\n|---|---|")
    print(f"| requests sent by the load | {total} |")
    print(f"| failed requests, good versions (switch) | {failed['switch']} |")
    print(f"| failed requests, bad versions (switch and switch back) | {failed['switch back']} |")
    print(f"| keep-alive requests resent after a reload closed their connection | {resent} |")
    for name, values in rows.items():
        if values:
            print(
                f"| {name} | median {statistics.median(values):.2f} s, "
                f"min {min(values):.2f} s, max {max(values):.2f} s |"
            )


def report(
    record: RolloutRecord, router: TimedRouter, probe: NewConnections, rows: dict[str, list[float]]
) -> None:
    switches = [(start, end, r) for start, end, r in router.calls if r.preview is None]
    new, old = record.candidate_track, record.baseline_track
    to_new = next((s for s in switches if s[2].active == new), None)
    back = next((s for s in switches if s[2].active == old and to_new and s[0] > to_new[0]), None)
    with probe.lock:
        answers = list(probe.answers)
    if to_new:
        until = back[0] if back else float("inf")
        before_back = [(sent, got) for sent, got in answers if sent < until]
        rows["to the new colour"].append(reached_all(before_back, to_new[0], new))
    if back and to_new:
        until_back = [(sent, got) for sent, got in answers if sent <= back[1] + 5]
        rows["back to the old colour"].append(reached_all(until_back, back[0], old))
        rows["exposure"].append(back[1] - to_new[1])
        failed_at = next(
            e.at.timestamp() for e in record.events if e.message.startswith("the monitor failed")
        )
        rows["decision to back"].append(back[1] - failed_at)


if __name__ == "__main__":
    main()
