"""Notifications: a pm's subscriptions, their delivery logs, the dead letters, and the attention list."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from api.deps import ProjectManager, ServicesDep
from api.errors import responses
from api.notification_schemas import (
    AttemptView,
    AttentionList,
    AttentionView,
    DeliveryList,
    DeliveryView,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionList,
    SubscriptionView,
)
from delivery.errors import InvalidInput
from delivery.messages import msg
from notify.store import Attempt, Delivery, Subscription

router = APIRouter(tags=["notifications"])

SubscriptionId = Annotated[str, Path(min_length=1, max_length=16, examples=["1a2b3c4d"])]
DeliveryId = Annotated[str, Path(min_length=1, max_length=36, examples=["6f1d3c52-2a44-5c0e-9d1e-7c3f0b9a8e11"])]


def view(s: Subscription) -> SubscriptionView:
    return SubscriptionView(**{k: v for k, v in asdict(s).items() if k != "target"}, target=s.shown_target)


def delivery_view(d: Delivery, tries: list[Attempt] | None = None) -> DeliveryView:
    return DeliveryView(**asdict(d), tries=[AttemptView(attempt=a.attempt, at=a.at, ok=a.ok, detail=a.detail)
                                            for a in tries or []])


@router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated,
             responses=responses(401, 403, 404, 413, 422))
def create_subscription(
    services: ServicesDep, principal: ProjectManager, body: SubscriptionCreate,
) -> SubscriptionCreated:
    """Subscribe a receiver to kinds of notice; a webhook's signing secret is in this answer only."""
    project_id = None
    if body.project_id is not None:
        try:
            project_id = str(UUID(body.project_id))
        except ValueError:
            raise InvalidInput("project_id", msg("rule_project_id")) from None
        services.app.get_project(project_id)
    sub, secret = services.notices.subscribe(
        name=body.name, project_id=project_id, kinds=body.kinds, channel=body.channel, target=body.target,
        language=body.language, secret=getattr(body, "secret", None) or None,
        # Only what happens from now on: a new subscription is not flooded with the past.
        start_position=services.app.recorder.max_notification_id() or 0, created_by=principal.name)
    return SubscriptionCreated(**view(sub).model_dump(), secret=secret)


@router.get("/subscriptions", response_model=SubscriptionList, responses=responses(401, 403))
def list_subscriptions(services: ServicesDep, _pm: ProjectManager) -> SubscriptionList:
    """Every live subscription (never its secret, nor a chat robot's token)."""
    return SubscriptionList(items=[view(s) for s in services.notices.subscriptions()])


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionView, responses=responses(401, 403, 404))
def delete_subscription(
    services: ServicesDep, _pm: ProjectManager, subscription_id: SubscriptionId,
) -> SubscriptionView:
    """Stop a subscription: nothing more is sent to it, and what waited is dropped."""
    return view(services.notices.unsubscribe(subscription_id))


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=DeliveryList,
            responses=responses(401, 403, 404, 422))
def subscription_deliveries(
    services: ServicesDep, _pm: ProjectManager, subscription_id: SubscriptionId,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryList:
    """The delivery log of a subscription, newest first, each delivery with its attempts."""
    services.notices.subscription(subscription_id)
    return DeliveryList(items=[delivery_view(d, tries)
                               for d, tries in services.notices.deliveries(subscription_id, limit)])


@router.get("/notifications/dead-letters", response_model=DeliveryList, responses=responses(401, 403))
def dead_letters(services: ServicesDep, _pm: ProjectManager) -> DeliveryList:
    """Deliveries that failed every attempt, newest first."""
    return DeliveryList(items=[delivery_view(d) for d in services.notices.dead_letters()])


@router.post("/notifications/dead-letters/{delivery_id}/retry", response_model=DeliveryView,
             responses=responses(401, 403, 404, 409))
def retry_dead_letter(services: ServicesDep, _pm: ProjectManager, delivery_id: DeliveryId) -> DeliveryView:
    """Send a dead letter again (same delivery id), from the first back-off; 409 if it is not dead."""
    delivery = services.notices.retry(delivery_id)
    if services.notifier is not None:
        services.notifier.wake_sender.set()
    return delivery_view(delivery)


@router.get("/attention", response_model=AttentionList, responses=responses(401, 403, 422))
def attention(services: ServicesDep, _pm: ProjectManager,
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> AttentionList:
    """What waits for the pm: change requests and client proposals to decide, rejected criteria, late
    milestones; newest first."""
    return AttentionList(items=[AttentionView(**asdict(i)) for i in services.notices.attention(limit)])
