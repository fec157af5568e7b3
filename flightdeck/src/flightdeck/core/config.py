"""Loading YAML configuration into pydantic models, with errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from flightdeck.core.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def describe_validation_error(source: str, error: ValidationError) -> str:
    """One line per problem: `source: field.path: message`."""
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{source}: {field}: {problem['msg']}")
    return "\n".join(lines)


def load_yaml_model(model: type[ModelT], path: Path | None) -> ModelT:
    """Read `path` (YAML) into `model`; no path means every default. Raises ConfigError."""
    if path is None:
        data: object = {}
        source = "defaults"
    else:
        source = str(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"{source}: no such file") from exc
        except IsADirectoryError as exc:
            raise ConfigError(f"{source}: is a directory, not a YAML file") from exc
        except OSError as exc:
            raise ConfigError(f"{source}: cannot be read: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{source}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                f"{exc.start})"
            ) from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(source, exc)) from exc
