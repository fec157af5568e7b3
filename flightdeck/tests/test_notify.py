"""Notifications through Apprise and incidents in a file or a GitHub issue (a fake GitHub)."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flightdeck.core.errors import ConfigError, RetryableError
from flightdeck.notify import Incident, incident_sinks
from flightdeck.notify.apprise_notifier import AppriseNotifier
from flightdeck.notify.incidents import GitHubIssueIncidents, JsonlIncidents
from testsupport.webhook import Recorder, recording

pytestmark = pytest.mark.integration


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording(200, {"ok": True}) as server:
        yield server


INCIDENT = Incident(
    title="Rollout of 2.0.0 rolled back",
    summary="analysis failed at 10%: error_rate 40.00% (limit 5.00%)",
    severity="critical",
    rollout="backend",
    details={"version": "2.0.0"},
)


def test_apprise_delivers_to_a_json_webhook(recorder: Recorder) -> None:
    AppriseNotifier([f"json://{recorder.url}/hook"]).notify("Rolled back", "why", "critical")
    assert len(recorder.requests) == 1
    body = recorder.requests[0]["body"]
    assert body["title"] == "Rolled back"
    assert body["message"] == "why"
    assert body["type"] == "failure"


def test_an_undeliverable_notification_is_a_retryable_error() -> None:
    notifier = AppriseNotifier(["json://127.0.0.1:9/nothing-listens"])
    with pytest.raises(RetryableError, match="could not be delivered"):
        notifier.notify("t", "b", "info")


def test_a_bad_url_is_a_config_error_that_does_not_print_the_token() -> None:
    with pytest.raises(ConfigError, match=r"notifications\.urls") as error:
        AppriseNotifier(["nosuchscheme://secret-token@host"])
    assert "secret-token" not in str(error.value)


def test_incidents_append_json_lines(tmp_path: Path) -> None:
    sink = JsonlIncidents(tmp_path / "incidents.jsonl")
    sink.open(INCIDENT)
    sink.open(INCIDENT)
    lines = [json.loads(line) for line in (tmp_path / "incidents.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    assert lines[0]["title"] == INCIDENT.title
    assert lines[0]["severity"] == "critical"


def test_a_github_incident_is_an_issue_with_labels(recorder: Recorder) -> None:
    recorder.status = 201
    recorder.answer = {"html_url": "https://github.example/o/r/issues/7"}
    sink = GitHubIssueIncidents("o/r", "token-123", api_url=f"http://{recorder.url}")
    assert sink.open(INCIDENT) == "https://github.example/o/r/issues/7"
    request = recorder.requests[0]
    assert request["path"] == "/repos/o/r/issues"
    assert request["headers"]["Authorization"] == "Bearer token-123"
    assert request["body"]["labels"] == ["incident", "severity:critical"]
    assert "error_rate 40.00%" in request["body"]["body"]


def test_github_refusing_the_issue_is_retryable(recorder: Recorder) -> None:
    recorder.status = 403
    sink = GitHubIssueIncidents("o/r", "token", api_url=f"http://{recorder.url}")
    with pytest.raises(RetryableError, match="403"):
        sink.open(INCIDENT)


def test_the_registry_refuses_unknown_sinks_and_github_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="unknown incident sink 'slack'"):
        incident_sinks.create("slack")
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        GitHubIssueIncidents("o/r", "")
