"""Steady HTTP traffic through a local platform's ingress (flightdeck's own load generator)."""

from __future__ import annotations

from flightdeck.core.loadgen import LoadGenerator
from flightdeck.engines.local import LocalPlatform
from testsupport.platform import trust_platform_ca


def Traffic(
    platform: LocalPlatform,
    rate: float = 20,
    headers: dict[str, str] | None = None,
    path: str = "/api/version",
) -> LoadGenerator:
    return LoadGenerator(
        f"https://localhost:{platform.config.ports.https}",
        trust_platform_ca(platform),
        rate=rate,
        headers=headers,
        path=path,
    )
