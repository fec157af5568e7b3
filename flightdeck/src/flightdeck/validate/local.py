"""The local engine's probes: backend replicas as supervisord programs, their configured counts.

A replica is healthy when supervisord says RUNNING and its own `/health/ready` answers 200. Its
restarts are the exits supervisord's log records since the replica was last started on purpose
(`Supervisor.unplanned_exits`): a crash or a kill that autorestart repaired is still seen. A
process that never ended since its group was added (supervisord's `stop` time is 0) has none.

Scaling on one machine has no autoscaler: the active track must run the replicas that
flightdeck.yaml configures (`backend.replicas`), a canary the replicas its rollout started.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from flightdeck.core.tracks import Track
from flightdeck.local.components import http_ok
from flightdeck.local.context import LocalContext, Replica
from flightdeck.validate import ReplicaHealth, Restarts, TrackReplicas
from flightdeck.validate.report import Finding


def _processes(context: LocalContext) -> dict[str, dict[str, Any]]:
    return {info["name"]: info for info in context.supervisor.processes()}


class SupervisorReplicas:
    def __init__(self, context: LocalContext, timeout: float = 2.0) -> None:
        self.context = context
        self.timeout = timeout

    def replicas(self, track: Track) -> TrackReplicas:
        state = self.context.tracks.load().get(track)
        if state is None:
            return TrackReplicas(track, (), f"track {track} is not running (state/tracks.json)")
        processes = _processes(self.context)
        return TrackReplicas(
            track, tuple(self._replica(item, processes.get(item.name)) for item in state.replicas)
        )

    def _replica(self, replica: Replica, info: dict[str, Any] | None) -> ReplicaHealth:
        running = info is not None and info["statename"] == "RUNNING"
        if info is None:
            state = "not known to supervisord"
        elif running:
            since = time.strftime("%H:%M:%S", time.localtime(info["start"]))
            state = f"RUNNING pid {info['pid']} since {since}"
        else:
            state = f"{info['statename']}{': ' + info['spawnerr'] if info.get('spawnerr') else ''}"
        url = f"http://127.0.0.1:{replica.port}/health/ready"
        ready, answer = http_ok(url, self.timeout) if running else (False, "not asked")
        # `stop` is 0 while the process never ended since supervisord added its group: a replica
        # replaced on purpose does not inherit the exits of the one before it under that name.
        ended = info is not None and bool(info.get("stop"))
        exits = self.context.supervisor.unplanned_exits(replica.name) if ended else []
        last = exits[-1] if exits else None
        return ReplicaHealth(
            name=replica.name,
            running=running,
            ready=ready,
            detail=f"{state}, port {replica.port}, /health/ready: {answer}",
            restarts=Restarts(len(exits), last.at if last else None, last.detail if last else ""),
            scrape_labels={"instance": f"127.0.0.1:{replica.port}"},
        )


class ConfiguredReplicas:
    """The replica counts that should run, against the replicas running now."""

    def __init__(self, context: LocalContext) -> None:
        self.context = context

    def scaling(self, tracks: Sequence[Track]) -> list[Finding]:
        states = self.context.tracks.load()
        processes = _processes(self.context)
        findings = []
        for track in tracks:
            state = states.get(track)
            if track == "canary":
                wanted = state.spec.replicas if state else 0
                source = "the canary rollout"
            else:
                wanted = self.context.config.backend.replicas
                source = "flightdeck.yaml backend.replicas"
            defined = len(state.replicas) if state else 0
            running = sum(
                1
                for replica in (state.replicas if state else ())
                if processes.get(replica.name, {}).get("statename") == "RUNNING"
            )
            detail = f"{wanted} configured ({source}), {running} running"
            if defined != wanted:
                detail += f", {defined} defined in state/tracks.json"
                if track != "canary":
                    detail += " (the config changed since `flightdeck up`)"
            ok = 0 < wanted == defined == running
            findings.append(Finding(f"track {track}", ok, detail))
        return findings
