"""A whole local platform (`flightdeck up`) on free loopback ports in a temporary directory."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from flightdeck.engines.local import LocalPlatform
from flightdeck.local.config import load_platform_config
from flightdeck.local.context import LocalContext
from testsupport.ports import free_port


def write_platform_config(directory: Path, **overrides: Any) -> Path:
    """A platform config with every fixed port free; `overrides` are merged into sections."""
    config: dict[str, Any] = {
        "run_dir": str(directory / "run"),
        "ports": {
            name: free_port()
            for name in (
                "https",
                "http",
                "prometheus",
                "alertmanager",
                "receiver",
                "mongodb",
                "azurite",
                "preview",
            )
        },
        "monitoring": {"scrape_interval_seconds": 1, "evaluation_interval_seconds": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            config[key] = {**config.get(key, {}), **value}
        else:
            config[key] = value
    path = directory / "flightdeck.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def running_platform(directory: Path, **overrides: Any) -> Iterator[LocalPlatform]:
    """A platform of its own, up for the block, then purged (its logs stay for a failed `up`).

    `overrides` are merged into the config's sections, as for `write_platform_config`.
    """
    started = platform_from_file(write_platform_config(directory, **overrides))
    try:
        started.up()
    except BaseException:
        started.down()  # keep the logs in the directory for the failure report
        raise
    try:
        yield started
    finally:
        started.down(purge=True)


def platform_from_file(path: Path) -> LocalPlatform:
    return LocalPlatform(LocalContext(load_platform_config(path, path.parent)))


@contextmanager
def benchmark_platform(
    directory: Path, scrape_seconds: int
) -> Iterator[tuple[LocalPlatform, Path]]:
    """`running_platform` set up for benchmarks: Prometheus scraping every `scrape_seconds`, the
    ingress rate limit out of the way, no backups. Yields the platform and its config file."""
    with running_platform(
        directory,
        monitoring={
            "scrape_interval_seconds": scrape_seconds,
            "evaluation_interval_seconds": scrape_seconds,
        },
        rate_limit={"requests_per_second": 5000, "burst": 5000},
        backup={"enabled": False},
    ) as platform:
        yield platform, directory / "flightdeck.yaml"


def trust_platform_ca(platform: LocalPlatform) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(platform.run_dir.tls / "ca.crt"))


def https_client(platform: LocalPlatform, **kwargs: Any) -> httpx.Client:
    """A client for the ingress that trusts only the platform's own CA."""
    return httpx.Client(
        base_url=f"https://localhost:{platform.config.ports.https}",
        verify=trust_platform_ca(platform),
        timeout=10,
        **kwargs,
    )
