"""The client takes part: signs off criteria, proposes changes, comments; and keeps signed receipts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import AsOf, ClientWrite, CurrentUser, ParticipantWrite, ProjectId, ServicesDep, Write
from api.errors import responses
from api.schemas import (
    AcceptProposalIn,
    CommentIn,
    ProposalIn,
    ReasonIn,
    ReceiptCheck,
    ReceiptIn,
    SignOffIn,
    WriteResult,
)
from delivery.errors import NotFound
from projections import receipts
from projections.models import CommentList, ReceiptList

router = APIRouter(prefix="/projects/{project_id}", tags=["client participation"])
keys = APIRouter(prefix="/receipts", tags=["client participation"])

ERRORS = responses(401, 403, 404, 409, 412, 413, 422, 503)
READ_ERRORS = responses(401, 403, 404, 422)
CriterionId = Annotated[str, Path(min_length=1, max_length=16, examples=["AC1"])]
ProposalId = Annotated[str, Path(min_length=1, max_length=16, examples=["P1"])]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, examples=[42])]


@router.post("/criteria/{criterion_id}/sign-off", response_model=WriteResult, responses=ERRORS)
def sign_off(write: ClientWrite, project_id: ProjectId, criterion_id: CriterionId, body: SignOffIn) -> JSONResponse:
    """The client verifies or rejects (with a comment) a criterion that asks for its sign-off."""
    return write(write.services.app.sign_off_criterion, project_id, body, criterion_id=criterion_id)


@router.post("/proposals", status_code=201, response_model=WriteResult, responses=ERRORS)
def propose_change(write: ClientWrite, project_id: ProjectId, body: ProposalIn) -> JSONResponse:
    """The client proposes a change; the change log shows it as proposed until the pm decides."""
    return write(write.services.app.propose_change, project_id, body, status=201)


@router.post("/proposals/{proposal_id}/accept", status_code=201, response_model=WriteResult, responses=ERRORS)
def accept_proposal(write: Write, project_id: ProjectId, proposal_id: ProposalId,
                    body: AcceptProposalIn) -> JSONResponse:
    """The pm raises a change request from a proposal, with its impact (answers the change request's id)."""
    fields = body.model_dump(exclude={"impact"})
    return write(write.services.app.accept_change_proposal, project_id, body, status=201, fields=fields,
                 proposal_id=proposal_id, schedule_days=body.impact.schedule_days, cost=body.impact.cost)


@router.post("/proposals/{proposal_id}/decline", response_model=WriteResult, responses=ERRORS)
def decline_proposal(write: Write, project_id: ProjectId, proposal_id: ProposalId, body: ReasonIn) -> JSONResponse:
    """The pm declines a proposal with a reason the client sees."""
    return write(write.services.app.decline_change_proposal, project_id, body, proposal_id=proposal_id)


@router.post("/comments", status_code=201, response_model=WriteResult, responses=ERRORS)
def add_comment(write: ParticipantWrite, project_id: ProjectId, body: CommentIn) -> JSONResponse:
    """A plain-text comment by the pm or the client on a milestone, a criterion or a change request."""
    return write(write.services.app.add_comment, project_id, body, status=201)


@router.get("/comments", response_model=CommentList, responses=READ_ERRORS)
async def comments(
    services: ServicesDep, project_id: ProjectId, as_of: AsOf,
    target_kind: Annotated[str | None, Query(pattern="^(milestone|criterion|change_request)$")] = None,
    target_id: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
) -> CommentList:
    """The project's comments in the order written, with author and time (optionally those on one target)."""
    return await run_in_threadpool(lambda: services.reads.comments(
        project_id, target_kind=target_kind, target_id=target_id, as_of=as_of))


@router.get("/receipts", response_model=ReceiptList, responses=READ_ERRORS)
async def receipt_list(services: ServicesDep, project_id: ProjectId) -> ReceiptList:
    """The sign-offs and change decisions a signed receipt can be downloaded for."""
    return await run_in_threadpool(services.reads.receipts, project_id)


@router.get("/receipts/{version}", responses={
    200: {"content": {"application/json": {}}, "description": "The signed receipt (docs/audit.md)."},
    **responses(401, 403, 404, 409, 422, 503),
})
def receipt(services: ServicesDep, project_id: ProjectId, version: Version) -> JSONResponse:
    """The signed receipt of the project's event at `version` (409 when the store no longer agrees with its links)."""
    key = receipts.signing_key(services.database)
    document = receipts.issue(services.app, services.reads.store, project_id, version, key)
    return JSONResponse(document, headers={
        "Content-Disposition": f'attachment; filename="receipt-{project_id}-v{version}.json"',
    })


@keys.get("/public-key", response_class=Response, responses={
    200: {"content": {"text/plain": {}}, "description": "The server's Ed25519 public key (PEM)."},
    **responses(401, 503),
})
def public_key(services: ServicesDep, _user: CurrentUser) -> PlainTextResponse:
    """The public key receipts are signed with: keep a copy to check receipts without this server."""
    return PlainTextResponse(receipts.public_pem(receipts.signing_key(services.database)))


@keys.post("/verify", response_model=ReceiptCheck, responses=responses(401, 404, 413, 422, 503))
def verify_receipt(services: ServicesDep, user: CurrentUser, body: ReceiptIn) -> ReceiptCheck:
    """Whether the signature holds under the server's key and the store still holds that history."""
    key = receipts.signing_key(services.database)
    try:
        statement = receipts.open_receipt(body.model_dump(), key.public_key())
    except ValueError as exc:
        return ReceiptCheck(holds=False, signature_valid=False, reason=f"receipt not accepted: {exc}")
    if not user.may_see(str(statement["project_id"])):
        raise NotFound("project", statement["project_id"])
    return ReceiptCheck(signature_valid=True, **receipts.check(services.app, services.reads.store, statement))

