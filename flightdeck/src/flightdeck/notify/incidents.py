"""Incident sinks: a JSON-lines file, a GitHub issue, a PagerDuty event (Events API v2)."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

import apprise
import httpx

from flightdeck.core.errors import ConfigError, RetryableError
from flightdeck.notify import Incident, incident_sinks


@incident_sinks.register("jsonl")
class JsonlIncidents:
    """The local sink: one JSON object per line, appended under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self, incident: Incident) -> str:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps({"source": "flightdeck", **incident.as_dict()}) + "\n")
        return str(self.path)


@incident_sinks.register("github")
class GitHubIssueIncidents:
    """A GitHub issue labelled `incident` in `repository`, through the REST API."""

    def __init__(
        self, repository: str, token: str, api_url: str = "https://api.github.com"
    ) -> None:
        if not token:
            raise ConfigError("incidents: github needs a token in GITHUB_TOKEN")
        self.repository = repository
        self.token = token
        self.api_url = api_url.rstrip("/")

    def open(self, incident: Incident) -> str:
        body = f"{incident.summary}\n\n```json\n{json.dumps(incident.details, indent=2)}\n```\n"
        try:
            response = httpx.post(
                f"{self.api_url}/repos/{self.repository}/issues",
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                },
                json={
                    "title": incident.title,
                    "body": body,
                    "labels": ["incident", f"severity:{incident.severity}"],
                },
                timeout=15,
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"GitHub did not answer: {exc}") from exc
        if response.status_code != 201:
            raise RetryableError(f"GitHub refused the incident issue: {response.status_code}")
        return str(response.json()["html_url"])


@incident_sinks.register("pagerduty")
class PagerDutyIncidents:
    """A PagerDuty incident through Apprise's Events API v2 support (`pagerduty://...`)."""

    def __init__(self, url: str) -> None:
        self._apprise = apprise.Apprise()
        if not url.startswith("pagerduty://") or not self._apprise.add(url):
            raise ConfigError("incidents: pagerduty needs a pagerduty:// URL in PAGERDUTY_URL")

    def open(self, incident: Incident) -> str:
        ok = self._apprise.notify(
            title=incident.title,
            body=incident.summary,
            notify_type=apprise.NotifyType.FAILURE,
        )
        if not ok:
            raise RetryableError("PagerDuty did not accept the incident")
        return "pagerduty"
