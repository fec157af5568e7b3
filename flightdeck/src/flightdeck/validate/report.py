"""The validation report: findings grouped by check, the verdict and the exit code.

A check passes when it has at least one finding and every finding passed: a check that found
nothing to look at fails ("no data" is never a pass). A skipped check (`--skip`) is shown as
skipped and does not count; the report passes when every check that ran passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "skipped"]

EXIT_PASSED = 0
EXIT_FAILED = 1


@dataclass(frozen=True)
class Finding:
    """One thing a check looked at (a replica, an autoscaler, a series, a smoke test)."""

    subject: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class CheckReport:
    name: str
    status: Status
    findings: tuple[Finding, ...]

    @classmethod
    def of(cls, name: str, findings: list[Finding], nothing_found: str) -> CheckReport:
        """The check's verdict; with no finding at all it fails with `nothing_found` as reason."""
        if not findings:
            findings = [Finding(name, False, f"no data: {nothing_found}")]
        status: Status = "pass" if all(finding.ok for finding in findings) else "fail"
        return cls(name, status, tuple(findings))

    @classmethod
    def skipped(cls, name: str) -> CheckReport:
        return cls(name, "skipped", ())

    @property
    def problems(self) -> list[Finding]:
        return [finding for finding in self.findings if not finding.ok]


@dataclass(frozen=True)
class ServingTrack:
    track: str
    version: str | None
    """None when the track serves users but runs nothing (a failure of the replicas check)."""


@dataclass(frozen=True)
class ValidationReport:
    engine: str
    restart_window_seconds: float
    serving: tuple[ServingTrack, ...]
    checks: tuple[CheckReport, ...]

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed, in the order they ran."""
        return [check.name for check in self.checks if check.status == "fail"]

    @property
    def passed(self) -> bool:
        ran = [check for check in self.checks if check.status != "skipped"]
        return bool(ran) and not self.failed

    @property
    def exit_code(self) -> int:
        return EXIT_PASSED if self.passed else EXIT_FAILED

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "passed": self.passed,
            "failed": self.failed,
            "restart_window_seconds": self.restart_window_seconds,
            "serving": [
                {"track": serving.track, "version": serving.version} for serving in self.serving
            ],
            "checks": [
                {
                    "name": check.name,
                    "status": check.status,
                    "findings": [
                        {"subject": f.subject, "ok": f.ok, "detail": f.detail}
                        for f in check.findings
                    ],
                }
                for check in self.checks
            ],
        }
