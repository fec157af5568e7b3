"""The build this process runs: what a rollout checks after switching traffic."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import BackendDep
from app.models import Version

router = APIRouter(tags=["version"])


@router.get("/version")
async def version(backend: BackendDep) -> Version:
    settings = backend.settings
    return Version(
        version=settings.app_version, track=settings.app_track, commit=settings.app_commit
    )
