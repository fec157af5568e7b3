"""The routing of a release without a canary or blue-green tracks: stable serves everything.

A release updated by rolling updates only (the staging release of the pipeline's stage 4: the
chart with canary and blue-green off) has one route, to stable, that nothing switches. This
router says so to whoever asks which tracks serve (`flightdeck validate`); any other routing
is refused, since the release has no object that could carry it.
"""

from __future__ import annotations

from flightdeck.core.errors import PermanentError
from flightdeck.routers import Routing

STABLE_ONLY = Routing()


class RollingRelease:
    def current(self) -> Routing:
        return STABLE_ONLY

    def apply(self, routing: Routing) -> None:
        if routing != STABLE_ONLY:
            raise PermanentError(
                f"this release is updated by rolling updates only: it cannot route {routing} "
                "(install the chart with canary.enabled or blueGreen.enabled for that)"
            )
