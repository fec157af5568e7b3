"""A whole local platform (`flightdeck up`) on free loopback ports in a temporary directory."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
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


def platform_from_file(path: Path) -> LocalPlatform:
    return LocalPlatform(LocalContext(load_platform_config(path, path.parent)))


@contextlib.contextmanager
def benchmark_platform(
    directory: Path, scrape_seconds: int
) -> Iterator[tuple[LocalPlatform, Path]]:
    """A platform for benchmarks, up until the block ends (then purged): Prometheus scraping
    every `scrape_seconds`, the ingress rate limit out of the way, no backups. Yields the
    platform and its config file."""
    config = write_platform_config(
        directory,
        monitoring={
            "scrape_interval_seconds": scrape_seconds,
            "evaluation_interval_seconds": scrape_seconds,
        },
        rate_limit={"requests_per_second": 5000, "burst": 5000},
        backup={"enabled": False},
    )
    platform = platform_from_file(config)
    platform.up()
    try:
        yield platform, config
    finally:
        platform.down(purge=True)


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
