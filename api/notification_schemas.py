"""Bodies and answers of the notification routes (subscriptions, deliveries, dead letters, attention)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import LINE, OPTIONAL_LINE, Body
from notify.kinds import ATTENTION_KINDS, KINDS
from notify.store import CHANNELS

NoticeKind = Literal[
    "gate_passed", "stage_moved_back", "milestone_at_risk", "milestone_late", "criterion_rejected",
    "change_awaiting_decision", "change_decided", "release_paused", "release_rolled_back", "release_completed",
    "client_sign_off", "client_proposal",
]
Channel = Literal["webhook", "wecom", "dingtalk", "feishu", "slack", "email"]
AttentionKind = Literal["change_request", "proposal", "rejected_criterion", "late_milestone"]
assert set(NoticeKind.__args__) == set(KINDS)  # type: ignore[attr-defined]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]
assert set(AttentionKind.__args__) == set(ATTENTION_KINDS)  # type: ignore[attr-defined]


class SubscriptionCreate(Body):
    """Who hears which kinds of notice, of one project or of every project, and how."""

    channel: Channel = Field(description="`webhook` (signed JSON), a chat robot (`wecom`, `dingtalk`, `feishu`, "
                                         "`slack`) or `email`.")
    target: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=LINE)] = Field(
        description="The receiver's http(s) URL (a chat robot's webhook address), or one email address.",
        examples=["https://hooks.example.com/delivery"])
    kinds: list[NoticeKind] = Field(min_length=1, max_length=len(KINDS), examples=[["gate_passed", "milestone_late"]])
    project_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=LINE)] | None = Field(
        default=None, description="One project; left out, every project (portfolio-wide).")
    language: Literal["en", "zh-CN", "zh_CN"] = Field(default="en", description="The messages' language.")
    name: Annotated[str, StringConstraints(max_length=120, pattern=OPTIONAL_LINE)] = Field(
        default="", examples=["Ops channel"])
    secret: Annotated[str, StringConstraints(max_length=200, pattern=OPTIONAL_LINE)] | None = Field(
        default=None, description="A DingTalk or Feishu robot's signing secret (from the robot's settings). "
                                  "Never shown again. A webhook's secret is made by the server.")


class SubscriptionView(BaseModel):
    id: str
    name: str
    project_id: str | None = Field(description="None: every project.")
    kinds: list[str]
    channel: str
    target: str = Field(description="A chat robot's URL shows only its host: the rest is the robot's token.")
    language: str
    has_secret: bool
    start_position: int = Field(description="Events at or before this store position are not delivered to it.")
    created_at: datetime
    created_by: str
    deleted_at: datetime | None = None


class SubscriptionCreated(SubscriptionView):
    secret: str = Field(description="A webhook's signing secret: shown only now. Empty for other channels.")


class SubscriptionList(BaseModel):
    items: list[SubscriptionView]


class AttemptView(BaseModel):
    attempt: int
    at: datetime
    ok: bool
    detail: str


class DeliveryView(BaseModel):
    delivery_id: str = Field(description="Stable across retries: receivers de-duplicate by it.")
    subscription_id: str
    project_id: str
    kind: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_at: datetime
    last_error: str
    created_at: datetime
    delivered_at: datetime | None = None
    notice: dict[str, Any]
    tries: list[AttemptView] = Field(default_factory=list)


class DeliveryList(BaseModel):
    items: list[DeliveryView]


class AttentionView(BaseModel):
    project_id: str
    project_name: str
    client: str
    kind: AttentionKind
    ref: str = Field(description="The change request, proposal, criterion or milestone id.")
    detail: dict[str, Any]
    since: datetime
    position: int


class AttentionList(BaseModel):
    items: list[AttentionView]
