"""The delivery pipeline's seven stages, defined once (the architecture's CI/CD pipeline).

Two runners follow this list: the GitHub Actions release workflow (`.github/workflows/release.yml`:
one job per stage, the stage's `name` as job id, `job_name` as the job's name, each job needing
the one before, the approval stage in the `production` environment, the `always` stage run after
a failure too) and `flightdeck pipeline run`, which runs the same stages in the same order on one
machine against the local engine. `flightdeck/tests/test_pipeline_workflows.py` reads the workflow
and fails when it disagrees with this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from flightdeck.core.errors import ConfigError

StageName = Literal[
    "validate", "build", "backup", "staging", "production", "validate-deployment", "notify"
]


@dataclass(frozen=True)
class Stage:
    number: int
    name: StageName
    """The stage's id: `--from`/`--skip` take it; release.yml's job for it has it as job id."""
    title: str
    purpose: str
    """What the stage checks or changes, in the architecture's words."""
    local: str
    """What `flightdeck pipeline run` does for it on one machine."""
    github: str
    """What the release workflow's job runs for it: a test checks that the job contains it."""
    approval: bool = False
    """A person approves before it runs: a prompt (or `--approve`) locally, the `production`
    environment's required reviewers on GitHub."""
    always: bool = False
    """It runs after an earlier stage failed too (to report the failure)."""

    @property
    def job_name(self) -> str:
        return f"{self.number}. {self.title}"


STAGES: tuple[Stage, ...] = (
    Stage(
        1,
        "validate",
        "Validate & build",
        "lint, tests, security scan (Trivy)",
        "scripts/test.sh --fast: the linters (workflows included) and the unit tier",
        "./.github/workflows/ci.yml",
    ),
    Stage(
        2,
        "build",
        "Build & push images",
        "images built with layer caching, pushed, tagged with the version and the commit",
        "the frontend bundle, the backend and flightdeck wheels; the images when a container "
        "builder is installed",
        "docker/build-push-action",
    ),
    Stage(
        3,
        "backup",
        "Back up the database",
        "dump, upload to Azure Blob, verify",
        "flightdeck backup cycle on the platform's database and Azurite, without pruning",
        "flightdeck backup cycle",
    ),
    Stage(
        4,
        "staging",
        "Deploy to staging",
        "the new version where users are not, smoke tests, health checks",
        "the new version on the blue-green preview route (no user traffic), smoke tests and "
        "health checks through it, then removed",
        "flightdeck pipeline staging --target kubernetes",
    ),
    Stage(
        5,
        "production",
        "Deploy to production",
        "manual approval, then blue-green: deploy, check, switch, monitor, clean up, roll back "
        "on failure",
        "flightdeck bluegreen on the local engine, with steady requests through the ingress "
        "during the monitor",
        "flightdeck bluegreen start --target kubernetes",
        approval=True,
    ),
    Stage(
        6,
        "validate-deployment",
        "Validate the deployment",
        "pod health, HPA, metrics availability, endpoint smoke tests",
        "flightdeck validate --target local",
        "flightdeck validate --target kubernetes",
    ),
    Stage(
        7,
        "notify",
        "Notify",
        "success or failure, the deployment summary, dashboard links",
        "the summary on the terminal, in the run's directory and through the notifier",
        "flightdeck pipeline notify",
        always=True,
    ),
)

STAGE_NAMES: tuple[StageName, ...] = tuple(stage.name for stage in STAGES)


def stage_named(name: str, source: str = "stage") -> Stage:
    """The stage called `name`; anything else is a ConfigError listing the stages."""
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise ConfigError(f"{source} {name!r} is not a stage; the stages: {', '.join(STAGE_NAMES)}")
