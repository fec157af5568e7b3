"""Notifications and incidents.

- `Notifier`: tells people (Slack, Email, PagerDuty, a generic webhook) through Apprise URLs.
- `IncidentSink`: records an incident that someone must look at: a JSON-lines file locally, a
  GitHub issue, or a PagerDuty event (registry `incident_sinks`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flightdeck.core.registry import Registry
from flightdeck.core.validation import PlainText


@dataclass(frozen=True)
class Incident:
    title: str
    summary: str
    severity: str  # critical | warning | info
    rollout: str
    details: dict[str, Any] = field(default_factory=dict)
    opened_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Notifier(Protocol):
    def notify(self, title: str, body: str, severity: str) -> None: ...


class IncidentSink(Protocol):
    def open(self, incident: Incident) -> str:
        """Record the incident; returns where it can be found (a path or a URL)."""
        ...


incident_sinks: Registry[IncidentSink] = Registry("incident sink")


class Notifications(BaseModel):
    """Apprise URLs (slack://, mailto://, pagerduty://, json://...) and where incidents go.

    Part of a rollout spec; secrets (tokens) come from the environment, never from here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[PlainText] = Field(default_factory=list)
    incidents: Literal["jsonl", "github", "pagerduty"] = "jsonl"
    github_repository: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")

    @model_validator(mode="after")
    def _github_needs_repository(self) -> Notifications:
        if self.incidents == "github" and not self.github_repository:
            raise ValueError("incidents: github needs github_repository (owner/name)")
        return self


def notifier_for(notifications: Notifications) -> Notifier:
    from flightdeck.notify.apprise_notifier import AppriseNotifier

    return AppriseNotifier(notifications.urls)


def incident_sink_for(notifications: Notifications, jsonl_file: Path) -> IncidentSink:
    """The incident sink the spec names (GITHUB_TOKEN, GITHUB_API_URL, PAGERDUTY_URL from the
    environment); `jsonl_file` is where the local sink appends."""
    from flightdeck.notify import incidents  # noqa: F401  (registers the sinks)

    kind = notifications.incidents
    if kind == "github":
        return incident_sinks.create(
            "github",
            notifications.github_repository or "",
            os.environ.get("GITHUB_TOKEN", ""),
            os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        )
    if kind == "pagerduty":
        return incident_sinks.create("pagerduty", os.environ.get("PAGERDUTY_URL", ""))
    return incident_sinks.create("jsonl", jsonl_file)
