"""Acceptance criteria: added to a milestone, then verified (with evidence), rejected or waived."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import ProjectId, Write
from api.errors import responses
from api.schemas import CriterionIn, ReasonIn, RewordIn, VerifyIn, WriteResult

router = APIRouter(prefix="/projects/{project_id}", tags=["criteria"])

ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
MilestoneId = Annotated[str, Path(min_length=1, max_length=16, examples=["M1"])]
CriterionId = Annotated[str, Path(min_length=1, max_length=16, examples=["AC1"])]


@router.post("/milestones/{milestone_id}/criteria", status_code=201, response_model=WriteResult, responses=ERRORS)
def add_criterion(write: Write, project_id: ProjectId, milestone_id: MilestoneId, body: CriterionIn) -> JSONResponse:
    """Add an acceptance criterion, plain or measurable (metric, comparator, threshold, unit)."""
    return write(write.services.app.add_criterion, project_id, body, status=201, milestone_id=milestone_id)


@router.post("/criteria/{criterion_id}/verify", response_model=WriteResult, responses=ERRORS)
def verify_criterion(write: Write, project_id: ProjectId, criterion_id: CriterionId, body: VerifyIn) -> JSONResponse:
    """Verify a criterion with evidence; a measurable one needs a measured value that meets it."""
    return write(write.services.app.verify_criterion, project_id, body, criterion_id=criterion_id)


@router.post("/criteria/{criterion_id}/reject", response_model=WriteResult, responses=ERRORS)
def reject_criterion(write: Write, project_id: ProjectId, criterion_id: CriterionId, body: ReasonIn) -> JSONResponse:
    """Reject a criterion with a reason (it can be verified later)."""
    return write(write.services.app.reject_criterion, project_id, body, criterion_id=criterion_id)


@router.post("/criteria/{criterion_id}/waive", response_model=WriteResult, responses=ERRORS)
def waive_criterion(write: Write, project_id: ProjectId, criterion_id: CriterionId, body: ReasonIn) -> JSONResponse:
    """Waive a criterion with a reason."""
    return write(write.services.app.waive_criterion, project_id, body, criterion_id=criterion_id)


@router.post("/criteria/{criterion_id}/reword", response_model=WriteResult, responses=ERRORS)
def reword_criterion(write: Write, project_id: ProjectId, criterion_id: CriterionId, body: RewordIn) -> JSONResponse:
    """Correct a criterion's text (CriterionReworded); 409 invalid_state once it is verified."""
    return write(write.services.app.reword_criterion, project_id, body, criterion_id=criterion_id)
