"""Backup settings: one pydantic-settings class, read from FLIGHTDECK_BACKUP_* variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from flightdeck.config import describe_validation_error
from flightdeck.errors import ConfigError
from flightdeck.paths import checkout_root


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLIGHTDECK_BACKUP_", extra="forbid")

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    database: str = Field(default="flightdeck", min_length=1)
    local_dir: Path = Path(".flightdeck/backups")
    metrics_dir: Path = Path(".flightdeck/metrics")
    # Encryption key: base64 of 32 bytes, or a file holding it. Never logged.
    key: SecretStr | None = None
    key_file: Path | None = None
    # Azure Blob Storage (or Azurite); empty connection string = local directory only.
    azure_connection_string: SecretStr | None = None
    azure_container: str = Field(default="flightdeck-backups", min_length=3, max_length=63)
    azure_block_size: int = Field(default=8 * 1024 * 1024, gt=0, le=4000 * 1024 * 1024)
    azure_concurrency: int = Field(default=4, gt=0, le=64)
    azure_retries: int = Field(default=3, ge=0)
    azure_timeout_seconds: float = Field(default=30.0, gt=0)
    local_retention_days: float = Field(default=7, gt=0)
    azure_retention_days: float = Field(default=30, gt=0)
    schedule: str = "0 */6 * * *"
    compression_level: int = Field(default=3, ge=1, le=22)
    mongodump: str = "mongodump"
    mongorestore: str = "mongorestore"


ENV_FILE_VARIABLE = "FLIGHTDECK_BACKUP_ENV_FILE"


def platform_env_file() -> Path | None:
    """The settings file of the local platform, so backups work there without exports.

    FLIGHTDECK_BACKUP_ENV_FILE names another file, or none when empty; by default the file that
    `flightdeck up` writes in the checkout's run directory, when it exists. Variables in the
    environment win over the file.
    """
    explicit = os.environ.get(ENV_FILE_VARIABLE)
    if explicit is not None:
        if not explicit:
            return None
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{ENV_FILE_VARIABLE}={explicit}: no such file")
        return path
    root = checkout_root()  # an installed flightdeck (the container image) has no run directory
    default = root / ".flightdeck" / "backup.env" if root else None
    return default if default and default.is_file() else None


def load_settings(**overrides: object) -> BackupSettings:
    """Settings from the environment plus CLI overrides, or a ConfigError naming the field."""
    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        return BackupSettings(_env_file=platform_env_file(), **values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error("backup settings", exc)) from None
