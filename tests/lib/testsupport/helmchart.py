"""Run bin/helm on charts/flightdeck and look objects up in what it renders."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
HELM = ROOT / "bin" / "helm"
CHART = ROOT / "charts" / "flightdeck"
SCENARIOS = sorted(
    p.name.removesuffix("-values.yaml") for p in (CHART / "ci").glob("*-values.yaml")
)
NAMESPACE = "flightdeck"
RELEASE = "fd"
# The optional APIs the chart renders objects for only when the cluster has them.
OPTIONAL_APIS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
    "cert-manager.io/v1/ClusterIssuer",
    "gateway.networking.k8s.io/v1/HTTPRoute",
)


def helm(
    *args: str, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run bin/helm (in `env` if given); fail (never skip) when the setup has not built it."""
    if not HELM.exists():
        raise AssertionError(f"{HELM} is missing: run make setup")
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@dataclass
class Rendered:
    """The objects `helm template` produced for one scenario."""

    scenario: str
    objects: list[dict[str, Any]]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        """The object of that kind and name (the release prefix is added)."""
        full = f"{RELEASE}-flightdeck-{name}" if name else f"{RELEASE}-flightdeck"
        found = [o for o in self.all(kind) if o["metadata"]["name"] == full]
        assert found, f"{self.scenario}: no {kind} {full}; have {self.names(kind)}"
        return found[0]

    def names(self, kind: str) -> list[str]:
        return sorted(o["metadata"]["name"] for o in self.all(kind))


def values_file(scenario: str) -> Path:
    return CHART / "ci" / f"{scenario}-values.yaml"


def render(scenario: str, *extra: str, api_versions: tuple[str, ...] = OPTIONAL_APIS) -> Rendered:
    """`helm template` one ci/ scenario (plus extra flags); the objects, or an AssertionError."""
    args = ["template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values_file(scenario))]
    for api in api_versions:
        args += ["--api-versions", api]
    result = helm(*args, *extra)
    assert result.returncode == 0, f"helm template {scenario} failed:\n{result.stderr}"
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    return Rendered(scenario, docs)


def template_error(scenario: str, *extra: str) -> str:
    """The error of a `helm template` expected to fail (an AssertionError if it succeeds)."""
    args = ["template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values_file(scenario))]
    result = helm(*args, *extra)
    assert result.returncode != 0, f"helm template {scenario} {extra} unexpectedly succeeded"
    return result.stderr


def container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """A container of a workload (Deployment, StatefulSet, CronJob or Pod) by name."""
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec if obj["kind"] == "Pod" else spec["template"]["spec"]
    found: list[dict[str, Any]] = [c for c in pod["containers"] if c["name"] == name]
    assert found, f"no container {name} in {obj['kind']} {obj['metadata']['name']}"
    return found[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "Pod":
        return spec
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod
