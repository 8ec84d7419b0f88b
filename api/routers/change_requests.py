"""Change requests: raised against the frozen baseline, then approved, rejected, withdrawn, implemented."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import ProjectId, Write
from api.errors import responses
from api.schemas import ApproveIn, ChangeRequestIn, ReasonIn, WriteResult

router = APIRouter(prefix="/projects/{project_id}/change-requests", tags=["change requests"])

ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
ChangeRequestId = Annotated[str, Path(min_length=1, max_length=16, examples=["CR1"])]


@router.post("", status_code=201, response_model=WriteResult, responses=ERRORS)
def raise_change_request(write: Write, project_id: ProjectId, body: ChangeRequestIn) -> JSONResponse:
    """Raise a change request with its impact (schedule days, cost)."""
    fields = body.model_dump(exclude={"impact"})
    return write(write.services.app.raise_change_request, project_id, body, status=201, fields=fields,
                 schedule_days=body.impact.schedule_days, cost=body.impact.cost)


@router.post("/{change_request_id}/approve", response_model=WriteResult, responses=ERRORS)
def approve_change_request(write: Write, project_id: ProjectId, change_request_id: ChangeRequestId,
                           body: ApproveIn | None = None) -> JSONResponse:
    """Approve a change request; it counts as drift against the baseline."""
    return write(write.services.app.approve_change_request, project_id, body or ApproveIn(),
                 change_request_id=change_request_id)


@router.post("/{change_request_id}/reject", response_model=WriteResult, responses=ERRORS)
def reject_change_request(write: Write, project_id: ProjectId, change_request_id: ChangeRequestId,
                          body: ReasonIn) -> JSONResponse:
    """Reject a change request with a reason."""
    return write(write.services.app.reject_change_request, project_id, body, change_request_id=change_request_id)


@router.post("/{change_request_id}/withdraw", response_model=WriteResult, responses=ERRORS)
def withdraw_change_request(write: Write, project_id: ProjectId, change_request_id: ChangeRequestId) -> JSONResponse:
    """Withdraw a change request that is still pending."""
    return write(write.services.app.withdraw_change_request, project_id, change_request_id=change_request_id)


@router.post("/{change_request_id}/implement", response_model=WriteResult, responses=ERRORS)
def implement_change_request(write: Write, project_id: ProjectId, change_request_id: ChangeRequestId) -> JSONResponse:
    """Mark an approved change request implemented."""
    return write(write.services.app.implement_change_request, project_id, change_request_id=change_request_id)
