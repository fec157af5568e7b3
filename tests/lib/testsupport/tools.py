"""Tools the tests need: a missing one fails the run with the way to get it, never a skip."""

from __future__ import annotations

import shutil

import pytest


def required_tool(name: str) -> str:
    """The path of `name` on PATH; fails the test when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: `make setup` (scripts/setup.sh) installs it", pytrace=False
        )
    return path
