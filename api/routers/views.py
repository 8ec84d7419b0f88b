"""The project's views: milestones, checklist, change log with drift, releases, forecast; each as of a moment too.

The live views are answered from bytes the read side keeps until the project's next
event (async routes: a cached answer costs no thread hand-off); *as of* views fold
from the nearest view snapshot in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AsOf, ProjectId, ServicesDep
from api.errors import responses
from delivery import clock
from projections.models import ChangeLog, Checklist, MilestoneList, ProjectForecast, ReleaseList
from projections.service import ReadSide

router = APIRouter(prefix="/projects/{project_id}", tags=["views"])

ERRORS = responses(401, 403, 404, 422)


async def answer(reads: ReadSide, view: str, project_id: str, as_of: datetime | None) -> Response:
    now = clock.now()
    if as_of is None:
        body = reads.kept_encoded(view, project_id, now)
        if body is None:
            body = await run_in_threadpool(reads.encoded, view, project_id, now)
        return Response(body, media_type="application/json")
    model = await run_in_threadpool(partial(reads.view, view, project_id, now=now, as_of=as_of))
    return Response(model.model_dump_json(), media_type="application/json")


@router.get("/milestones", response_model=MilestoneList, responses=ERRORS)
async def milestones(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> Response:
    """Every milestone with its status (planned, in progress, at risk, late, done) and slip."""
    return await answer(services.reads, "milestones", project_id, as_of)


@router.get("/checklist", response_model=Checklist, responses=ERRORS)
async def checklist(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> Response:
    """The acceptance checklist per stage and milestone, with each stage's gate."""
    return await answer(services.reads, "checklist", project_id, as_of)


@router.get("/change-requests", response_model=ChangeLog, responses=ERRORS)
async def change_requests(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> Response:
    """Every change request with its trail, and the drift summary against the baseline."""
    return await answer(services.reads, "change-requests", project_id, as_of)


@router.get("/releases", response_model=ReleaseList, responses=ERRORS)
async def releases(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> Response:
    """Every release with its ramp, pauses, rollbacks, observations and time at each step."""
    return await answer(services.reads, "releases", project_id, as_of)


@router.get("/forecast", response_model=ProjectForecast, responses=ERRORS)
async def forecast(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> Response:
    """P50 and P80 completion dates of each open milestone and of launch, with the evidence they rest on."""
    model = await run_in_threadpool(partial(services.reads.forecast, project_id, now=clock.now(), as_of=as_of))
    return Response(model.model_dump_json(), media_type="application/json")
