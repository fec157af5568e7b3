"""actionlint and zizmor, as `make test` runs them: clean on the workflows, loud on bad ones.

scripts/test.sh runs both on .github/workflows with every linter; these tests show that they
do look (a workflow with the mistakes they exist for fails them) and that the repository's
workflows pass them at the strictest setting, with every suppression carrying its reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport.tools import required_tool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"

BAD_WORKFLOW = """\
name: bad
on: pull_request_target
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.head.sha }}
      - run: echo "${{ github.event.pull_request.title }}"
      - run: echo ${{ steps.nosuch.outputs.value }
"""


def actionlint(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = ROOT / "bin" / "actionlint"
    assert binary.exists(), "bin/actionlint is missing: run `make setup`"
    required_tool("shellcheck")
    return subprocess.run(
        [str(binary), "-no-color", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    # The PyPI wheel installs the binary beside the environment's Python.
    binary = Path(sys.executable).parent / "zizmor"
    assert binary.exists(), "zizmor is missing from the environment: run `make setup`"
    return subprocess.run(
        [
            str(binary),
            "--offline",
            "--no-progress",
            "--persona",
            "auditor",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def bad_workflow(tmp_path: Path) -> Path:
    path = tmp_path / ".github" / "workflows" / "bad.yml"
    path.parent.mkdir(parents=True)
    path.write_text(BAD_WORKFLOW)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return path


def test_actionlint_passes_the_workflows() -> None:
    result = actionlint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_finds_a_broken_expression(bad_workflow: Path) -> None:
    result = actionlint(cwd=bad_workflow.parents[2])
    assert result.returncode == 1
    assert "bad.yml:11" in result.stdout, result.stdout


def test_zizmor_passes_the_workflows_as_an_auditor() -> None:
    result = zizmor(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_finds_injection_unpinned_actions_and_missing_permissions(
    bad_workflow: Path,
) -> None:
    result = zizmor(bad_workflow)
    assert result.returncode != 0
    for audit in ("template-injection", "unpinned-uses", "excessive-permissions", "artipacked"):
        assert f"[{audit}]" in result.stdout, (audit, result.stdout)


def test_every_suppression_says_why() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = re.search(r"zizmor: ignore\[[\w,-]+\](?P<reason>.*)$", line)
            if match:
                assert len(match.group("reason").strip()) >= 10, f"{path.name}:{number}"
