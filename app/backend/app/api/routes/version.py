"""The build this process runs: what a rollout checks after switching traffic."""

from __future__ import annotations

from app.api.deps import BackendDep, api_router
from app.models import Version

router = api_router("", "version")


@router.get("/version")
async def version(backend: BackendDep) -> Version:
    settings = backend.settings
    return Version(
        version=settings.app_version, track=settings.app_track, commit=settings.app_commit
    )
