"""Health: liveness, readiness and start-up, all under /health (see docs/backend.md).

- /health/live never touches MongoDB: a database outage must not make Kubernetes restart
  every pod; it only says the event loop answers.
- /health/ready pings MongoDB within READINESS_TIMEOUT_SECONDS and answers 503 with the reason
  when the ping fails or start-up is not finished, so the pod leaves the Service endpoints.
- /health/startup is 503 until start-up work (database reachable, indexes created) is done.
- /health is readiness: the single endpoint of the architecture document.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from app.api.deps import BackendDep
from app.db import describe
from app.models import HealthStatus

router = APIRouter(prefix="/health", tags=["health"])

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: {"model": HealthStatus}
}


def _unavailable(body: HealthStatus) -> JSONResponse:
    return JSONResponse(
        body.model_dump(),
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/live")
async def live() -> HealthStatus:
    return HealthStatus(status="ok")


@router.get("/startup", responses=UNAVAILABLE, response_model=HealthStatus)
async def startup(backend: BackendDep) -> HealthStatus | JSONResponse:
    if not backend.startup.done:
        return _unavailable(HealthStatus(status="starting", reason=backend.startup.reason))
    return HealthStatus(status="started")


async def _readiness(backend: BackendDep) -> HealthStatus | JSONResponse:
    if not backend.startup.done:
        reason = f"start-up not finished: {backend.startup.reason}"
        return _unavailable(HealthStatus(status="unavailable", reason=reason))
    timeout = backend.settings.readiness_timeout_seconds
    try:
        # pymongo.timeout bounds the server selection too; wait_for is the outer guarantee.
        await asyncio.wait_for(backend.db.ping(timeout), timeout + 0.5)
    except (PyMongoError, TimeoutError) as error:
        reason = f"mongodb ping failed: {describe(error)}"
        return _unavailable(HealthStatus(status="unavailable", reason=reason))
    return HealthStatus(status="ready")


router.add_api_route(
    "/ready",
    _readiness,
    methods=["GET"],
    responses=UNAVAILABLE,
    response_model=HealthStatus,
    name="ready",
)
router.add_api_route(
    "",
    _readiness,
    methods=["GET"],
    responses=UNAVAILABLE,
    response_model=HealthStatus,
    name="health",
    summary="Readiness: the one /health endpoint probes and load balancers call",
)
