"""The engines: where a rollout runs (`--target local|kubernetes`), each assembled in one place.

`engines/local.py` and `engines/kubernetes.py` are the composition roots: the only modules that
know which implementation of each provider family an engine uses, and the infrastructure under
it. Everything above (the CLI) asks these registries by the engine's name for a rollout Target
or for what `flightdeck validate` looks at (a ValidationTarget).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flightdeck.core.registry import Registry
from flightdeck.rollout.target import Target
from flightdeck.state import StateStore
from flightdeck.validate import ValidationTarget

engines: Registry[Target] = Registry("engine")
"""Factories `(config_path) -> Target`; `config_path` is the local platform's config file."""

validation_targets: Registry[ValidationTarget] = Registry("engine")
"""Factories `(config_path) -> ValidationTarget`, under the same names as `engines`."""

rollout_states: Registry[StateStore] = Registry("engine")
"""Factories `(config_path) -> StateStore`: only where an engine keeps its rollout records, for
commands that read them without driving a rollout (`metrics serve`)."""

TargetFactory = Callable[[Path | None], Target]


def _register_engines() -> None:
    # Importing the composition roots registers them; kubernetes imports its client lazily.
    from flightdeck.engines import kubernetes, local  # noqa: F401


def rollout_target(engine: str, config_path: Path | None) -> Target:
    """The rollout Target of `engine`; an unknown engine is a ConfigError naming the known ones."""
    _register_engines()
    return engines.create(engine, config_path)


def validation_target(engine: str, config_path: Path | None) -> ValidationTarget:
    """What `flightdeck validate` checks on `engine`; an unknown engine is a ConfigError."""
    _register_engines()
    return validation_targets.create(engine, config_path)


def rollout_state(engine: str, config_path: Path | None) -> StateStore:
    """Where `engine` keeps its rollout records."""
    _register_engines()
    return rollout_states.create(engine, config_path)
