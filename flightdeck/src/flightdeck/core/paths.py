"""Where flightdeck finds the checkout it runs from (bin/, monitoring/, tools/ live there).

flightdeck also runs installed from its wheel (a virtual environment, the container image),
where there is no checkout: nothing is resolved at import time, and asking for a checkout-only
resource outside a checkout is a ConfigError that says so.
"""

from pathlib import Path

from flightdeck.core.errors import ConfigError


def checkout_root() -> Path | None:
    """The source checkout this package is imported from, or None when it is installed."""
    package = Path(__file__).resolve().parents[1]  # <root>/flightdeck/src/flightdeck in a checkout
    if package.parent.name != "src" or package.parent.parent.name != "flightdeck":
        return None
    root = package.parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def repo_root(needed_for: str = "this command") -> Path:
    """The checkout, or a ConfigError naming what needs it (e.g. the local platform)."""
    root = checkout_root()
    if root is None:
        raise ConfigError(
            f"{needed_for} needs a source checkout of flightdeck (bin/, monitoring/, tools/), "
            f"but flightdeck is installed at {Path(__file__).resolve().parents[1]}: run it from a "
            "clone of the repository after `make setup`"
        )
    return root


def repo_bin(name: str) -> Path | None:
    """A Go-built tool in the checkout's bin/ (made by `make setup`); None when installed."""
    root = checkout_root()
    return None if root is None else root / "bin" / name
