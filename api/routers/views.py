"""The project's views: milestones, checklist, change log with drift, releases; each can be seen as of a moment."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AsOf, ProjectId, ServicesDep
from api.errors import responses
from delivery import clock
from projections.models import ChangeLog, Checklist, MilestoneList, ReleaseList

router = APIRouter(prefix="/projects/{project_id}", tags=["views"])

ERRORS = responses(401, 403, 404, 422)


@router.get("/milestones", response_model=MilestoneList, responses=ERRORS)
def milestones(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> MilestoneList:
    """Every milestone with its status (planned, in progress, at risk, late, done) and slip."""
    return services.reads.milestones(project_id, now=clock.now(), as_of=as_of)


@router.get("/checklist", response_model=Checklist, responses=ERRORS)
def checklist(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> Checklist:
    """The acceptance checklist per stage and milestone, with each stage's gate."""
    return services.reads.checklist(project_id, as_of=as_of)


@router.get("/change-requests", response_model=ChangeLog, responses=ERRORS)
def change_requests(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> ChangeLog:
    """Every change request with its trail, and the drift summary against the baseline."""
    return services.reads.change_log(project_id, as_of=as_of)


@router.get("/releases", response_model=ReleaseList, responses=ERRORS)
def releases(services: ServicesDep, project_id: ProjectId, as_of: AsOf) -> ReleaseList:
    """Every release with its ramp, pauses, rollbacks, observations and time at each step."""
    return services.reads.releases(project_id, now=clock.now(), as_of=as_of)
