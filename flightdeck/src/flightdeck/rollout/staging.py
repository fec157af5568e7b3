"""Staging on a running platform: the new version where no user is, checked, then removed.

The architecture's stage 4 deploys to a staging namespace, runs smoke tests and health checks.
On one platform (the local engine) staging is the colour that does not serve, at one replica,
shown only on the preview route (which takes no user traffic): its replicas must become ready,
pass the smoke tests through the preview route, and be scraped by Prometheus (the production
monitor judges the new version by those metrics, so a version whose metrics are missing would
only be found out after the switch). Whatever happens, the staging colour is removed and the
routing put back as it was before the stage returns: staging never changes what users reach.

The controller lock of the production rollout is held for the whole stage, so that no rollout
starts (or ticks) on the tracks staging uses meanwhile.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flightdeck.core.errors import ConfigError, FlightdeckError
from flightdeck.core.tracks import Colour, ServingTrack, TrackSpec
from flightdeck.rollout.smoke import SmokeResult
from flightdeck.rollout.target import Target
from flightdeck.routers import Routing

SCRAPE_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class StagingResult:
    track: str
    version: str
    smoke: list[SmokeResult]
    problems: list[str]
    """Failed checks, each a sentence; empty when the version passed."""

    @property
    def passed(self) -> bool:
        return not self.problems


def stage_version(
    target: Target,
    version: str,
    env: dict[str, str],
    *,
    lock_name: str,
    ready_timeout: float,
    smoke_timeout: float,
) -> StagingResult:
    """Deploy `version` on the colour that does not serve, check it, remove it (see above)."""
    with target.state.lock(lock_name):
        before = target.router.current()
        if before.canary_active or before.preview is not None:
            raise ConfigError(
                "a rollout is in progress (a canary or a preview is live): finish or abort it "
                "before staging a new version"
            )
        colour: Colour = "blue" if before.active == "green" else "green"
        running = target.workloads.get(colour)
        if running is not None:
            raise ConfigError(
                f"the {colour} track already runs {running.version}: a rollout is in progress"
            )
        try:
            return _check(target, before.active, colour, version, env, ready_timeout, smoke_timeout)
        finally:
            target.router.apply(Routing(before.active))
            target.workloads.remove(colour)


def _check(
    target: Target,
    serving: ServingTrack,
    colour: Colour,
    version: str,
    env: dict[str, str],
    ready_timeout: float,
    smoke_timeout: float,
) -> StagingResult:
    problems: list[str] = []
    smoke: list[SmokeResult] = []
    target.workloads.apply(TrackSpec(colour, version, 1, env))
    try:
        target.workloads.wait_ready(colour, ready_timeout)
    except FlightdeckError as exc:
        return StagingResult(colour, version, smoke, [f"{colour} did not become ready: {exc}"])
    target.router.apply(Routing(serving, preview=colour))
    smoke = target.smoke(colour, version, smoke_timeout)
    problems += [f"smoke test {r.name} failed: {r.detail}" for r in smoke if not r.ok]
    if not problems and not target.workloads.ready(colour):
        problems.append(f"{colour} is not ready after the smoke tests (crashed?)")
    if not problems:
        problems += _scraped(target, colour, version, ready_timeout)
    return StagingResult(colour, version, smoke, problems)


def _scraped(target: Target, colour: Colour, version: str, timeout: float) -> list[str]:
    """Prometheus scrapes every replica of the staging track (waits up to `timeout`)."""
    expression = f'count(up{{job="backend",track="{colour}",version="{version}"}} == 1)'
    deadline = time.monotonic() + timeout
    while True:
        found = target.metrics.query(expression)
        if found is not None and found >= 1:
            return []
        if time.monotonic() >= deadline:
            return [
                f"Prometheus does not scrape {version} on {colour} after {timeout:.0f} s "
                f"({expression} is {'no data' if found is None else found})"
            ]
        time.sleep(SCRAPE_POLL_SECONDS)
