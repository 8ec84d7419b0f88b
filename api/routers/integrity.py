"""The auditors' tools over HTTP: the chain's verdict, the JSON Lines export, a diff between two moments, feeds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from api.deps import MOMENT_SCHEMA, CurrentUser, HistoryReader, ProjectId, ServicesDep, parse_moment
from api.errors import responses
from delivery import clock
from projections import feeds
from projections.diff import ProjectDiff, diff
from projections.export import export_lines
from projections.integrity import Verifier

router = APIRouter(prefix="/projects/{project_id}", tags=["integrity"])

ERRORS = responses(401, 403, 404, 422)

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def _moment(field: str, value: str | None, default: datetime) -> datetime:
    return default if value is None else parse_moment(field, value)


class IntegrityVerdict(BaseModel):
    """The project's hash chain recomputed from its stored events and compared with the recorded links."""

    valid: bool
    events: int
    head: str
    first_bad: dict[str, Any] | None
    unchained: int


@router.get("/integrity", response_model=IntegrityVerdict, responses=ERRORS)
def integrity(services: ServicesDep, _reader: HistoryReader, project_id: ProjectId) -> IntegrityVerdict:
    """Whether the project's history is whole and unaltered, and where it first is not."""
    verdict = Verifier(services.app, services.reads.store).project_chain(project_id)
    return IntegrityVerdict(valid=verdict.valid, events=verdict.events, head=verdict.head,
                            first_bad=verdict.first_bad, unchained=verdict.unchained)


@router.get("/export", response_class=StreamingResponse, responses={
    200: {"content": {"application/x-ndjson": {}}, "description": "A header line, then one event a line with "
          "its links (docs/audit.md)."}, **ERRORS,
})
def export(services: ServicesDep, _reader: HistoryReader, project_id: ProjectId) -> StreamingResponse:
    """The project's events as JSON Lines, each with its hash links, streamed."""
    lines = export_lines(services.app, services.reads.store, project_id)
    first = next(lines)  # before answering 200: an unknown project is a 404

    def body() -> Iterator[bytes]:
        yield first.encode("utf-8")
        for line in lines:
            yield line.encode("utf-8")

    return StreamingResponse(body(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="project-{project_id}.jsonl"',
    })


@router.get("/diff", response_model=ProjectDiff, response_model_by_alias=True, responses=ERRORS)
def project_diff(
    services: ServicesDep, _reader: HistoryReader, project_id: ProjectId,
    start: Annotated[str | None, Query(
        alias="from", max_length=40, json_schema_extra=MOMENT_SCHEMA,
        description="ISO 8601 (UTC when no offset); default: before the project began.",
        examples=["2026-11-01T00:00:00Z"],
    )] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40, json_schema_extra=MOMENT_SCHEMA,
                                     description="ISO 8601; default now.")] = None,
) -> ProjectDiff:
    """What changed in each view between two moments, with the events that did it."""
    return diff(services.reads, project_id, _moment("from", start, BEGINNING), _moment("to", end, clock.now()))




CsvView = Literal["milestones", "checklist", "change-requests", "releases", "events"]


@router.get("/export.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "One view as CSV."}, **ERRORS,
})
def export_csv(
    services: ServicesDep, _reader: HistoryReader, project_id: ProjectId,
    view: Annotated[CsvView, Query(description="Which view.")] = "milestones",
) -> Response:
    """One of the project's views as CSV."""
    out = io.StringIO()
    feeds.write_csv(services.reads, view, project_id, clock.now(), out)
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="project-{project_id}-{view}.csv"',
    })


@router.get("/milestones.ics", response_class=Response, responses={
    200: {"content": {"text/calendar": {}}, "description": "An iCalendar feed of the milestones."},
    **responses(401, 404, 422),
})
def milestones_ics(services: ServicesDep, _user: CurrentUser, project_id: ProjectId) -> Response:
    """The project's milestones as an iCalendar feed (anyone who may see the project)."""
    return Response(feeds.milestones_ics(services.reads, project_id, clock.now()),
                    media_type="text/calendar; charset=utf-8")
