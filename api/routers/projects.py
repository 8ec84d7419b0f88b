"""Projects: create, list (the portfolio), read the summary, move between stages, close the launch."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AsOf, CurrentUser, ProjectId, ServicesDep, Write, etag
from api.errors import responses
from api.schemas import (
    CurrencyIn,
    FunnelActualsIn,
    FunnelIn,
    PlanWaiverIn,
    ProjectCreate,
    RenameIn,
    StageId,
    TransitionIn,
    WriteResult,
)
from delivery import clock
from projections.models import PortfolioPage, ProjectSummary
from projections.portfolio import csv_lines as portfolio_csv_lines

router = APIRouter(prefix="/projects", tags=["projects"])

WRITE_ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
READ_ERRORS = responses(401, 403, 404, 422)


@router.post("", status_code=201, response_model=ProjectSummary, responses=responses(401, 403, 404, 409, 413, 422, 503))
def create_project(write: Write, body: ProjectCreate) -> JSONResponse:
    """Create a project in research; with a template, its plan is recorded in the same save."""
    return write(write.services.app.create_project, None, body, status=201, summary=True)


Stage = Annotated[StageId | None, Query(description="Only projects in this stage.")]
Health = Annotated[Literal["red", "amber", "green", "no_plan"] | None, Query(
    description="Only projects of this health (a launched project is green).")]
Client = Annotated[str | None, Query(min_length=1, max_length=120, description="Only this client (exact name).")]
Search = Annotated[str | None, Query(
    min_length=1, max_length=120, description="Only projects whose name or client contains this text, "
    "ignoring case (`newcomer` finds `Newcomer Retail`).")]
Sort = Annotated[Literal["name", "client", "health", "due", "stage", "days_in_stage", "open_criteria",
                         "pending", "drift"], Query(
    description="Order: name; client; health (red first); due (earliest next milestone first); stage "
    "(earliest first); days_in_stage (longest first); open_criteria, pending (change requests) and drift "
    "(most first). Ties by name. A cursor belongs to its order.",
)]


@router.get("", response_model=PortfolioPage, responses=responses(401, 404, 422))
async def list_projects(
    request: Request,
    services: ServicesDep,
    principal: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(
        min_length=1, max_length=400, pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page (opaque); one no page handed out answers 404.",
    )] = None,
    stage: Stage = None,
    health: Health = None,
    client: Client = None,
    q: Search = None,
    sort: Sort = "name",
) -> Response:
    """The portfolio in the chosen order (by name unless `sort` says otherwise); a client sees only its own."""
    project_ids = sorted(principal.projects) if principal.role == "client" else None
    if project_ids == []:
        return Response(PortfolioPage(items=[], next_cursor=None).model_dump_json(), media_type="application/json")
    reads = services.reads
    filters: dict[str, Any] = {"stage": stage, "health": health, "client": client, "q": q,
                               "project_ids": project_ids, "limit": limit, "cursor": cursor, "sort": sort}
    query = reads.portfolio_query(now=clock.now(), **filters)
    body = reads.cache.get("*", ("portfolio.json", query))
    if body is None:
        body = await run_in_threadpool(reads.portfolio_json, query)
    # The same query string is answered from the kept page before routing next time (api/fastpath.py).
    services.portfolio_queries.remember(
        request.scope["query_string"], tuple(project_ids) if project_ids is not None else None, filters)
    return Response(body, media_type="application/json")


@router.get("/portfolio.csv", response_class=Response, responses={
    200: {"content": {"text/csv": {}}, "description": "Every matching project, one CSV row each."},
    **responses(401, 422)})
def portfolio_csv(
    services: ServicesDep, principal: CurrentUser, stage: Stage = None, health: Health = None,
    client: Client = None, q: Search = None, sort: Sort = "name",
) -> Response:
    """The whole filtered portfolio (every page) as CSV in the chosen order; a client gets only its own."""
    project_ids = sorted(principal.projects) if principal.role == "client" else None
    rows = [] if project_ids == [] else services.reads.portfolio_all(
        now=clock.now(), stage=stage, health=health, client=client, q=q, project_ids=project_ids, sort=sort)
    return Response("".join(portfolio_csv_lines(rows)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="portfolio.csv"'})


@router.get("/{project_id}", response_model=ProjectSummary, responses=READ_ERRORS)
async def get_project(
    services: ServicesDep, project_id: ProjectId, as_of: AsOf, response: Response,
) -> ProjectSummary:
    """The project's summary: stage, version, stage history, scope and funnel."""
    summary: ProjectSummary | None = services.reads.cache.get(project_id, "summary") if as_of is None else None
    if summary is None:
        summary = await run_in_threadpool(services.reads.summary, project_id, as_of=as_of)
    response.headers["ETag"] = etag(summary.version)
    return summary


@router.post("/{project_id}/transitions", response_model=ProjectSummary, responses=WRITE_ERRORS)
def transition(write: Write, project_id: ProjectId, body: TransitionIn) -> JSONResponse:
    """Move the project to the next stage (gated) or back to an earlier one (with a reason)."""
    return write(write.services.app.transition, project_id, body, summary=True)


@router.post("/{project_id}/stage-plan-waivers", response_model=WriteResult, responses=WRITE_ERRORS)
def waive_stage_plan(write: Write, project_id: ProjectId, body: PlanWaiverIn) -> JSONResponse:
    """Let a stage pass without a milestone, with a reason (otherwise its gate says "no plan for this stage")."""
    return write(write.services.app.waive_stage_plan, project_id, body)


@router.post("/{project_id}/launch/complete", response_model=WriteResult, responses=WRITE_ERRORS)
def complete_launch(write: Write, project_id: ProjectId) -> JSONResponse:
    """Close the delivery once the launch gate holds; the record is closed to further commands."""
    return write(write.services.app.complete_launch, project_id)


@router.post("/{project_id}/funnel", response_model=WriteResult, responses=WRITE_ERRORS)
def define_funnel(write: Write, project_id: ProjectId, body: FunnelIn) -> JSONResponse:
    """Write the business loop as 3 to 5 funnel steps with their expected conversion (research, solution)."""
    return write(write.services.app.define_funnel, project_id, body)


@router.post("/{project_id}/funnel/actuals", response_model=WriteResult, responses=WRITE_ERRORS)
def record_funnel_actuals(write: Write, project_id: ProjectId, body: FunnelActualsIn) -> JSONResponse:
    """Record the measured conversion of each funnel step after launch."""
    return write(write.services.app.record_funnel_actuals, project_id, body)


@router.post("/{project_id}/currency", response_model=WriteResult, responses=WRITE_ERRORS)
def set_project_currency(write: Write, project_id: ProjectId, body: CurrencyIn) -> JSONResponse:
    """Set the currency of the project's costs (ProjectCurrencySet); 409 conflicting_input when unchanged."""
    return write(write.services.app.set_project_currency, project_id, body)


@router.post("/{project_id}/rename", response_model=WriteResult, responses=WRITE_ERRORS)
def rename_project(write: Write, project_id: ProjectId, body: RenameIn) -> JSONResponse:
    """Correct the project's name (ProjectRenamed keeps the previous one); 409 conflicting_input when unchanged."""
    return write(write.services.app.rename_project, project_id, body)
