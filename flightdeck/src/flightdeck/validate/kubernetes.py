"""The kubernetes engine's probes: the chart's backend pods and the release's autoscalers.

A pod is healthy when its phase is Running with every container running, its Ready condition is
True, and no container restarted within the window: `restartCount` says how often, the
container's `lastState.terminated.finishedAt` when it last did. A restart whose time the API does
not give is a failure, not a pass.

Scaling: every HorizontalPodAutoscaler of the release (label `app.kubernetes.io/instance`) or of a
serving Deployment must have `ScalingActive` true (false with `FailedGetResourceMetric` when the
metrics API gives nothing), a current value for each of its metrics, and `currentReplicas`
within min/max. A serving Deployment without an autoscaler must have all its replicas ready.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flightdeck.core.errors import PermanentError
from flightdeck.core.tracks import Track
from flightdeck.kubernetes.api import DEPLOYMENT, HPA, KubeApi, Obj
from flightdeck.validate import ReplicaHealth, Restarts, TrackReplicas
from flightdeck.validate.report import Finding
from flightdeck.workloads.deployments import DeploymentWorkloads, rollout_waiting_for

RELEASE_LABEL = "app.kubernetes.io/instance"


def _timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def pod_restarts(container_statuses: list[Obj]) -> Restarts:
    """All containers' restarts; the last one's time and reason from `lastState.terminated`."""
    count = sum(int(status.get("restartCount") or 0) for status in container_statuses)
    if count == 0:
        return Restarts()
    last_at: datetime | None = None
    reason = ""
    for status in container_statuses:
        if not status.get("restartCount"):
            continue
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        if not terminated.get("finishedAt"):
            return Restarts(count, None, f"container {status.get('name')}: no lastState")
        at = _timestamp(terminated["finishedAt"])
        if last_at is None or at > last_at:
            last_at = at
            reason = (
                f"container {status.get('name')}: {terminated.get('reason') or 'terminated'}, "
                f"exit code {terminated.get('exitCode')}"
            )
    return Restarts(count, last_at, reason)


def pod_health(pod: Obj) -> ReplicaHealth:
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    phase = status.get("phase") or "Unknown"
    containers: list[Obj] = status.get("containerStatuses") or []
    running = (
        phase == "Running"
        and bool(containers)
        and all("running" in (container.get("state") or {}) for container in containers)
    )
    conditions = {item.get("type"): item for item in status.get("conditions") or []}
    ready_condition = conditions.get("Ready") or {}
    ready = ready_condition.get("status") == "True"
    parts = [f"phase {phase}"]
    if node := (pod.get("spec") or {}).get("nodeName"):
        parts.append(f"node {node}")
    for container in containers:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            parts.append(f"container {container.get('name')} waiting: {waiting.get('reason')}")
    if not ready:
        why = ready_condition.get("reason") or ready_condition.get("message")
        shown = f"Ready {ready_condition.get('status', 'unknown')}"
        parts.append(f"{shown}: {why}" if why else shown)
    return ReplicaHealth(
        name=name,
        running=running,
        ready=ready,
        detail=", ".join(parts),
        restarts=pod_restarts(containers),
        scrape_labels={"pod": name},
    )


class PodReplicas:
    """The pods of a track's Deployment, of its current image, that are not being deleted."""

    def __init__(self, api: KubeApi, workloads: DeploymentWorkloads) -> None:
        self.api = api
        self.workloads = workloads

    def replicas(self, track: Track) -> TrackReplicas:
        name = self.workloads.deployment_name(track)
        deployment = self.api.get(DEPLOYMENT, name)
        if deployment is None:
            return TrackReplicas(track, (), f"deployment {name} not found")
        if int((deployment.get("spec") or {}).get("replicas", 1)) == 0:
            return TrackReplicas(track, (), f"deployment {name} is scaled to 0")
        try:
            waiting = rollout_waiting_for(deployment)
        except PermanentError as exc:
            waiting = str(exc)
        pods = [
            pod
            for pod in self.workloads.current_pods(deployment)
            if not pod["metadata"].get("deletionTimestamp")
        ]
        pods.sort(key=lambda pod: str(pod["metadata"]["name"]))
        return TrackReplicas(track, tuple(pod_health(pod) for pod in pods), waiting)


def _metric_value(metric: Obj) -> tuple[str, str] | None:
    """(name, current value) of one `status.currentMetrics` entry, None when it has no value."""
    kind = str(metric.get("type") or "")
    body: dict[str, Any] = metric.get(kind[:1].lower() + kind[1:]) or {}
    name = body.get("name") or (body.get("metric") or {}).get("name") or kind
    current = body.get("current") or {}
    if current.get("averageUtilization") is not None:
        return name, f"{current['averageUtilization']}%"
    value = current.get("averageValue") or current.get("value")
    return (name, str(value)) if value is not None else None


def hpa_finding(hpa: Obj) -> Finding:
    """Whether one autoscaler works: ScalingActive, its metrics available, replicas in range."""
    name = hpa["metadata"]["name"]
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    lowest, highest = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 0)
    target = spec.get("scaleTargetRef") or {}
    conditions = {item.get("type"): item for item in status.get("conditions") or []}
    problems = []
    active = conditions.get("ScalingActive")
    if active is None:
        problems.append("no ScalingActive condition: the HPA controller has not evaluated it")
    elif active.get("status") != "True":
        problems.append(
            f"ScalingActive is {active.get('status')}: {active.get('reason')}: "
            f"{active.get('message', '')}".rstrip(": ")
        )
    able = conditions.get("AbleToScale")
    if able is not None and able.get("status") == "False":
        problems.append(f"AbleToScale is False: {able.get('reason')}: {able.get('message', '')}")
    metrics: list[Obj] = status.get("currentMetrics") or []
    values = [value for metric in metrics if (value := _metric_value(metric))]
    wanted = len(spec.get("metrics") or [])
    if not values:
        problems.append("no metric has a current value in status.currentMetrics")
    elif len(values) < wanted:
        problems.append(f"only {len(values)} of its {wanted} metrics have a current value")
    current = status.get("currentReplicas")
    if current is None:
        problems.append("no status.currentReplicas")
    elif not lowest <= int(current) <= highest:
        problems.append(f"{current} replicas, outside min {lowest} and max {highest}")
    detail = (
        f"{str(target.get('kind', '')).lower()} {target.get('name')}: "
        f"{current if current is not None else '?'} replicas (min {lowest}, max {highest})"
    )
    if values:
        detail += "; " + ", ".join(f"{metric} {value}" for metric, value in values)
    if problems:
        return Finding(f"hpa {name}", False, f"{'; '.join(problems)} ({detail})")
    return Finding(f"hpa {name}", True, f"ScalingActive, {detail}")


def deployment_replicas_finding(name: str, deployment: Obj | None) -> Finding:
    """A Deployment that no autoscaler scales: every replica it wants is ready."""
    subject = f"deployment {name}"
    if deployment is None:
        return Finding(subject, False, "not found")
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    detail = f"no autoscaler: {ready} of {wanted} replicas ready"
    return Finding(subject, 0 < wanted == ready, detail)


class HpaScaling:
    def __init__(self, api: KubeApi, workloads: DeploymentWorkloads, release: str) -> None:
        self.api = api
        self.workloads = workloads
        self.release = release

    def scaling(self, tracks: Sequence[Track]) -> list[Finding]:
        serving = [self.workloads.deployment_name(track) for track in tracks]
        hpas = sorted(self.api.list(HPA, {}), key=lambda hpa: str(hpa["metadata"]["name"]))

        def scaled(hpa: Obj) -> str | None:
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            return str(ref["name"]) if ref.get("kind") == "Deployment" else None

        autoscaled = {scaled(hpa) for hpa in hpas}
        findings = [
            deployment_replicas_finding(name, self.api.get(DEPLOYMENT, name))
            for name in serving
            if name not in autoscaled
        ]
        findings += [
            hpa_finding(hpa)
            for hpa in hpas
            if (hpa["metadata"].get("labels") or {}).get(RELEASE_LABEL) == self.release
            or scaled(hpa) in serving
        ]
        return findings
