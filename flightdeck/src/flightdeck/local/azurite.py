"""Running Azurite (Microsoft's Azure Storage emulator, npm package `azurite`) as the local
blob endpoint: the command line, its environment and the matching connection string.

Azurite's built-in development account has a key published in Microsoft's documentation; we
never use it. Each platform or test run generates its own account key and hands it to Azurite
through `AZURITE_ACCOUNTS`.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from flightdeck.core.paths import repo_root

DEFAULT_ACCOUNT = "flightdeck"


def azurite_blob() -> Path:
    """The azurite-blob command that `make setup` installs with npm into the checkout."""
    return repo_root("Azurite") / "tools" / "node" / "node_modules" / ".bin" / "azurite-blob"


def generate_account_key() -> str:
    """A fresh random storage account key (base64 of 64 bytes, like Azure's)."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


def azurite_command(
    location: Path, port: int, host: str = "127.0.0.1", binary: Path | None = None
) -> list[str]:
    """The blob-only Azurite command line, keeping its data and debug log under `location`."""
    return [
        str(binary or azurite_blob()),
        "--blobHost",
        host,
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]


def azurite_environment(account: str, key: str) -> dict[str, str]:
    """Environment variables (to add to the parent's) that make Azurite accept our account."""
    return {"AZURITE_ACCOUNTS": f"{account}:{key}"}


def azurite_connection_string(account: str, key: str, port: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint=http://{host}:{port}/{account};"
    )
