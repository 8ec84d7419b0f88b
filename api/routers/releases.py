"""Gradual releases: planned with a ramp, started, observed, advanced, paused, resumed, rolled back, completed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import ProjectId, Write
from api.errors import responses
from api.schemas import ObservationIn, ReasonIn, ReleaseIn, WriteResult

router = APIRouter(prefix="/projects/{project_id}/releases", tags=["releases"])

ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
ReleaseId = Annotated[str, Path(min_length=1, max_length=16, examples=["R1"])]


@router.post("", status_code=201, response_model=WriteResult, responses=ERRORS)
def plan_release(write: Write, project_id: ProjectId, body: ReleaseIn) -> JSONResponse:
    """Plan a release with its ramp of audience percentages and health checks (trial and launch)."""
    return write(write.services.app.plan_release, project_id, body, status=201)


@router.post("/{release_id}/start", response_model=WriteResult, responses=ERRORS)
def start_release(write: Write, project_id: ProjectId, release_id: ReleaseId) -> JSONResponse:
    """Start the ramp at its first step."""
    return write(write.services.app.start_release, project_id, release_id=release_id)


@router.post("/{release_id}/observations", response_model=WriteResult, responses=ERRORS)
def record_observation(write: Write, project_id: ProjectId, release_id: ReleaseId,
                       body: ObservationIn) -> JSONResponse:
    """Record health metrics observed at the current step."""
    return write(write.services.app.record_observation, project_id, body, release_id=release_id)


@router.post("/{release_id}/advance", response_model=WriteResult, responses=ERRORS)
def advance_release(write: Write, project_id: ProjectId, release_id: ReleaseId) -> JSONResponse:
    """Move to the next step; 409 release_unhealthy past a failing observation."""
    return write(write.services.app.advance_release, project_id, release_id=release_id)


@router.post("/{release_id}/pause", response_model=WriteResult, responses=ERRORS)
def pause_release(write: Write, project_id: ProjectId, release_id: ReleaseId, body: ReasonIn) -> JSONResponse:
    """Pause the ramp with a reason."""
    return write(write.services.app.pause_release, project_id, body, release_id=release_id)


@router.post("/{release_id}/resume", response_model=WriteResult, responses=ERRORS)
def resume_release(write: Write, project_id: ProjectId, release_id: ReleaseId) -> JSONResponse:
    """Resume a paused ramp."""
    return write(write.services.app.resume_release, project_id, release_id=release_id)


@router.post("/{release_id}/rollback", response_model=WriteResult, responses=ERRORS)
def roll_back_release(write: Write, project_id: ProjectId, release_id: ReleaseId, body: ReasonIn) -> JSONResponse:
    """Roll the release back with a reason."""
    return write(write.services.app.roll_back_release, project_id, body, release_id=release_id)


@router.post("/{release_id}/complete", response_model=WriteResult, responses=ERRORS)
def complete_release(write: Write, project_id: ProjectId, release_id: ReleaseId) -> JSONResponse:
    """Complete a release that has reached 100%."""
    return write(write.services.app.complete_release, project_id, release_id=release_id)
