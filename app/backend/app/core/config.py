"""All settings of the backend, read from the environment (one class, see docs/backend.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Track = Literal["stable", "canary", "blue", "green"]


class Settings(BaseSettings):
    """Environment variables, by upper-case field name (e.g. ``MONGODB_URI``).

    A wrong value stops the process at start with an error that names the variable.
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = Field(default="flightdeck", min_length=1)
    # Upper bound for one database operation of an API request, so that a database outage
    # answers 503 quickly instead of holding the request for PyMongo's default 30 s.
    mongodb_timeout_ms: int = Field(default=5000, ge=100, le=60_000)
    # The readiness ping must answer within the probe's own timeout (3 s in the chart).
    readiness_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    # Ceiling of the exponential back-off between start-up attempts (ping + index creation).
    startup_retry_max_seconds: float = Field(default=5.0, gt=0, le=300)

    upload_dir: Path = Path("uploads")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)

    app_version: str = Field(default="0.0.0-dev", min_length=1)
    app_track: Track = "stable"
    app_commit: str = Field(default="unknown", min_length=1)

    # Fault injection for rollout demos and tests; both are off unless set in the environment.
    fault_error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fault_latency_ms: int = Field(default=0, ge=0, le=600_000)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
