"""One pattern per kind of user-supplied string, shared by the CLI, the specs and the settings.

Every string a person or a CI job supplies (a version from a tag, a rollout name, a host name,
`--set` overrides, paths) is checked here where it enters, so that nothing downstream has to
wonder whether it can change the structure of a file another program parses. The patterns are
deliberately narrow: widening one is a design decision, not a bug fix.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StringConstraints

from flightdeck.core.errors import ConfigError

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"
"""A version label: a tag or a branch-derived name (`1.4.0`, `1.4.0-rc.1+build.7`), 128 at most."""

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""A rollout name: a DNS label, as it also names a ConfigMap and a Lease on Kubernetes."""

ENV_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
ENV_VALUE_MAX_LENGTH = 4096
RESERVED_ENV_KEYS = frozenset({"APP_VERSION", "APP_TRACK"})
"""Set by the platform from the rollout itself; an override would make a track lie about itself."""

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

# Characters that a generated file cannot carry safely in a path: whitespace splits supervisord's
# include globs, `;` and `#` start its inline comments, `%` is its expansion, `$` is nginx's
# variables, quotes, backslashes and braces are nginx's syntax.
_UNSAFE_PATH_CHARACTERS = frozenset(";#%$\"'\\{}`")


def control_characters(value: str) -> list[str]:
    """The control and line-separator characters in `value` (Unicode categories Cc, Zl, Zp)."""
    return sorted(
        {ch for ch in value if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch == "\x85"}
    )


def _describe(characters: list[str]) -> str:
    return ", ".join(repr(ch) for ch in characters)


def _no_control_characters(value: str) -> str:
    if found := control_characters(value):
        raise ValueError(f"must not contain control characters ({_describe(found)})")
    return value


def _host_name(value: str) -> str:
    name = value.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{value!r} is not a host name (letters, digits and hyphens in dot-separated labels)"
        )
    return name


def _safe_path(value: Path) -> Path:
    text = str(value)
    found = sorted(
        {ch for ch in text if ch in _UNSAFE_PATH_CHARACTERS or ch.isspace()}
        | set(control_characters(text))
    )
    if found:
        raise ValueError(
            f"{text!r} contains characters that generated configuration files cannot carry "
            f"({_describe(found)}); choose a path without whitespace, quotes or any of ;#%$\\{{}}`"
        )
    if any(len(part.encode()) > 255 for part in value.parts) or len(text.encode()) > 1024:
        raise ValueError("is too long (255 bytes per name, 1024 in all)")
    return value


_DURATION = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,9})?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_DURATION = timedelta(days=30)
"""No duration flightdeck takes (a rollout step, a timeout, a window) is longer: a larger value
is a typo (e.g. ms vs s)."""


def parse_duration(value: object) -> timedelta:
    """`90s`, `15m`, `1h`, `500ms` or a number of seconds; ValueError names what is wrong."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if abs(value) < 1e12 else float("inf")
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration (examples: 30s, 15m, 1h, 500ms)")
    if not seconds > 0:  # also refuses NaN
        raise ValueError("a duration must be positive")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{value!r} is longer than the longest allowed duration (30 days)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms"


Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
HostName = Annotated[str, AfterValidator(_host_name)]
EnvKey = Annotated[str, StringConstraints(pattern=ENV_KEY_PATTERN)]
EnvValue = Annotated[
    str, Field(max_length=ENV_VALUE_MAX_LENGTH), AfterValidator(_no_control_characters)
]
PlainText = Annotated[str, AfterValidator(_no_control_characters)]
SafePath = Annotated[Path, AfterValidator(_safe_path)]
Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]


def check_version(value: str, source: str = "--version") -> str:
    if not re.fullmatch(VERSION_PATTERN, value):
        raise ConfigError(
            f"{source} {value!r} is not a version: 1 to 128 letters, digits and . _ + -, "
            "starting with a letter or digit"
        )
    return value


def check_name(value: str, source: str = "--name") -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise ConfigError(
            f"{source} {value!r} is not a rollout name: lower-case letters, digits and '-', "
            "at most 63, starting and ending with a letter or digit"
        )
    return value


def parse_env_assignments(assignments: list[str], source: str = "--set") -> dict[str, str]:
    """`KEY=VALUE` strings into a mapping, refusing anything that is not a plain variable."""
    env: dict[str, str] = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        shown = assignment if len(assignment) <= 80 else assignment[:77] + "..."
        if not sep or not re.fullmatch(ENV_KEY_PATTERN, key):
            raise ConfigError(
                f"{source} {shown!r}: expected KEY=VALUE with KEY a variable name "
                "(letters, digits and _, not starting with a digit, at most 128)"
            )
        if key in RESERVED_ENV_KEYS:
            raise ConfigError(f"{source} {key}: set by the platform from the rollout, not by hand")
        if len(value) > ENV_VALUE_MAX_LENGTH:
            raise ConfigError(
                f"{source} {key}: the value is {len(value)} characters long "
                f"(at most {ENV_VALUE_MAX_LENGTH})"
            )
        if found := control_characters(value):
            raise ConfigError(
                f"{source} {key}: the value contains control characters ({_describe(found)})"
            )
        env[key] = value
    return env
