"""The audit log: every event of a project in the order it was recorded (pm and auditor)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import HistoryReader, ProjectId, ServicesDep
from api.errors import responses
from projections.events import EVENT_TYPES
from projections.models import AuditPage

router = APIRouter(prefix="/projects/{project_id}", tags=["audit"])

# The event types a project records, as the schema's enum (the classes nested in `Project`).
EventType = StrEnum("EventType", {name: name for name in sorted(EVENT_TYPES)})  # type: ignore[misc]


@router.get("/events", response_model=AuditPage, responses=responses(401, 403, 404, 422))
def events(
    services: ServicesDep,
    _reader: HistoryReader,
    project_id: ProjectId,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 100,
    cursor: Annotated[int | None, Query(ge=0, le=2**62, description="`next_cursor` of the previous page.")] = None,
    type: Annotated[list[EventType] | None, Query(
        max_length=40, description="Only events of these types (repeat for several), e.g. `StageAdvanced`.")] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=120,
                                       description="Only events recorded by this actor (exact name).")] = None,
) -> AuditPage:
    """One page of the project's events (all, or of the given types and actor) with who recorded each and when."""
    types = [t.value for t in type or ()]
    return services.reads.audit_log(project_id, after=cursor or 0, limit=limit, types=types, actor=actor)
