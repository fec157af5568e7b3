"""Where flightdeck finds the checkout it runs from (bin/, monitoring/, tools/ live there)."""

from pathlib import Path


def repo_root() -> Path:
    return Path(__file__).resolve().parents[4]


def repo_bin(name: str) -> Path:
    """A Go-built tool in bin/ (made by `make setup`)."""
    return repo_root() / "bin" / name
