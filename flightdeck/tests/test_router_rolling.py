"""The router of a rolling-update release: stable serves, and nothing else can be routed."""

import pytest

from flightdeck.core.errors import PermanentError
from flightdeck.routers import Routing
from flightdeck.routers.rolling import RollingRelease

pytestmark = pytest.mark.unit


def test_stable_serves_everything() -> None:
    router = RollingRelease()
    assert router.current() == Routing(active="stable")
    router.apply(Routing())  # what it already does: nothing to change


@pytest.mark.parametrize(
    "routing",
    [
        Routing(canary_active=True, canary_weight=10),
        Routing(active="green"),
        Routing(preview="blue"),
    ],
)
def test_any_other_routing_is_refused(routing: Routing) -> None:
    with pytest.raises(PermanentError, match="rolling updates only"):
        RollingRelease().apply(routing)
