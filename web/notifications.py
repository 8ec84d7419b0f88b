"""The pm's notifications page (subscriptions, delivery logs, dead letters) and the attention list's data."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from delivery import clock
from delivery.errors import DeliveryError, InvalidInput, NotFound
from delivery.messages import msg
from notify.kinds import KINDS
from notify.store import CHANNELS, AttentionItem
from web import auth
from web.app import _refusal, _status, add_global, redirect, render, services_of, translator
from web.auth import PageError

router = APIRouter(include_in_schema=False)
PAGE = "/pm/notifications"
ATTENTION_ITEMS = 50


def attention_items(request: Request) -> list[AttentionItem]:
    """The attention list for the portfolio page (a pm's only; one indexed read of its table)."""
    found = auth.session(request)
    if found is None or found.principal.role != "pm":
        return []
    return services_of(request).notices.attention(ATTENTION_ITEMS)


def install() -> None:
    add_global("attention_items", attention_items)


def page(request: Request, status: int = 200, **extra: Any) -> Response:
    services = services_of(request)
    t = translator(request)
    subs = services.notices.subscriptions()
    projects = services.reads.portfolio(now=clock.now(), limit=500, sort="name").items
    log_of = extra.pop("log_of", None)
    context: dict[str, Any] = {
        "subscriptions": subs, "dead": services.notices.dead_letters(), "names": {s.id: s.name for s in subs},
        "project_names": {p.project_id: p.name for p in projects},
        "channels": [(c, t.word("notification channel", c)) for c in CHANNELS], "kinds": KINDS,
        "project_options": [(p.project_id, p.name) for p in projects],
        "message_languages": [("en", "English"), ("zh-CN", "中文")],
        "log_of": log_of, "log": services.notices.deliveries(log_of.id) if log_of else [],
        "errors": {}, "values": {}, "done": "", "secret": "", **extra,
    }
    return render(request, "notifications.html", status, **context)


@router.get(PAGE)
def notifications(request: Request, done: str = "", log: str = "") -> Response:
    auth.require(request, "pm")
    log_of = None
    if log:
        try:
            log_of = services_of(request).notices.subscription(log[:16])
        except NotFound:
            raise PageError(404) from None
    return page(request, done=done[:20], log_of=log_of)


@router.post(PAGE)
async def subscribe(request: Request) -> Response:
    session = auth.require(request, "pm")
    form = await auth.form_data(request)
    kinds = [k for k in KINDS if form.get(f"kind_{k}") == "on"]
    services = services_of(request)
    try:
        project_id = form.get("project_id", "").strip() or None
        if project_id is not None:
            try:
                project_id = str(UUID(project_id))
            except ValueError:
                raise InvalidInput("project_id", msg("rule_project_id")) from None
            services.app.get_project(project_id)
        _sub, secret = services.notices.subscribe(
            name=form.get("name", ""), project_id=project_id, kinds=kinds, channel=form.get("channel", ""),
            target=form.get("target", ""), language=form.get("language", "en"), secret=form.get("secret") or None,
            start_position=services.app.recorder.max_notification_id() or 0, created_by=session.principal.name)
    except DeliveryError as exc:
        # Never echo a secret back into the page.
        kept = {k: v for k, v in form.items() if k != "secret"}
        return page(request, _status(exc), errors={"subscribe": _refusal(request, exc)}, values={"subscribe": kept})
    if secret:
        # Rendered, not redirected: the secret must not travel in a URL (history, logs).
        return page(request, 201, done="created", secret=secret)
    return redirect(f"{PAGE}?done=created")


@router.post(PAGE + "/{subscription_id}/delete")
async def unsubscribe(request: Request, subscription_id: str) -> Response:
    auth.require(request, "pm")
    await auth.form_data(request)
    try:
        services_of(request).notices.unsubscribe(subscription_id[:16])
    except NotFound:
        raise PageError(404) from None
    return redirect(f"{PAGE}?done=deleted")


@router.post(PAGE + "/dead/{delivery_id}/retry")
async def retry(request: Request, delivery_id: str) -> Response:
    auth.require(request, "pm")
    await auth.form_data(request)
    services = services_of(request)
    try:
        services.notices.retry(delivery_id[:36])
    except NotFound:
        raise PageError(404) from None
    except DeliveryError as exc:
        return page(request, _status(exc), errors={"dead": _refusal(request, exc)})
    if services.notifier is not None:
        services.notifier.wake_sender.set()
    return redirect(f"{PAGE}?done=retried#dead")
