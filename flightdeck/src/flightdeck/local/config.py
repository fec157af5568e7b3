"""The local platform's configuration file (`flightdeck.yaml`), with the architecture's defaults.

Every field has a default; a file only lists what it changes. Unknown fields are errors, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from flightdeck.core.config import describe_validation_error, load_yaml_model
from flightdeck.core.errors import ConfigError
from flightdeck.core.validation import (
    EnvKey,
    HostName,
    PlainText,
    SafePath,
    Version,
    control_characters,
)

# Strict: YAML's `true` is not port 1, and "8443" is not a number.
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
DEFAULT_CONFIG_FILE = "flightdeck.yaml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ports(Strict):
    """Fixed ports on 127.0.0.1 (backend replicas get free ports at start)."""

    https: Port = 8443
    http: Port = 8080
    prometheus: Port = 9090
    alertmanager: Port = 9093
    receiver: Port = 9095
    mongodb: Port = 27017
    azurite: Port = 10000
    preview: Port = 8444
    """The preview route of blue-green rollouts (the colour being checked), loopback only."""


class Backend(Strict):
    replicas: StrictInt = Field(
        2, ge=1, le=10, description="stable replicas, one process and port each"
    )
    version: Version = "1.0.0"
    max_upload_bytes: StrictInt = Field(10 * 1024 * 1024, ge=1, le=10 * 1024**3)


class RateLimit(Strict):
    """Per client address, answering 429 beyond rate + burst.

    The upper bounds keep nginx's own arithmetic (the rate is kept in thousandths) from
    overflowing; nobody limits a single client to more than a million requests per second.
    """

    requests_per_second: StrictInt = Field(20, ge=1, le=1_000_000)
    burst: StrictInt = Field(40, ge=0, le=1_000_000)


class Canary(Strict):
    """Routing by header and cookie, with ingress-nginx's values `always` and `never`."""

    header: str = Field("X-Canary", pattern=r"^[A-Za-z0-9-]+$")
    cookie: str = Field("canary", pattern=r"^[A-Za-z0-9_]+$")


class Monitoring(Strict):
    scrape_interval_seconds: StrictInt = Field(15, ge=1, le=300)
    evaluation_interval_seconds: StrictInt = Field(15, ge=1, le=300)
    retention: str = Field("15d", pattern=r"^[0-9]+(ms|s|m|h|d|w|y)$")


class Database(Strict):
    """The embedded FerretDB by default; `uri` (or MONGODB_URI) points at an external MongoDB."""

    uri: PlainText | None = None
    name: str = Field("flightdeck", pattern=r"^[A-Za-z0-9_-]{1,63}$")

    @field_validator("uri")
    @classmethod
    def _mongodb_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value


class Backup(Strict):
    """Scheduled backups to Azurite (the local blob endpoint) unless a connection string is set."""

    enabled: bool = True
    schedule: str = Field(
        "0 */6 * * *", description="cron expression; every 6 hours (an RPO under 6 hours)"
    )
    azure_connection_string_env: EnvKey = Field(
        "FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING",
        description="the variable holding a real Azure connection string (never in this file)",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression")
        return value


class Tls(Strict):
    server_name: HostName = "localhost"
    certificate_days: StrictInt = Field(90, ge=2, le=825, description="like Let's Encrypt: 90 days")
    renew_before_days: StrictInt = Field(30, ge=1)

    @model_validator(mode="after")
    def _renew_inside_lifetime(self) -> Tls:
        if self.renew_before_days >= self.certificate_days:
            raise ValueError("renew_before_days must be less than certificate_days")
        return self


class PlatformConfig(Strict):
    run_dir: SafePath = Path(".flightdeck")
    ports: Ports = Ports()
    backend: Backend = Backend()
    rate_limit: RateLimit = RateLimit()
    canary: Canary = Canary()
    monitoring: Monitoring = Monitoring()
    database: Database = Database()
    tls: Tls = Tls()
    backup: Backup = Backup()
    ready_timeout_seconds: float = Field(60, gt=0, le=3600)

    @model_validator(mode="after")
    def _distinct_ports(self) -> PlatformConfig:
        used: dict[int, str] = {}
        for name, port in self.ports.model_dump().items():
            if port in used:
                raise ValueError(f"ports.{name} and ports.{used[port]} are both {port}")
            used[port] = name
        return self

    @property
    def mongodb_uri(self) -> str:
        return self.database.uri or f"mongodb://127.0.0.1:{self.ports.mongodb}/"

    @property
    def embedded_database(self) -> bool:
        return self.database.uri is None

    @property
    def azure_connection_string(self) -> str | None:
        """A real Azure Blob connection string from the environment, or None for Azurite."""
        variable = self.backup.azure_connection_string_env
        value = os.environ.get(variable) or None
        if value is not None and control_characters(value):
            raise ConfigError(f"{variable}: the connection string contains control characters")
        return value


def load_platform_config(path: Path | None, root: Path) -> PlatformConfig:
    """Load the config file (default: ROOT/flightdeck.yaml if present) and resolve paths.

    MONGODB_URI in the environment overrides `database.uri`, as the issue asks.
    """
    if path is None and (root / DEFAULT_CONFIG_FILE).exists():
        path = root / DEFAULT_CONFIG_FILE
    config = load_yaml_model(PlatformConfig, path)
    updates: dict[str, object] = {}
    if not config.run_dir.is_absolute():
        updates["run_dir"] = (root / config.run_dir).resolve()
    if env_uri := os.environ.get("MONGODB_URI"):
        updates["database"] = {"uri": env_uri, "name": config.database.name}
    if not updates:
        return config
    # Validated again: the resolved run directory and the variable are input too.
    data = config.model_dump() | updates
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        source = "MONGODB_URI / the resolved run_dir"
        raise ConfigError(describe_validation_error(source, exc)) from None
