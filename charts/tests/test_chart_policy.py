"""checkov policy scan of every rendered scenario: no findings except the explained ones."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from testsupport.helmchart import OPTIONAL_APIS, ROOT, SCENARIOS, helm, values_file

pytestmark = pytest.mark.unit

CHECKOV = ROOT / "charts" / "tools" / ".venv" / "bin" / "checkov"
SUPPRESSIONS = Path(__file__).with_name("checkov-suppressions.yaml")


def suppressions() -> dict[str, str]:
    loaded: dict[str, str] = yaml.safe_load(SUPPRESSIONS.read_text())
    return loaded


def checkov(manifest: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Scan one rendered manifest with checkov's Kubernetes checks; JSON on stdout."""
    return subprocess.run(
        [
            *(str(CHECKOV), "-f", str(manifest), "--framework", "kubernetes"),
            *("--output", "json", *options, "--quiet"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_every_suppression_has_a_reason() -> None:
    for check, reason in suppressions().items():
        assert check.startswith("CKV"), check
        assert len(reason.split()) >= 8, f"{check}: explain why it is skipped"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_checkov_finds_nothing_unexplained(scenario: str, tmp_path: Path) -> None:
    if not CHECKOV.exists():
        raise AssertionError(f"{CHECKOV} is missing: run make setup")
    args = ["template", "fd", str(ROOT / "charts" / "flightdeck"), "-n", "flightdeck"]
    args += ["-f", str(values_file(scenario))]
    for api in OPTIONAL_APIS:
        args += ["--api-versions", api]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / f"{scenario}.yaml"
    manifest.write_text(result.stdout)
    scan = checkov(manifest, "--skip-check", ",".join(suppressions()))
    report = json.loads(scan.stdout)
    failed = report["results"]["failed_checks"] if isinstance(report, dict) else []
    findings = [f"{f['check_id']} {f['resource']}: {f['check_name']}" for f in failed]
    assert not findings, "\n".join(findings)
    assert scan.returncode == 0, scan.stderr
    assert report["summary"]["passed"] > 100


def test_checkov_fails_an_insecure_manifest(tmp_path: Path) -> None:
    """The scan is live: a privileged root container is reported."""
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "bad", "namespace": "x"},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "nginx:1", "securityContext": {"privileged": True}}
                    ]
                },
            }
        )
    )
    scan = checkov(manifest)
    ids = {f["check_id"] for f in json.loads(scan.stdout)["results"]["failed_checks"]}
    assert "CKV_K8S_16" in ids
