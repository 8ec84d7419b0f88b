"""Milestones: planned per stage with a due date, rescheduled with a reason, completed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import ProjectId, Write
from api.errors import responses
from api.schemas import CompleteMilestoneIn, DeliverablesIn, MilestoneIn, RescheduleIn, RetitleIn, WriteResult

router = APIRouter(prefix="/projects/{project_id}/milestones", tags=["milestones"])

ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
MilestoneId = Annotated[str, Path(min_length=1, max_length=16, examples=["M1"])]


@router.post("", status_code=201, response_model=WriteResult, responses=ERRORS)
def plan_milestone(write: Write, project_id: ProjectId, body: MilestoneIn) -> JSONResponse:
    """Plan a milestone for the current or a later stage."""
    return write(write.services.app.plan_milestone, project_id, body, status=201)


@router.post("/{milestone_id}/reschedule", response_model=WriteResult, responses=ERRORS)
def reschedule_milestone(write: Write, project_id: ProjectId, milestone_id: MilestoneId,
                         body: RescheduleIn) -> JSONResponse:
    """Move a milestone's due date; the old date and the reason stay in its history."""
    return write(write.services.app.reschedule_milestone, project_id, body, milestone_id=milestone_id)


@router.post("/{milestone_id}/complete", response_model=WriteResult, responses=ERRORS)
def complete_milestone(write: Write, project_id: ProjectId, milestone_id: MilestoneId,
                       body: CompleteMilestoneIn | None = None) -> JSONResponse:
    """Complete a milestone once its criteria are verified or waived."""
    return write(write.services.app.complete_milestone, project_id, body or CompleteMilestoneIn(),
                 milestone_id=milestone_id)


@router.post("/{milestone_id}/retitle", response_model=WriteResult, responses=ERRORS)
def retitle_milestone(write: Write, project_id: ProjectId, milestone_id: MilestoneId,
                      body: RetitleIn) -> JSONResponse:
    """Correct a milestone's title (MilestoneRetitled keeps the previous one)."""
    return write(write.services.app.retitle_milestone, project_id, body, milestone_id=milestone_id)


@router.post("/{milestone_id}/deliverables", response_model=WriteResult, responses=ERRORS)
def revise_deliverables(write: Write, project_id: ProjectId, milestone_id: MilestoneId,
                        body: DeliverablesIn) -> JSONResponse:
    """Replace a milestone's deliverables (DeliverablesRevised); 409 invalid_state once it is completed."""
    return write(write.services.app.revise_deliverables, project_id, body, milestone_id=milestone_id)
