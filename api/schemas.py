"""Request bodies and the API's own responses; views are returned as the read models themselves.

Bodies forbid unknown fields, refuse booleans where numbers are expected and
bound every string and list, so the limits show in the OpenAPI schema.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from delivery import validation
from delivery.currency import CURRENCIES, DEFAULT_CURRENCY
from delivery.messages import MESSAGES
from delivery.stages import Stage

StageId = Literal["research", "solution", "planning", "development", "integration_test", "uat", "trial", "launch"]
assert set(StageId.__args__) == {s.value for s in Stage}  # type: ignore[attr-defined]
Tier = Literal["core", "touchpoint", "value_added"]
Kind = Literal["add", "modify", "remove"]
Comparator = Literal["<=", ">=", "<", ">", "=="]

# Text as the domain takes it (delivery/validation.py), in patterns JSON Schema tools read: single-line
# text (names, titles, ids) has no control character at all; multi-line text (descriptions, notes,
# reasons, evidence) keeps tab and line breaks. Required text has a character that is not blank.
_LINE = r"[^\x00-\x1f\x7f-\x9f]"
_LINES = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
LINE = rf"^{_LINE}*[^\s\x00-\x1f\x7f-\x9f]{_LINE}*$"
OPTIONAL_LINE = rf"^{_LINE}*$"
LINES = rf"^{_LINES}*[^\s\x00-\x1f\x7f-\x9f]{_LINES}*$"
OPTIONAL_LINES = rf"^{_LINES}*$"
# What a 422 says when a string misses its pattern (api/errors.py): the rule, not the regular expression.
PATTERN_RULES = {
    LINE: "must be one line of text, not blank, without control characters",
    OPTIONAL_LINE: "must be one line of text without control characters",
    LINES: "must be text, not blank, without control characters other than tab and line breaks",
    OPTIONAL_LINES: "must be text without control characters other than tab and line breaks",
}

Title = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=LINE)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=LINE)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=80, pattern=LINE)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=LINES)]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=OPTIONAL_LINES)]
ItemId = Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=LINE)]

# A calendar date in the domain's range (1970-01-01 to 2199-12-31): `format: date` and a pattern that
# admits exactly those years, so a generated client never sends a date the tracker refuses.
DAY_PATTERN = r"^(19[7-9][0-9]|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _in_range(value: date) -> date:
    if not validation.FIRST_DAY <= value <= validation.LAST_DAY:
        raise PydanticCustomError("rule_between", MESSAGES["rule_between"].singular, {
            "low": validation.FIRST_DAY.isoformat(), "high": validation.LAST_DAY.isoformat()})
    return value


Day = Annotated[date, AfterValidator(_in_range), Field(json_schema_extra={"pattern": DAY_PATTERN})]


def _whole(value: object) -> object:
    """JSON Schema's integer: 25.0 is one (taken as 25); a boolean, a string or 2.5 is not (nothing coerced)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("rule_whole_number", MESSAGES["rule_whole_number"].singular)
    return value


# After the bounds, so that the schema says them as minimum/maximum: Annotated[int, Field(...), WHOLE].
WHOLE = BeforeValidator(_whole)

# Finite numbers, booleans and strings refused (not coerced). The bounds sit on each member of the union,
# so the schema says them with the standard minimum/maximum (exclusive...) keywords JSON Schema tools read.
Number = (Annotated[StrictInt, Field(ge=-10**12, le=10**12)]
          | Annotated[StrictFloat, Field(ge=-1e12, le=1e12, allow_inf_nan=False)])
Percent = Annotated[StrictInt, Field(ge=0, le=100)] | Annotated[StrictFloat, Field(ge=0, le=100, allow_inf_nan=False)]
Rate = Annotated[StrictInt, Field(gt=0, le=100)] | Annotated[StrictFloat, Field(gt=0, le=100, allow_inf_nan=False)]
# An amount in cents: said as multipleOf 0.01 (a float off by its last digit's rounding is that amount).
Cost = (Annotated[StrictInt, Field(gt=-10**12, lt=10**12)]
        | Annotated[StrictFloat, Field(gt=-1e12, lt=1e12, allow_inf_nan=False, json_schema_extra={"multipleOf": 0.01})])


def _known_currency(value: str) -> str:
    if value not in CURRENCIES:
        # Typed by its message code: api/errors.py sends the code and parameters with the 422.
        raise PydanticCustomError("rule_currency", MESSAGES["rule_currency"].singular, {"value": repr(value)})
    return value


CurrencyCode = Annotated[str, AfterValidator(_known_currency), Field(
    json_schema_extra={"enum": sorted(CURRENCIES)}, examples=["CNY"],
    description="An ISO 4217 currency code (upper case): the currency of the project's costs.")]


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
    start_on: Day | None = Field(default=None, examples=["2026-12-01"],
                                  description="The day the template's due offsets count from; today when left out.")
    language: Literal["en", "zh"] = Field(default="en",
                                          description="The language the template's texts are recorded in.")
    currency: CurrencyCode = Field(default=DEFAULT_CURRENCY, description=(
        "The ISO 4217 code of the project's costs (CNY when left out); the pm can change it later."))


class PlanWaiverIn(Body):
    stage: StageId = Field(examples=["planning"])
    reason: Reason = Field(examples=["A one-page change: planned together with the solution"])


class TemplateCriterionOut(BaseModel):
    text_en: str
    text_zh: str
    metric: dict[str, str | float] | None = None
    client_signoff: bool = False


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
    expected_rate: Rate = Field(examples=[40], description="Percent of the previous step's users, above 0 and at "
                                "most 100: 30 means 30%, never a fraction such as 0.3.")


class FunnelIn(Body):
    steps: list[FunnelStepIn] = Field(min_length=3, max_length=5, description=(
        "3 to 5 steps. Refused (409 conflicting_input, field `steps`) when every expected_rate is at most 1: "
        "that is a funnel written as fractions."))


class FunnelActualsIn(Body):
    rates: list[Percent] = Field(min_length=3, max_length=5, examples=[[35, 20, 8]], description=(
        "Percent from 0 to 100, one per funnel step in order. Refused (409 conflicting_input, field `rates`) "
        "when some rate is above 0 and every one is at most 1: fractions, not percentages."))


# -------------------------------------------------------------- milestones


class MilestoneIn(Body):
    title: Title = Field(examples=["Prototype signed off"])
    stage: StageId = Field(examples=["solution"])
    due_on: Day = Field(examples=["2026-12-01"])
    deliverables: list[Title] = Field(default_factory=list, max_length=50, examples=[["Clickable prototype"]])
    scope_item_ids: list[ItemId] = Field(
        default_factory=list, max_length=50, examples=[["S1", "S3"]],
        description="The scope items this milestone delivers (each once, not removed). Touchpoint or value-added "
                    "items scheduled while core-path items are open are a core-path warning in the change log.",
    )


class RescheduleIn(Body):
    due_on: Day = Field(examples=["2026-12-15"])
    reason: Reason = Field(examples=["Client review moved a week"])


class CompleteMilestoneIn(Body):
    completed_on: Day | None = Field(default=None, description="The business date; today when left out.",
                                      examples=["2026-11-20"])


class MetricIn(Body):
    name: Label = Field(examples=["p95_page_load_ms"])
    comparator: Comparator = Field(examples=["<="])
    threshold: Number = Field(examples=[1000])
    unit: Annotated[str, StringConstraints(max_length=20, pattern=OPTIONAL_LINE)] = Field(default="", examples=["ms"])


class CriterionIn(Body):
    text: Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=LINE)] = Field(
        examples=["p95 page load within one second"])
    metric: MetricIn | None = None
    client_signoff: bool = Field(
        default=False, description="Only the client's sign-off (from the portal or a client token) verifies it; "
        "the gate holds it open until then. Not for a measurable criterion.")


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
    schedule_days: Annotated[int, Field(ge=-365, le=3650), WHOLE] = Field(default=0, examples=[3])
    cost: Cost = Field(
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
    version: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=LINE)] = Field(
        examples=["1.0.0"])
    steps: list[Annotated[int, Field(ge=1, le=100), WHOLE]] = Field(
        min_length=1, max_length=10, description="Strictly rising percentages ending at 100.",
        examples=[[1, 5, 20, 50, 100]])
    health: list[HealthCheckIn] = Field(default_factory=list, max_length=10)


class ObservationIn(Body):
    # Every key is a metric's name: a key that is not one is refused by the schema too (no additional properties).
    metrics: dict[Label, Number] = Field(min_length=1, max_length=20, examples=[{"error_rate": 0.4}],
                                         json_schema_extra={"additionalProperties": False})


# ------------------------------------------------------------------ tokens


class StaffTokenCreate(Body):
    """A pm or auditor token: it sees every project."""

    role: Literal["pm", "auditor"] = Field(examples=["auditor"])
    # Left out, never null: the schema says a string, so null is refused like any other non-string.
    name: Label = Field(default=None, examples=["Internal audit"])  # type: ignore[assignment]


class ClientTokenCreate(Body):
    """A client token: it sees only the projects it names."""

    role: Literal["client"] = Field(examples=["client"])
    projects: list[Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=LINE)]] = Field(
        default_factory=list, max_length=100, description="The projects a client token may see.")
    name: Label = Field(default=None, examples=["Acme product owner"])  # type: ignore[assignment]


# Which fields a token takes depends on its role: said in the schema (a oneOf on `role`), not refused after.
TokenCreate = Annotated[StaffTokenCreate | ClientTokenCreate, Field(discriminator="role")]


# ------------------------------------------------------------- corrections
# A correction is a new event keeping the text it replaced (delivery/project.py, "corrections").

CriterionText = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=LINE)]


class RenameIn(Body):
    name: Title = Field(examples=["Mall mini-program (phase 1)"])


class CurrencyIn(Body):
    currency: CurrencyCode


class RetitleIn(Body):
    title: Title = Field(examples=["Clickable prototype signed off"])


class RewordIn(Body):
    text: CriterionText = Field(examples=["Client signs off the clickable prototype"])


class DeliverablesIn(Body):
    deliverables: list[Title] = Field(max_length=50, examples=[["Clickable prototype", "Copy deck"]],
                                      description="The whole new list (it replaces the current one).")


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


# ---------------------------------------------- client participation (issue 14)


class SignOffIn(Body):
    verdict: Literal["verified", "rejected"] = Field(examples=["verified"])
    comment: Note = Field(default="", description="Required to reject: what is missing.",
                          examples=["All UAT scripts passed at the pilot store"])


class ProposalIn(Body):
    title: Title = Field(examples=["Coupons at checkout"])
    description: Note = Field(default="", examples=["For the 11.11 campaign"])
    tier: Tier = Field(description="The tier as the client sees it (the pm may change it on accepting).",
                       examples=["value_added"])


class AcceptProposalIn(Body):
    kind: Kind = Field(examples=["add"])
    tier: Tier | None = Field(default=None, description="The change request's tier; the proposal's when left out.",
                              examples=[None])
    scope_item_id: ItemId | None = Field(default=None, description="Required for modify and remove.",
                                         examples=[None])
    impact: ImpactIn = Field(default_factory=ImpactIn)


class CommentIn(Body):
    target_kind: Literal["milestone", "criterion", "change_request"] = Field(examples=["milestone"])
    target_id: ItemId = Field(examples=["M1"])
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=LINES)] = Field(
        description="Plain text (shown as written, never as markup).", examples=["Can we see it on Android too?"])


class ReceiptIn(BaseModel):
    """A receipt file as downloaded: its statement, the signature over the statement, the key fingerprint."""

    statement: dict[str, object]
    signature: Annotated[str, StringConstraints(max_length=200)]
    key: Annotated[str, StringConstraints(max_length=100)] | None = None


class ReceiptCheck(BaseModel):
    """Whether the store still holds exactly the history up to a receipt."""

    holds: bool
    signature_valid: bool
    reason: str
    project_id: str | None = None
    version: int | None = None
    position: int | None = None
    event_type: str | None = None
    signed_head: str | None = None
    head: str | None = None
