"""One supervised program from its launch file (`python -m flightdeck.local.launch FILE DIGEST`).

supervisord's program files name only this launcher, the launch file (JSON: command, directory,
environment) and the file's SHA-256 digest; see `supervisor.Program`. The launcher checks the
digest (a launch file that changed behind supervisord's back is refused), changes directory,
adds the environment to its own and replaces itself with the command, keeping its pid, so that
supervisord's signals reach the program itself.

Only the standard library is imported: this runs before every backend replica starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import NoReturn


def main(argv: list[str]) -> NoReturn:
    """Become the program, or exit saying why not."""
    if len(argv) != 2:
        sys.stderr.write("usage: python -m flightdeck.local.launch LAUNCH_FILE sha256:DIGEST\n")
        sys.exit(2)
    path, expected = argv
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        sys.stderr.write(f"launch: cannot read {path}: {exc.strerror}\n")
        sys.exit(1)
    actual = "sha256:" + hashlib.sha256(content).hexdigest()
    if actual != expected:
        sys.stderr.write(f"launch: {path} changed since its program was defined; refusing\n")
        sys.exit(1)
    spec = json.loads(content)
    command: list[str] = spec["command"]
    environment = {**os.environ, **spec["environment"]}
    os.chdir(spec["directory"])
    os.execvpe(command[0], command, environment)  # noqa: S606 (our own command, in argv form)


if __name__ == "__main__":
    main(sys.argv[1:])
