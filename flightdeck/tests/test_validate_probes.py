"""The probes' readings of what their engines report: supervisord's log, pod and HPA statuses.

The objects are shaped as the API server returns them (the real control plane's answers are
checked in tests/kubernetes/test_validate_kubernetes.py); supervisord's log lines as supervisord
4 writes them (checked on the real platform in tests/e2e/test_validate_local.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flightdeck.core.errors import PermanentError
from flightdeck.local.layout import RunDir
from flightdeck.local.supervisor import Supervisor
from flightdeck.validate import Restarts
from flightdeck.validate.kubernetes import (
    deployment_replicas_finding,
    hpa_finding,
    pod_health,
    pod_restarts,
)

pytestmark = pytest.mark.unit

SUPERVISORD_LOG = """\
2026-11-30 16:31:59,838 INFO spawned: 'backend-stable-1' with pid 19377
2026-11-30 16:32:00,910 INFO success: backend-stable-1 entered RUNNING state, process has stayed up
2026-11-30 16:32:31,738 WARN exited: backend-stable-1 (terminated by SIGKILL; not expected)
2026-11-30 16:32:32,550 INFO spawned: 'backend-stable-1' with pid 19996
2026-11-30 16:40:02,001 WARN exited: backend-stable-10 (exit status 1; not expected)
2026-11-30 16:41:05,100 INFO exited: backend-stable-1 (exit status 0; expected)
"""


def test_unplanned_exits_are_read_from_supervisords_log(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    supervisor = Supervisor(run_dir)
    with pytest.raises(PermanentError, match=r"supervisord\.log is missing"):
        supervisor.unplanned_exits("backend-stable-1")
    run_dir.logs.mkdir()
    log = run_dir.logs / "supervisord.log"
    log.write_text(SUPERVISORD_LOG)
    exits = supervisor.unplanned_exits("backend-stable-1")
    assert [(e.at.replace(tzinfo=None), e.detail) for e in exits] == [
        (datetime(2026, 11, 30, 16, 32, 31), "terminated by SIGKILL; not expected"),
        (datetime(2026, 11, 30, 16, 41, 5), "exit status 0; expected"),
    ]
    assert exits[0].at.tzinfo is not None  # local time, as supervisord writes it
    assert len(supervisor.unplanned_exits("backend-stable-10")) == 1

    # A stop on purpose starts a new history; the rotated log is read first.
    (run_dir.logs / "supervisord.log.1").write_text(SUPERVISORD_LOG)
    log.write_text(
        "2026-11-30 17:00:00,000 INFO stopped: backend-stable-1 (terminated by SIGTERM)\n"
        "2026-11-30 17:00:01,000 INFO spawned: 'backend-stable-1' with pid 30000\n"
    )
    assert supervisor.unplanned_exits("backend-stable-1") == []
    assert len(supervisor.unplanned_exits("backend-stable-10")) == 1


def pod(**status: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "backend",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-06-01T11:00:00Z"}},
            }
        ],
    }
    base.update(status)
    return {"metadata": {"name": "fd-backend-abc"}, "spec": {"nodeName": "n1"}, "status": base}


def test_a_running_ready_pod_is_healthy_and_scraped_by_its_pod_label() -> None:
    health = pod_health(pod())
    assert health.running
    assert health.ready
    assert health.restarts == Restarts()
    assert health.scrape_labels == {"pod": "fd-backend-abc"}
    assert health.detail == "phase Running, node n1"


def test_a_crash_looping_pod_is_not_running_and_says_why() -> None:
    statuses = [
        {
            "name": "backend",
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {
                "terminated": {
                    "reason": "Error",
                    "exitCode": 3,
                    "finishedAt": "2026-06-01T11:58:00Z",
                }
            },
        }
    ]
    health = pod_health(
        pod(
            conditions=[{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            containerStatuses=statuses,
        )
    )
    assert not health.running
    assert not health.ready
    assert "container backend waiting: CrashLoopBackOff" in health.detail
    assert "Ready False: ContainersNotReady" in health.detail
    assert health.restarts == Restarts(
        4, datetime(2026, 6, 1, 11, 58, tzinfo=UTC), "container backend: Error, exit code 3"
    )


def test_restarts_without_a_time_are_unknown_not_none() -> None:
    restarts = pod_restarts([{"name": "backend", "restartCount": 1, "state": {"running": {}}}])
    assert restarts.count == 1
    assert restarts.last_at is None


def hpa(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "fd-backend", "labels": {"app.kubernetes.io/instance": "fd"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fd-be"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {"type": "Resource", "resource": {"name": "cpu", "target": {}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {}}},
            ],
        },
        "status": status,
    }


ACTIVE = {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}
CPU = {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}
MEMORY = {
    "type": "Resource",
    "resource": {"name": "memory", "current": {"averageUtilization": 41, "averageValue": "90Mi"}},
}


def test_a_working_hpa_passes() -> None:
    finding = hpa_finding(hpa(currentReplicas=3, conditions=[ACTIVE], currentMetrics=[CPU, MEMORY]))
    assert finding.ok
    assert finding.subject == "hpa fd-backend"
    assert finding.detail == (
        "ScalingActive, deployment fd-be: 3 replicas (min 2, max 10); cpu 35%, memory 41%"
    )


def test_an_hpa_without_metrics_fails_as_the_controller_reports_it() -> None:
    failed = {
        "type": "ScalingActive",
        "status": "False",
        "reason": "FailedGetResourceMetric",
        "message": "the HPA was unable to compute the replica count: no metrics",
    }
    finding = hpa_finding(hpa(currentReplicas=2, conditions=[failed]))
    assert not finding.ok
    assert finding.detail.startswith(
        "ScalingActive is False: FailedGetResourceMetric: the HPA was unable to compute the "
        "replica count: no metrics; no metric has a current value in status.currentMetrics"
    )


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        ({}, "no ScalingActive condition"),
        ({"conditions": [ACTIVE], "currentMetrics": [CPU]}, "only 1 of its 2 metrics"),
        ({"conditions": [ACTIVE], "currentMetrics": [CPU, MEMORY]}, "no status.currentReplicas"),
        (
            {"conditions": [ACTIVE], "currentMetrics": [CPU, MEMORY], "currentReplicas": 1},
            "1 replicas, outside min 2 and max 10",
        ),
        (
            {
                "conditions": [
                    ACTIVE,
                    {"type": "AbleToScale", "status": "False", "reason": "FailedGetScale"},
                ],
                "currentMetrics": [CPU, MEMORY],
                "currentReplicas": 2,
            },
            "AbleToScale is False: FailedGetScale",
        ),
    ],
)
def test_an_hpa_fails_naming_what_is_missing(status: dict[str, Any], problem: str) -> None:
    finding = hpa_finding(hpa(**status))
    assert not finding.ok
    assert problem in finding.detail


def test_a_deployment_without_an_autoscaler_needs_all_its_replicas_ready() -> None:
    deployment = {"spec": {"replicas": 2}, "status": {"readyReplicas": 1}}
    assert not deployment_replicas_finding("fd-backend", deployment).ok
    deployment["status"]["readyReplicas"] = 2
    assert deployment_replicas_finding("fd-backend", deployment).ok
    assert deployment_replicas_finding("fd-backend", None).detail == "not found"
