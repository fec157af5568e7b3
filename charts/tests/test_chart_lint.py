"""helm lint and helm template for every ci/ scenario, with Helm 3.13, and values-schema errors."""

from __future__ import annotations

import pytest

from testsupport.helmchart import CHART, SCENARIOS, helm, render, template_error, values_file

pytestmark = pytest.mark.unit


def test_helm_is_3_13() -> None:
    result = helm("version", "--short")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("v3.13."), result.stdout


def test_every_documented_scenario_exists() -> None:
    assert set(SCENARIOS) == {
        "default",
        "canary",
        "blue-green",
        "gateway-api",
        "external-mongodb",
        "monitoring-off",
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_lint_strict(scenario: str) -> None:
    result = helm("lint", "--strict", str(CHART), "-f", str(values_file(scenario)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_helm_template_renders(scenario: str) -> None:
    assert render(scenario).objects


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (("--set", "routing=traefik"), "routing"),
        (("--set", "canary.weight=150"), "weight"),
        (("--set", "blueGreen.activeColor=red"), "activeColor"),
        (("--set", "backend.resources.limits.cpu=lots"), "cpu"),
        (("--set", "backend.replicas=3"), "replicas"),
        (("--set", "canary.enabled=true"), "tag"),
        (("--set", "mongodb.auth.existingSecret="), "existingSecret"),
        (("--set", "metricsEndpoint.port=80"), "port"),
        (("--set", "metricsEndpoint.persistence.accessMode=ReadOnlyMany"), "accessMode"),
        (("--set", "networkPolicy.apiServerCidrs[0]=kubernetes.default"), "apiServerCidrs"),
    ],
)
def test_schema_rejects_bad_values_naming_the_field(flags: tuple[str, ...], field: str) -> None:
    error = template_error("default", *flags)
    assert "values don't meet the specifications of the schema" in error, error
    assert field in error, error
