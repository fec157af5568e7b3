"""The GitHub Actions workflows follow the stage list and the project's practice.

- release.yml has exactly one job per stage of `flightdeck.pipeline.stages.STAGES`, in order,
  named "N. Title", each needing the one before, running the stage's command; the approval stage
  in the `production` environment; the reporting stage after failures too, told every result.
- its image matrix is `pipeline.build.IMAGES`;
- every `uses:` is pinned by a full commit SHA with the version in a comment;
- `permissions: {}` at the top, and each job names its own; checkouts keep no credentials;
  Azure logins use OIDC only; production deploys are never cancelled while running.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightdeck.pipeline.build import IMAGES
from flightdeck.pipeline.stages import STAGE_NAMES, STAGES
from flightdeck.pipeline.summary import DASHBOARDS
from flightdeck.rollout.spec import load_rollout_spec

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+){0,2}$")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<value>.+?)\s*$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data  # type: ignore[no-any-return]


def jobs(name: str) -> dict[str, dict[str, Any]]:
    return load(WORKFLOWS / name)["jobs"]  # type: ignore[no-any-return]


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def run_text(job: dict[str, Any]) -> str:
    """Everything a job runs or uses, as text."""
    if "uses" in job:
        return str(job["uses"])
    return "\n".join(str(step.get("run", step.get("uses", ""))) for step in job["steps"])


def test_there_are_workflows() -> None:
    assert {path.name for path in WORKFLOW_FILES} >= {"ci.yml", "release.yml", "canary.yml"}


def test_release_has_one_job_per_stage_in_the_stage_order() -> None:
    release = jobs("release.yml")
    assert list(release) == list(STAGE_NAMES)
    for stage in STAGES:
        assert release[stage.name]["name"] == stage.job_name


def test_each_release_job_needs_the_stage_before_it() -> None:
    release = jobs("release.yml")
    assert needs(release[STAGES[0].name]) == []
    for before, stage in itertools.pairwise(STAGES):
        assert before.name in needs(release[stage.name]), stage.name
        assert all(STAGE_NAMES.index(n) < stage.number - 1 for n in needs(release[stage.name]))


def test_each_release_job_runs_its_stage_command() -> None:
    release = jobs("release.yml")
    for stage in STAGES:
        assert stage.github in run_text(release[stage.name]), (stage.name, stage.github)


def test_the_approval_stage_is_the_production_environment_and_is_never_cancelled() -> None:
    release = jobs("release.yml")
    for stage in STAGES:
        environment = release[stage.name].get("environment")
        name = environment.get("name") if isinstance(environment, dict) else environment
        if stage.approval:
            assert name == "production", stage.name
            concurrency = release[stage.name]["concurrency"]
            assert concurrency["cancel-in-progress"] is False
        else:
            assert name != "production", f"{stage.name} would ask for a second approval"


def test_the_reporting_stage_runs_after_failures_and_hears_every_result() -> None:
    release = jobs("release.yml")
    for stage in (stage for stage in STAGES if stage.always):
        job = release[stage.name]
        assert job["if"] == "always()"
        others = [name for name in STAGE_NAMES if name != stage.name]
        assert sorted(needs(job)) == sorted(others)
        text = yaml.safe_dump(job)
        for other in others:
            assert f"needs.{other}.result" in text, other
            assert f'--result "{other}=' in run_text(job), other


def test_the_build_matrix_is_the_image_list() -> None:
    matrix = jobs("release.yml")["build"]["strategy"]["matrix"]["image"]
    assert matrix == [
        {"name": image.name, "dockerfile": image.dockerfile, "context": image.context}
        for image in IMAGES
    ]
    for image in IMAGES:
        assert (ROOT / image.dockerfile).is_file()
        assert (ROOT / image.context).is_dir()


def test_the_images_use_the_github_actions_cache_and_are_scanned_before_the_push() -> None:
    steps = jobs("release.yml")["build"]["steps"]
    uses = [str(step.get("uses", "")).split("@")[0] for step in steps]
    scan = uses.index("aquasecurity/trivy-action")
    pushes = [i for i, step in enumerate(steps) if step.get("with", {}).get("push") is True]
    assert pushes
    assert all(i > scan for i in pushes)
    for step in steps:
        if str(step.get("uses", "")).startswith("docker/build-push-action"):
            assert "type=gha" in step["with"]["cache-from"]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_a_commit_sha_with_its_version(path: Path) -> None:
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES.match(line)
        if not match:
            continue
        value = match.group("value")
        if value.startswith("./"):
            local = value.split(" #")[0]
            assert (ROOT / local).is_file(), f"{path.name}:{number}: {local} does not exist"
            continue
        assert PINNED.match(value), f"{path.name}:{number}: {value!r} is not pinned by SHA"


def test_one_sha_always_carries_the_same_version() -> None:
    seen: dict[str, str] = {}
    for path in WORKFLOW_FILES:
        for line in path.read_text().splitlines():
            match = USES.match(line)
            if match and not match.group("value").startswith("./"):
                action, comment = match.group("value").split(" # ")
                assert seen.setdefault(action, comment) == comment, action


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_least_privilege(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} does not say what it needs"
        granted = job["permissions"]
        for step in job.get("steps", []):
            uses = str(step.get("uses", ""))
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}: checkout"
            if uses.startswith("azure/login@"):
                assert granted.get("id-token") == "write", name
                assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}, name
        if "id-token" in granted:
            assert any(
                str(step.get("uses", "")).startswith("azure/login@") for step in job["steps"]
            ), f"{name} asks for an OIDC token it never uses"


def test_no_secret_reaches_a_run_step_through_an_expression() -> None:
    """Values reach the shell as environment variables, never pasted into the script."""
    for path in WORKFLOW_FILES:
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in str(step.get("run", "")), (path.name, step.get("name"))


def test_the_canary_workflow_starts_by_hand_and_ticks_every_five_minutes() -> None:
    canary = load(WORKFLOWS / "canary.yml")
    assert "version" in canary["on"]["workflow_dispatch"]["inputs"]
    assert canary["on"]["schedule"] == [{"cron": "*/5 * * * *"}]
    backstop = canary["jobs"]["backstop"]
    assert "flightdeck canary tick --target kubernetes --if-running" in run_text(backstop)
    start = canary["jobs"]["start"]
    assert start["environment"]["name"] == "production"
    assert start["concurrency"] == jobs("release.yml")["production"]["concurrency"]


def test_the_summary_links_the_dashboards_that_exist() -> None:
    uids = {
        json.loads(path.read_text())["uid"]
        for path in (ROOT / "monitoring" / "grafana" / "dashboards").glob("*.json")
    }
    assert set(DASHBOARDS.values()) == uids


def test_the_files_the_workflows_name_exist_and_load() -> None:
    """`--spec` files are rollout specs of the command's strategy; `--values` files exist."""
    for path in WORKFLOW_FILES:
        text = path.read_text()
        for strategy, spec in re.findall(
            r"flightdeck (canary|bluegreen) start .*?--spec (\S+)", text, flags=re.S
        ):
            assert load_rollout_spec(ROOT / spec).strategy.type == strategy, (path.name, spec)
        for values in re.findall(r"--values (\S+)", text):
            assert yaml.safe_load((ROOT / values).read_text()), (path.name, values)
