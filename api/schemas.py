"""Request bodies and the API's own responses; views are returned as the read models themselves.

Bodies forbid unknown fields, refuse booleans where numbers are expected and
bound every string and list, so the limits show in the OpenAPI schema.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

from delivery.stages import Stage

StageId = Literal["research", "solution", "planning", "development", "integration_test", "uat", "trial", "launch"]
assert set(StageId.__args__) == {s.value for s in Stage}  # type: ignore[attr-defined]
Tier = Literal["core", "touchpoint", "value_added"]
Kind = Literal["add", "modify", "remove"]
Comparator = Literal["<=", ">=", "<", ">", "=="]

# Non-blank text of bounded length (the domain also strips surrounding blanks).
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=r"\S")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=r"\S")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=r"\S")]
Note = Annotated[str, StringConstraints(max_length=2000)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=16)]
# A finite number within ±10^12: booleans and strings are refused, not coerced.
Number = Annotated[StrictInt | StrictFloat, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]
Percent = Annotated[StrictInt | StrictFloat, Field(ge=0, le=100, allow_inf_nan=False)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- projects


TemplateName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]


class ProjectCreate(Body):
    name: Title = Field(examples=["Mall mini-program"])
    client: Name = Field(examples=["Acme Retail"])
    description: Note = Field(default="", examples=["WeChat mini-program with membership and coupons"])
    template: TemplateName | None = Field(
        default=None, examples=["mini_program"],
        description="A stage template (GET /templates): its milestones and acceptance criteria are recorded "
        "with the project, in the same save.",
    )
    start_on: date | None = Field(default=None, examples=["2026-12-01"],
                                  description="The day the template's due offsets count from; today when left out.")
    language: Literal["en", "zh"] = Field(default="en",
                                          description="The language the template's texts are recorded in.")


class PlanWaiverIn(Body):
    stage: StageId = Field(examples=["planning"])
    reason: Reason = Field(examples=["A one-page change: planned together with the solution"])


class TemplateCriterionOut(BaseModel):
    text_en: str
    text_zh: str
    metric: dict[str, str | float] | None = None


class TemplateMilestoneOut(BaseModel):
    stage: StageId
    due_days: int
    title_en: str
    title_zh: str
    deliverables_en: list[str]
    deliverables_zh: list[str]
    criteria: list[TemplateCriterionOut]


class TemplateOut(BaseModel):
    name: str
    title_en: str
    title_zh: str
    description_en: str
    description_zh: str
    duration_days: int
    milestones: list[TemplateMilestoneOut]


class TransitionIn(Body):
    to_stage: StageId = Field(examples=["solution"])
    reason: Note = Field(default="", description="Required in practice when moving back a stage.",
                         examples=["UAT found defects in checkout"])


class ScopeItemIn(Body):
    title: Title = Field(examples=["Checkout"])
    tier: Tier = Field(examples=["core"])


class FunnelStepIn(Body):
    name: Label = Field(examples=["visit"])
    expected_rate: Annotated[StrictInt | StrictFloat, Field(gt=0, le=100, allow_inf_nan=False)] = Field(
        examples=[40])


class FunnelIn(Body):
    steps: list[FunnelStepIn] = Field(min_length=3, max_length=5)


class FunnelActualsIn(Body):
    rates: list[Percent] = Field(min_length=3, max_length=5, examples=[[35, 20, 8]])


# -------------------------------------------------------------- milestones


class MilestoneIn(Body):
    title: Title = Field(examples=["Prototype signed off"])
    stage: StageId = Field(examples=["solution"])
    due_on: date = Field(examples=["2026-12-01"])
    deliverables: list[Title] = Field(default_factory=list, max_length=50, examples=[["Clickable prototype"]])


class RescheduleIn(Body):
    due_on: date = Field(examples=["2026-12-15"])
    reason: Reason = Field(examples=["Client review moved a week"])


class CompleteMilestoneIn(Body):
    completed_on: date | None = Field(default=None, description="The business date; today when left out.",
                                      examples=["2026-11-20"])


class MetricIn(Body):
    name: Label = Field(examples=["p95_page_load_ms"])
    comparator: Comparator = Field(examples=["<="])
    threshold: Number = Field(examples=[1000])
    unit: Annotated[str, StringConstraints(max_length=20)] = Field(default="", examples=["ms"])


class CriterionIn(Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"\S")] = Field(
        examples=["p95 page load within one second"])
    metric: MetricIn | None = None


class VerifyIn(Body):
    evidence: Reason = Field(examples=["Load test report 2026-11-20"])
    measured: Number | None = Field(default=None, description="Required for a measurable criterion.",
                                    examples=[850])


class ReasonIn(Body):
    reason: Reason = Field(examples=["Evidence does not cover Android"])


class ApproveIn(Body):
    reason: Note = Field(default="", examples=["Agreed at the weekly review"])


# --------------------------------------------------------- change requests


class ImpactIn(Body):
    schedule_days: Annotated[StrictInt, Field(ge=-365, le=3650)] = Field(default=0, examples=[3])
    cost: Annotated[StrictInt | StrictFloat, Field(gt=-1e12, lt=1e12, allow_inf_nan=False)] = Field(
        default=0, description="An amount with at most two decimal places.", examples=[1500])


class ChangeRequestIn(Body):
    title: Title = Field(examples=["Coupons at checkout"])
    requested_by: Name = Field(examples=["Client product owner"])
    kind: Kind = Field(examples=["add"])
    tier: Tier = Field(examples=["value_added"])
    scope_item_id: ItemId | None = Field(default=None, description="Required for modify and remove.",
                                         examples=[None])
    impact: ImpactIn = Field(default_factory=ImpactIn)


# ---------------------------------------------------------------- releases


class HealthCheckIn(Body):
    metric: Label = Field(examples=["error_rate"])
    comparator: Comparator = Field(examples=["<="])
    threshold: Number = Field(examples=[1])


class ReleaseIn(Body):
    version: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"\S")] = Field(
        examples=["1.0.0"])
    steps: list[Annotated[StrictInt, Field(ge=1, le=100)]] = Field(
        min_length=1, max_length=10, description="Strictly rising percentages ending at 100.",
        examples=[[1, 5, 20, 50, 100]])
    health: list[HealthCheckIn] = Field(default_factory=list, max_length=10)


class ObservationIn(Body):
    metrics: dict[Label, Number] = Field(min_length=1, max_length=20, examples=[{"error_rate": 0.4}])


# ------------------------------------------------------------------ tokens


class TokenCreate(Body):
    role: Literal["pm", "client", "auditor"] = Field(examples=["client"])
    projects: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100, description="The projects a client token may see.")
    name: Label | None = Field(default=None, examples=["Acme product owner"])


# --------------------------------------------------------------- responses


class WriteResult(BaseModel):
    """What a write answers: the project's new version (also in the ETag) and any new object's id."""

    project_id: str
    version: int = Field(examples=[7])
    id: str | None = Field(default=None, examples=["M2"])


class TokenView(BaseModel):
    id: str
    role: str
    name: str
    projects: list[str]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None


class TokenCreated(TokenView):
    token: str = Field(description="Shown only now; the server keeps only its hash.")


class TokenList(BaseModel):
    items: list[TokenView]


class Me(BaseModel):
    token_id: str
    role: str
    name: str
    projects: list[str]
