"""Backups on the local platform: Azurite as the blob endpoint and the scheduled runner.

Secrets are generated once and kept in `secrets/` (mode 0600): Azurite's account key (never the
well-known development key) and the backup encryption key. Losing the encryption key means losing
every backup made with it: copy `secrets/backup.key` somewhere safe.

`backup.env` in the run directory holds the FLIGHTDECK_BACKUP_* settings of this platform;
`flightdeck backup ...` reads it, so backups, verify and restore work without exporting anything.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from flightdeck.core.errors import ConfigError
from flightdeck.core.files import write_atomically
from flightdeck.core.validation import control_characters
from flightdeck.local.azurite import (
    DEFAULT_ACCOUNT,
    azurite_connection_string,
    generate_account_key,
)
from flightdeck.local.context import LocalContext

ENV_FILE = "backup.env"


def azurite_account_key(context: LocalContext) -> str:
    return context.run_dir.secret("azurite-account-key", generate_account_key)


def backup_key_file(context: LocalContext) -> Path:
    context.run_dir.secret("backup.key", lambda: base64.b64encode(secrets.token_bytes(32)).decode())
    return context.run_dir.root / "secrets" / "backup.key"


def backup_environment(context: LocalContext) -> dict[str, str]:
    """The FLIGHTDECK_BACKUP_* settings of the local platform."""
    config, run_dir = context.config, context.run_dir
    connection = config.azure_connection_string or azurite_connection_string(
        DEFAULT_ACCOUNT, azurite_account_key(context), config.ports.azurite
    )
    return {
        "FLIGHTDECK_BACKUP_MONGODB_URI": config.mongodb_uri,
        "FLIGHTDECK_BACKUP_DATABASE": config.database.name,
        "FLIGHTDECK_BACKUP_LOCAL_DIR": str(run_dir.root / "backups"),
        "FLIGHTDECK_BACKUP_METRICS_DIR": str(run_dir.metrics),
        "FLIGHTDECK_BACKUP_KEY_FILE": str(backup_key_file(context)),
        "FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING": connection,
        "FLIGHTDECK_BACKUP_SCHEDULE": config.backup.schedule,
    }


def dotenv_line(key: str, value: str) -> str:
    """`KEY='value'` that python-dotenv (pydantic-settings' reader) reads back as exactly `value`.

    Single quotes with `\\` and `\'` escaped. dotenv expands `${NAME}` even there and has no
    escape for it, and a control character would end the line: both are refused.
    """
    if control_characters(value) or "${" in value:
        raise ConfigError(
            f"{key}: a value for {ENV_FILE} cannot contain control characters or '${{'"
        )
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"{key}='{escaped}'"


def write_backup_env(context: LocalContext) -> Path:
    path = context.run_dir.root / ENV_FILE
    lines = [dotenv_line(key, value) for key, value in sorted(backup_environment(context).items())]
    write_atomically(path, "\n".join(lines) + "\n", mode=0o600)
    return path
