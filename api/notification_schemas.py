"""Bodies and answers of the notification routes (subscriptions, deliveries, dead letters, attention)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import OPTIONAL_LINE, Body
from notify.kinds import ATTENTION_KINDS, KINDS
from notify.store import CHANNELS, EMAIL_PATTERN

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


# What notify/store.py accepts, said in the schema so generators send only what is taken.
URL = r"^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Url = Annotated[str, StringConstraints(min_length=10, max_length=2000, pattern=URL)]


class _Subscription(Body):
    kinds: list[NoticeKind] = Field(min_length=1, max_length=len(KINDS), examples=[["gate_passed", "milestone_late"]])
    project_id: Annotated[str, StringConstraints(pattern=UUID_PATTERN)] = Field(
        default=None, description="One project; left out, every project (portfolio-wide).")  # type: ignore[assignment]
    language: Literal["en", "zh-CN", "zh_CN"] = Field(default="en", description="The messages' language.")
    name: Annotated[str, StringConstraints(max_length=120, pattern=OPTIONAL_LINE)] = Field(
        default="", examples=["Ops channel"])


class WebhookSubscription(_Subscription):
    """A signed JSON POST to your URL (docs/notifications.md); its signing secret is made by the server."""

    channel: Literal["webhook"]
    target: Url = Field(examples=["https://hooks.example.com/delivery"])


class RobotSubscription(_Subscription):
    """A WeCom group robot or a Slack incoming webhook: its URL carries its token."""

    channel: Literal["wecom", "slack"]
    target: Url = Field(examples=["https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY"])


class SignedRobotSubscription(_Subscription):
    """A DingTalk or Feishu/Lark robot, with the signing secret from its settings when it has one."""

    channel: Literal["dingtalk", "feishu"]
    target: Url = Field(examples=["https://oapi.dingtalk.com/robot/send?access_token=TOKEN"])
    secret: Annotated[str, StringConstraints(max_length=200, pattern=OPTIONAL_LINE)] = Field(
        default="", description="The robot's signing secret (DingTalk `SEC…`). Never shown again.")


class EmailSubscription(_Subscription):
    """Mail over the SMTP server the environment names (plain text and HTML)."""

    channel: Literal["email"]
    target: Annotated[str, StringConstraints(min_length=3, max_length=254, pattern=EMAIL_PATTERN)] = Field(
        examples=["pm@example.com"])


SubscriptionCreate = Annotated[
    WebhookSubscription | RobotSubscription | SignedRobotSubscription | EmailSubscription,
    Field(discriminator="channel"),
]


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
