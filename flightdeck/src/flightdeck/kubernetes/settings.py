"""Settings of `--target kubernetes` (FLIGHTDECK_* variables) and the connection to the cluster.

The connection is the pod's service account when flightdeck runs in the cluster, otherwise the
kubeconfig (KUBECONFIG or ~/.kube/config, context FLIGHTDECK_KUBE_CONTEXT or the current one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, TypeVar

from kubernetes import client, config
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from flightdeck.core.errors import ConfigError
from flightdeck.core.validation import NAME_PATTERN, PlainText

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
CHART_NAME = "flightdeck"
NAME = NAME_PATTERN


class ClusterSettings(BaseSettings):
    """Where the release is: what every kubernetes command needs (`metrics serve` too)."""

    model_config = SettingsConfigDict(env_prefix="FLIGHTDECK_", extra="ignore")

    namespace: str = Field(pattern=NAME)
    release: str = Field(pattern=NAME)
    fullname: str | None = Field(None, pattern=NAME)
    lease_seconds: int = Field(30, ge=3, le=3600)
    kube_context: PlainText | None = None

    @property
    def chart_fullname(self) -> str:
        """The chart's `flightdeck.fullname`: the release, suffixed with the chart's name."""
        if self.fullname:
            return self.fullname
        name = self.release if CHART_NAME in self.release else f"{self.release}-{CHART_NAME}"
        return name[:40].rstrip("-")

    @property
    def rollout_prefix(self) -> str:
        """The names of the rollouts' ConfigMaps and Leases: `<fullname>-rollout-<rollout>`."""
        return f"{self.chart_fullname}-rollout-"


class KubernetesSettings(ClusterSettings):
    """Everything a rollout with `--target kubernetes` needs."""

    router: Literal["ingress-nginx", "gateway-api", "bluegreen-service"] = "ingress-nginx"
    prometheus_url: PlainText = Field(pattern=r"^https?://")
    ingress_url: PlainText = Field(pattern=r"^https?://")
    preview_url: PlainText | None = Field(
        None,
        pattern=r"^https?://",
        description="where the colour in preview answers (the chart's preview Service)",
    )
    ingress_ca_file: Path | None = None
    canary_header: str = Field("X-Canary", pattern=r"^[A-Za-z0-9-]{1,64}$")
    metrics_dir: Path | None = None
    incidents_file: Path = Path(".flightdeck/incidents.jsonl")
    history: Literal["mongodb", "jsonl"] = "mongodb"
    history_mongodb_uri: SecretStr | None = None
    history_database: str = Field("flightdeck", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    history_file: Path = Path(".flightdeck/history.jsonl")


Settings = TypeVar("Settings", bound=ClusterSettings)


def load_kubernetes_settings() -> KubernetesSettings:
    """The rollout settings from the environment, or a ConfigError naming each bad variable."""
    return _load(KubernetesSettings, "--target kubernetes")


def load_cluster_settings(command: str) -> ClusterSettings:
    """Where the release is, for `command` (e.g. `metrics serve --target kubernetes`)."""
    return _load(ClusterSettings, command)


def _load(kind: type[Settings], command: str) -> Settings:
    defaults: dict[str, str] = {}
    if "FLIGHTDECK_NAMESPACE" not in os.environ and SERVICE_ACCOUNT_NAMESPACE.is_file():
        # In a pod, the namespace of its service account unless the variable says otherwise.
        defaults["namespace"] = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    try:
        return kind(**defaults)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            f"FLIGHTDECK_{'_'.join(str(part) for part in problem['loc']).upper()}: "
            f"{'is not set' if problem['type'] == 'missing' else problem['msg']}"
            for problem in exc.errors()
        ]
        raise ConfigError(f"{command}: " + "; ".join(problems)) from None


def connect(context: str | None = None) -> client.ApiClient:
    """A client for the cluster: in-cluster service account first, then the kubeconfig."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        try:
            # KUBECONFIG is read now, not when the client module was imported.
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.environ.get("KUBECONFIG"),
                context=context,
                client_configuration=configuration,
            )
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(
                "no Kubernetes connection: not running in a cluster, and no usable kubeconfig "
                f"(KUBECONFIG, ~/.kube/config, FLIGHTDECK_KUBE_CONTEXT): {exc}"
            ) from None
    return client.ApiClient(configuration)
