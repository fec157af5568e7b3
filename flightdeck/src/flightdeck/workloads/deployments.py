"""Workloads on the chart's backend Deployments: set the image, scale, wait like `kubectl rollout`.

The chart creates one Deployment per track (`<fullname>-backend` for stable, `-backend-canary`,
`-backend-blue`, `-backend-green`); flightdeck never creates or deletes them, it re-images and
scales them. A track at 0 replicas is an absent track.

`apply` sets the image `<repository>:<version>`, APP_VERSION and the pod label
`flightdeck.io/image-tag`, the replicas (unless an HPA scales that Deployment) and the
environment overrides. The overrides are remembered in the annotation `flightdeck.io/env-overrides`,
and the chart's own entries that they shadow in `flightdeck.io/env-replaced`, so that the next
apply takes away what the previous one added (a canary's FAULT_ERROR_RATE does not outlive it).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import (
    DEPLOYMENT,
    HPA,
    POD,
    KubeApi,
    Obj,
    with_conflict_retries,
)
from flightdeck.workloads import Track, TrackSpec

CONTAINER = "backend"
IMAGE_TAG_LABEL = "flightdeck.io/image-tag"
OVERRIDES = "flightdeck.io/env-overrides"
REPLACED = "flightdeck.io/env-replaced"
CHART_FLAG: dict[Track, str] = {
    "stable": "blueGreen.enabled=false",
    "canary": "canary.enabled=true",
    "blue": "blueGreen.enabled=true",
    "green": "blueGreen.enabled=true",
}


def image_tag_label(version: str) -> str:
    """The version as a label value, as the chart writes it (`@` and `:` become `_`)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "_", version)[:63]
    return value.strip("_.-")


def repository(image: str) -> str:
    """The image without its tag or digest."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return name


def rollout_waiting_for(deployment: Obj) -> str | None:
    """Why `kubectl rollout status` would still wait, or None when the rollout is complete.

    Raises PermanentError when the Deployment controller gave up (progress deadline exceeded).
    """
    metadata, spec = deployment["metadata"], deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = metadata["name"]
    if metadata.get("generation", 0) > status.get("observedGeneration", 0):
        return f"deployment {name}: waiting for the controller to observe the new spec"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            raise PermanentError(
                f"deployment {name} exceeded its progress deadline: {condition.get('message', '')}"
            )
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < wanted:
        return f"deployment {name}: {updated} of {wanted} replicas updated"
    if status.get("replicas", 0) > updated:
        old = status.get("replicas", 0) - updated
        return f"deployment {name}: {old} old replicas are pending termination"
    if status.get("availableReplicas", 0) < updated:
        available = status.get("availableReplicas", 0)
        return f"deployment {name}: {available} of {updated} updated replicas are available"
    return None


def _container(deployment: Obj) -> Obj:
    containers: list[Obj] = deployment["spec"]["template"]["spec"]["containers"]
    for container in containers:
        if container.get("name") == CONTAINER:
            return container
    return containers[0]


class DeploymentWorkloads:
    def __init__(self, api: KubeApi, fullname: str, poll_seconds: float = 1.0) -> None:
        self.api = api
        self.fullname = fullname
        self.poll_seconds = poll_seconds

    def deployment_name(self, track: Track) -> str:
        suffix = "" if track == "stable" else f"-{track}"
        return f"{self.fullname}-backend{suffix}"

    def _require(self, track: Track) -> Obj:
        return self.api.require(
            DEPLOYMENT,
            self.deployment_name(track),
            f"is the chart installed with {CHART_FLAG[track]}?",
        )

    # -- Workloads ----------------------------------------------------------------------------
    def get(self, track: Track) -> TrackSpec | None:
        deployment = self.api.get(DEPLOYMENT, self.deployment_name(track))
        if deployment is None:
            return None
        replicas = int(deployment["spec"].get("replicas", 1))
        if replicas == 0:
            return None
        container = _container(deployment)
        env = {item["name"]: item.get("value") for item in container.get("env") or []}
        version = env.get("APP_VERSION") or container["image"].rsplit(":", 1)[-1]
        annotations = deployment["metadata"].get("annotations") or {}
        overrides: dict[str, str] = json.loads(annotations.get(OVERRIDES) or "{}")
        return TrackSpec(track, str(version), replicas, overrides)

    def apply(self, spec: TrackSpec) -> None:
        name = self.deployment_name(spec.track)
        with_conflict_retries(lambda: self._apply(spec), f"deployment {name}")

    def _apply(self, spec: TrackSpec) -> None:
        deployment = self._require(spec.track)
        metadata = deployment["metadata"]
        annotations = metadata.get("annotations") or {}
        containers: list[Obj] = deployment["spec"]["template"]["spec"]["containers"]
        container = _container(deployment)
        container["image"] = f"{repository(container['image'])}:{spec.version}"
        env, replaced = self._env(container.get("env") or [], annotations, spec)
        container["env"] = env
        patch_spec: dict[str, Any] = {
            "template": {
                "metadata": {"labels": {IMAGE_TAG_LABEL: image_tag_label(spec.version)}},
                "spec": {"containers": containers},
            }
        }
        if not self._autoscaled(metadata["name"]):
            patch_spec["replicas"] = spec.replicas
        self.api.patch(
            DEPLOYMENT,
            metadata["name"],
            {
                "metadata": {
                    "resourceVersion": metadata["resourceVersion"],
                    "annotations": {
                        OVERRIDES: json.dumps(dict(spec.env), sort_keys=True),
                        REPLACED: json.dumps(replaced),
                    },
                },
                "spec": patch_spec,
            },
        )

    @staticmethod
    def _env(
        current: list[Obj], annotations: dict[str, str], spec: TrackSpec
    ) -> tuple[list[Obj], list[Obj]]:
        """The container's new env, and the chart's entries the new overrides shadow."""
        previous: dict[str, str] = json.loads(annotations.get(OVERRIDES) or "{}")
        restored: list[Obj] = json.loads(annotations.get(REPLACED) or "[]")
        base = [item for item in current if item["name"] not in previous] + restored
        wanted = {**spec.env, "APP_VERSION": spec.version}
        replaced = [item for item in base if item["name"] in spec.env]
        env = [item for item in base if item["name"] not in wanted]
        env += [{"name": key, "value": value} for key, value in sorted(wanted.items())]
        return env, replaced

    def _autoscaled(self, deployment: str) -> bool:
        """Whether an HPA scales the Deployment (then its replicas are the HPA's to set)."""
        return any(
            (hpa.get("spec") or {}).get("scaleTargetRef", {}).get("kind") == "Deployment"
            and hpa["spec"]["scaleTargetRef"].get("name") == deployment
            for hpa in self.api.list(HPA, {})
        )

    def remove(self, track: Track) -> None:
        name = self.deployment_name(track)
        if self.api.get(DEPLOYMENT, name) is None:
            return
        self.api.patch(DEPLOYMENT, name, {"spec": {"replicas": 0}})

    def wait_ready(self, track: Track, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            deployment = self._require(track)
            if int(deployment["spec"].get("replicas", 1)) == 0:
                raise RetryableError(f"track {track} is not running (scaled to 0)")
            waiting = rollout_waiting_for(deployment)
            if waiting is None:
                return
            if time.monotonic() >= deadline:
                raise RetryableError(f"not rolled out after {timeout:.0f}s: {waiting}")
            time.sleep(min(self.poll_seconds, max(0.0, deadline - time.monotonic())))

    def ready(self, track: Track) -> bool:
        deployment = self.api.get(DEPLOYMENT, self.deployment_name(track))
        if deployment is None or int(deployment["spec"].get("replicas", 1)) == 0:
            return False
        if rollout_waiting_for(deployment) is not None:
            return False
        pods = self.current_pods(deployment)
        return bool(pods) and all(_pod_healthy(pod) for pod in pods)

    def current_pods(self, deployment: Obj) -> list[Obj]:
        """The Deployment's pods of its current image (the version label of its template)."""
        template_labels = deployment["spec"]["template"]["metadata"].get("labels") or {}
        selector = dict(deployment["spec"]["selector"].get("matchLabels") or {})
        if IMAGE_TAG_LABEL in template_labels:
            selector[IMAGE_TAG_LABEL] = template_labels[IMAGE_TAG_LABEL]
        return self.api.list(POD, selector)


def _pod_healthy(pod: Obj) -> bool:
    """Ready, and no container restarted since the pod started (a crash must be seen)."""
    status = pod.get("status") or {}
    ready = any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )
    restarts = sum(item.get("restartCount", 0) for item in status.get("containerStatuses") or [])
    return ready and restarts == 0
