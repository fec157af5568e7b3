"""The stores a backup goes to (local directory, Azure if configured) and what they hold."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError

from flightdeck.backup.manifest import (
    MANIFEST_SUFFIX,
    Manifest,
    VerifyRecord,
    check_backup_id,
    manifest_key,
    parse_manifest,
    verify_key,
)
from flightdeck.backup.settings import BackupSettings
from flightdeck.blobstore import BlobNotFoundError, BlobStore, create_blobstore
from flightdeck.core.errors import ConfigError, PermanentError, RetryableError


def open_stores(settings: BackupSettings) -> list[BlobStore]:
    """The local directory first, then Azure when a connection string is set."""
    stores = [create_blobstore("local", root=settings.local_dir)]
    if settings.azure_connection_string is not None:
        stores.append(
            create_blobstore(
                "azure",
                connection_string=settings.azure_connection_string.get_secret_value(),
                container=settings.azure_container,
                block_size=settings.azure_block_size,
                concurrency=settings.azure_concurrency,
                retries=settings.azure_retries,
                timeout=settings.azure_timeout_seconds,
            )
        )
    return stores


def pick_store(stores: list[BlobStore], name: str | None) -> BlobStore:
    if name is None:
        return stores[0]
    for store in stores:
        if store.kind == name:
            return store
    known = ", ".join(store.kind for store in stores)
    raise ConfigError(f"--from {name!r}: not a configured store (configured: {known})")


@dataclass
class Catalog:
    """Complete backups (those with a manifest) in one store, and their verify records.

    A manifest that does not parse makes its backup incomplete (not listed; pruned once past
    retention) and a verify record that does not parse counts as no verify; both are named in
    `problems`. Only the store itself failing (unreachable, unreadable) fails the load.
    """

    store: BlobStore
    manifests: dict[str, Manifest] = field(default_factory=dict)
    verified: dict[str, VerifyRecord] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, store: BlobStore) -> Catalog:
        catalog = cls(store, keys=store.list_keys())
        present = set(catalog.keys)
        for key in catalog.keys:
            if not key.endswith(MANIFEST_SUFFIX):
                continue
            try:
                manifest = parse_manifest(store.get(key), f"{store.describe()}: {key}")
            except PermanentError as exc:
                catalog.problems.append(f"{exc} (not listed)")
                continue
            catalog.manifests[manifest.id] = manifest
            if verify_key(manifest.id) in present:
                try:
                    record = VerifyRecord.model_validate_json(store.get(verify_key(manifest.id)))
                except ValidationError:
                    catalog.problems.append(
                        f"{store.describe()}: {verify_key(manifest.id)}: not a valid verify "
                        "record (counted as never verified)"
                    )
                    continue
                catalog.verified[manifest.id] = record
        return catalog

    def newest(self) -> list[Manifest]:
        return sorted(self.manifests.values(), key=lambda m: m.time, reverse=True)


def find_manifest(
    stores: list[BlobStore], backup_id: str, store_name: str | None
) -> tuple[BlobStore, Manifest]:
    """The backup `backup_id` (or "latest") from the named store, else the first that has it."""
    check_backup_id(backup_id)
    candidates = [pick_store(stores, store_name)] if store_name else stores
    if backup_id == "latest":
        best: tuple[BlobStore, Manifest] | None = None
        for store in candidates:
            newest = _load(store, candidates).newest()
            if newest and (best is None or newest[0].time > best[1].time):
                best = (store, newest[0])
        if best is None:
            raise ConfigError("no complete backup found (backup id 'latest')")
        return best
    for store in candidates:
        try:
            data = store.get(manifest_key(backup_id))
        except BlobNotFoundError:
            continue
        except RetryableError as exc:
            raise RetryableError(_other_stores_hint(str(exc), store, candidates)) from None
        return store, parse_manifest(data, f"{store.describe()}: {manifest_key(backup_id)}")
    where = " or ".join(store.describe() for store in candidates)
    raise ConfigError(f"backup id {backup_id!r}: no complete backup with that id in {where}")


def _load(store: BlobStore, candidates: list[BlobStore]) -> Catalog:
    try:
        return Catalog.load(store)
    except RetryableError as exc:
        raise RetryableError(_other_stores_hint(str(exc), store, candidates)) from None


def _other_stores_hint(message: str, down: BlobStore, candidates: list[BlobStore]) -> str:
    others = [store.kind for store in candidates if store is not down]
    return message + (f" (to read only another store: --from {others[0]})" if others else "")
