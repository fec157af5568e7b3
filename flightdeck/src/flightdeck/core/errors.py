"""Errors as types: the engine decides retry vs. give up in one place.

The CLI maps them to exit codes:

- ConfigError: the user's input (flags, config file, spec) is wrong; exit code 2.
- RetryableError: a passing fault (a server not up yet, a timeout); try again later.
- PermanentError: retrying will not help (a missing binary, a corrupt backup).
"""


class FlightdeckError(Exception):
    """Base of every error flightdeck raises on purpose; its message is shown to the user."""

    exit_code = 1


class ConfigError(FlightdeckError):
    """Bad user input: a flag, a config file or a spec. The message names the field."""

    exit_code = 2


class RetryableError(FlightdeckError):
    """A passing fault; the same call may succeed later."""


class PermanentError(FlightdeckError):
    """A fault that retrying will not fix."""
