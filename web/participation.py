"""The client's part on the pages: sign-off, proposals and comments from the portal, signed receipts to keep,
and the pm's grant of sign-off to a share link. Forms post, then redirect (post/redirect/get)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from delivery.errors import DeliveryError, NotFound
from projections import receipts
from web import auth, flash
from web.app import (
    _leave,
    _refusal,
    _status,
    comment_targets,
    redirect,
    render,
    services_of,
    translator,
)
from web.auth import PageError
from web.sessions import Session

router = APIRouter(include_in_schema=False)


def portal_extras(request: Request, session: Session, pid: str, views: dict[str, Any]) -> dict[str, Any]:
    """What the portal's participation sections show: comments, receipts, and whether the visitor may write."""
    reads = services_of(request).reads
    return {"comments": reads.comments(pid), "receipts": reads.receipts(pid), "takes_part": session.takes_part,
            "comment_targets": comment_targets(translator(request), views)}


def _portal_refused(request: Request, session: Session, pid: str, slot: str, exc: DeliveryError,
                    form: dict[str, str]) -> Response:
    """Post/redirect/get, as on the console: back to the portal at the form, its refusal and input kept
    for one showing (web/flash.py), so a reload never sends the refused form again."""
    response = redirect(f"/p/{pid}#{slot}")
    flash.leave(request, response, f"/p/{pid}", session.csrf, {
        "pid": pid, "slot": slot, "refusal": _refusal(request, exc), "values": form})
    return response


def portal_flash(request: Request, session: Session, pid: str) -> dict[str, Any]:
    """The refusal and input a refused portal form left for this page (empty when none)."""
    left = flash.take(request, session.csrf)
    if left is None or left.get("pid") != pid or not left.get("slot"):
        return {"errors": {}, "values": {}}
    slot = str(left["slot"])
    return {"errors": {slot: left.get("refusal")}, "values": {slot: left.get("values") or {}}}


def _participant(request: Request, project_id: str) -> tuple[Session, str]:
    session, pid = auth.require_project(request, project_id, "client")
    if not session.takes_part:
        raise PageError(403)  # a share link without sign-off rights stays read-only
    return session, pid


@router.post("/p/{project_id}/sign-off/{criterion_id}")
async def sign_off(request: Request, project_id: str, criterion_id: str) -> Response:
    session, pid = _participant(request, project_id)
    form = await auth.form_data(request)
    services = services_of(request)
    slot = f"signoff-{criterion_id[:16]}"
    try:
        recorded = services.app.sign_off_criterion(
            pid, criterion_id=criterion_id[:16], verdict=form.get("verdict", ""), comment=form.get("comment", ""),
            actor=session.principal.name)
        services.reads.wait_for(recorded.position)
    except DeliveryError as exc:
        return _portal_refused(request, session, pid, slot, exc, form)
    return redirect(f"/p/{pid}?done=signoff#signoff")


@router.post("/p/{project_id}/proposals")
async def propose(request: Request, project_id: str) -> Response:
    session, pid = _participant(request, project_id)
    form = await auth.form_data(request)
    services = services_of(request)
    try:
        recorded = services.app.propose_change(
            pid, title=form.get("title", ""), description=form.get("description", ""), tier=form.get("tier", ""),
            actor=session.principal.name)
        services.reads.wait_for(recorded.position)
    except DeliveryError as exc:
        return _portal_refused(request, session, pid, "propose", exc, form)
    return redirect(f"/p/{pid}?done=propose#proposals")


@router.post("/p/{project_id}/comments")
async def comment(request: Request, project_id: str) -> Response:
    session, pid = _participant(request, project_id)
    form = await auth.form_data(request)
    services = services_of(request)
    kind, _, target_id = form.get("target", "").partition(":")
    try:
        recorded = services.app.add_comment(pid, target_kind=kind, target_id=target_id, text=form.get("text", ""),
                                            actor=session.principal.name)
        services.reads.wait_for(recorded.position)
    except DeliveryError as exc:
        return _portal_refused(request, session, pid, "comment", exc, form)
    return redirect(f"/p/{pid}?done=comment#comments")


# ----------------------------------------------------------------- receipts


def _receipt(request: Request, project_id: str, version: str) -> tuple[str, dict[str, Any]]:
    _session, pid = auth.require_project(request, project_id)
    if not (version.isascii() and version.isdigit() and 0 < len(version) <= 9):
        raise PageError(404)
    services = services_of(request)
    try:
        key = receipts.signing_key(services.database)
        return pid, receipts.issue(services.app, services.reads.store, pid, int(version), key)
    except NotFound:
        raise PageError(404) from None
    except DeliveryError as exc:
        raise PageError(_status(exc), exc) from None


@router.get("/p/{project_id}/receipts/{version}.json")
def receipt_file(request: Request, project_id: str, version: str) -> Response:
    """The signed receipt as a file to keep (the same bytes at every download)."""
    pid, document = _receipt(request, project_id, version)
    return Response(json.dumps(document, indent=2, ensure_ascii=False) + "\n", media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="receipt-{pid}-v{version}.json"',
                             "Cache-Control": "no-store"})


@router.get("/p/{project_id}/receipts/{version}")
def receipt_page(request: Request, project_id: str, version: str) -> Response:
    """The receipt as a printable page: what was decided, by whom and when, and what was signed."""
    pid, document = _receipt(request, project_id, version)
    summary = services_of(request).reads.summary(pid)
    statement = document["statement"]
    return render(request, "receipt.html", pid=pid, summary=summary, receipt=document, statement=statement,
                  event=statement["event"], data_lines=sorted(statement["event"]["data"].items()))


@router.get("/receipts/public-key.pem")
def receipt_key(request: Request) -> Response:
    """The public key receipts are signed with, to keep beside them."""
    auth.require(request)
    try:
        key = receipts.signing_key(services_of(request).database)
    except DeliveryError as exc:
        raise PageError(_status(exc), exc) from None
    return Response(receipts.public_pem(key), media_type="application/x-pem-file", headers={
        "Content-Disposition": 'attachment; filename="delivery-receipts.pub"', "Cache-Control": "no-store"})


# --------------------------------------------------------------------- pm


@router.post("/pm/p/{project_id}/share/{link_id}/signer")
async def grant_signoff(request: Request, project_id: str, link_id: str) -> Response:
    """Let a share link sign off (and propose and comment) under the name the pm gives."""
    session, pid = auth.require_project(request, project_id, "pm")
    form = await auth.form_data(request)
    try:
        auth.store(request).grant_signoff(pid, link_id[:16], signer=form.get("signer", ""),
                                          granted_by=session.principal.name)
    except NotFound:
        raise PageError(404) from None
    except DeliveryError as exc:
        return _leave(request, session, pid, "participation", {
            "kind": "refused", "command": "grant", "refusal": _refusal(request, exc),
            "values": {**form, "link_id": link_id[:16]}})
    return _leave(request, session, pid, "participation", {"kind": "done", "command": "grant"})
