"""One local platform shared by the end-to-end tests of a session (it takes seconds to start)."""

from collections.abc import Iterator

import pytest

from flightdeck.local.platform import LocalPlatform
from testsupport.platform import platform_from_file, write_platform_config


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    directory = tmp_path_factory.mktemp("platform")
    # A high rate limit: the routing tests send thousands of requests from one address.
    config = write_platform_config(
        directory, rate_limit={"requests_per_second": 5000, "burst": 5000}
    )
    started = platform_from_file(config)
    try:
        started.up()
    except BaseException:
        started.down()  # keep the logs in the temporary directory for the failure report
        raise
    yield started
    started.down(purge=True)
