"""Notifications and incidents.

- `Notifier`: tells people (Slack, Email, PagerDuty, a generic webhook) through Apprise URLs.
- `IncidentSink`: records an incident that someone must look at: a JSON-lines file locally, a
  GitHub issue, or a PagerDuty event (registry `incident_sinks`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from flightdeck.registry import Registry


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
