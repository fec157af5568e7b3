"""Backup settings: one pydantic-settings class, read from FLIGHTDECK_BACKUP_* variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from flightdeck.config import describe_validation_error
from flightdeck.errors import ConfigError


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


def load_settings(**overrides: object) -> BackupSettings:
    """Settings from the environment plus CLI overrides, or a ConfigError naming the field."""
    try:
        return BackupSettings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error("backup settings", exc)) from None
