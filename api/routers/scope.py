"""Scope items: the features the client bought, changed freely until the baseline freezes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import ProjectId, Write
from api.errors import responses
from api.schemas import RetitleIn, ScopeItemIn, WriteResult

router = APIRouter(prefix="/projects/{project_id}/scope-items", tags=["scope"])

ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
ItemId = Annotated[str, Path(min_length=1, max_length=16, examples=["S1"])]


@router.post("", status_code=201, response_model=WriteResult, responses=ERRORS)
def add_scope_item(write: Write, project_id: ProjectId, body: ScopeItemIn) -> JSONResponse:
    """Add a scope item (research and solution only; 409 scope_frozen after the baseline)."""
    return write(write.services.app.add_scope_item, project_id, body, status=201)


@router.delete("/{item_id}", response_model=WriteResult, responses=ERRORS)
def remove_scope_item(write: Write, project_id: ProjectId, item_id: ItemId) -> JSONResponse:
    """Remove a scope item (research and solution only; 409 scope_frozen after the baseline)."""
    return write(write.services.app.remove_scope_item, project_id, item_id=item_id)


@router.post("/{item_id}/deliver", response_model=WriteResult, responses=ERRORS)
def deliver_scope_item(write: Write, project_id: ProjectId, item_id: ItemId) -> JSONResponse:
    """Mark a scope item delivered."""
    return write(write.services.app.deliver_scope_item, project_id, item_id=item_id)


@router.post("/{item_id}/retitle", response_model=WriteResult, responses=ERRORS)
def retitle_scope_item(write: Write, project_id: ProjectId, item_id: ItemId, body: RetitleIn) -> JSONResponse:
    """Correct a scope item's title (unique like a new one); 409 scope_frozen for a baseline item."""
    return write(write.services.app.retitle_scope_item, project_id, body, item_id=item_id)
