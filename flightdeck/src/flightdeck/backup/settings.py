"""Backup settings: one pydantic-settings class, read from FLIGHTDECK_BACKUP_* variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flightdeck.backup.mongo import check_database_name
from flightdeck.core.config import describe_validation_error
from flightdeck.core.errors import ConfigError
from flightdeck.core.paths import checkout_root

# Retention longer than a century is a typo; it would also overflow date arithmetic.
MAX_RETENTION_DAYS = 36_500


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLIGHTDECK_BACKUP_", extra="forbid")

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    database: str = "flightdeck"
    local_dir: Path = Path(".flightdeck/backups")
    metrics_dir: Path = Path(".flightdeck/metrics")
    # Encryption key: base64 of 32 bytes, or a file holding it. Never logged.
    key: SecretStr | None = None
    key_file: Path | None = None
    # Azure Blob Storage (or Azurite); empty connection string = local directory only.
    azure_connection_string: SecretStr | None = None
    # Azure's rule: 3..63 lower-case letters, digits and hyphens, starting and ending alphanumeric.
    azure_container: str = Field(
        default="flightdeck-backups", pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
    )
    azure_block_size: int = Field(default=8 * 1024 * 1024, gt=0, le=4000 * 1024 * 1024)
    azure_concurrency: int = Field(default=4, gt=0, le=64)
    azure_retries: int = Field(default=3, ge=0)
    azure_timeout_seconds: float = Field(default=30.0, gt=0)
    local_retention_days: float = Field(default=7, gt=0, le=MAX_RETENTION_DAYS)
    azure_retention_days: float = Field(default=30, gt=0, le=MAX_RETENTION_DAYS)
    schedule: str = "0 */6 * * *"
    compression_level: int = Field(default=3, ge=1, le=22)
    mongodump: str = "mongodump"
    mongorestore: str = "mongorestore"

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str) -> str:
        try:
            return check_database_name(value, "database name")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None


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
    env_file = platform_env_file()
    try:
        return BackupSettings(_env_file=env_file, **values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error("backup settings", exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{ENV_FILE_VARIABLE}={env_file}: cannot read: {reason}") from None
