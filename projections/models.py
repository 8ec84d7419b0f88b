"""Read models: what readers see. The API returns them and the pages render them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class ReadModel(BaseModel):
    model_config = ConfigDict(validate_assignment=False)

    def __setattr__(self, name: str, value: Any) -> None:
        # The reducers set a few fields per event (a header's version and time on every one). Assignment is
        # not validated; a field already in the instance is stored as is, skipping pydantic's handler lookup
        # (~0.35 us a set, ~5 sets an event: 6-8 % of a rebuild's reducers). The fields set stay those given at
        # construction (nothing here dumps with exclude_unset); any other name goes through pydantic.
        fields = self.__dict__
        if name in fields:
            fields[name] = value
        else:
            BaseModel.__setattr__(self, name, value)


M = TypeVar("M", bound=BaseModel)


def trusted(model: type[M]) -> Callable[..., M]:
    """A constructor of `model` for values already of their fields' types: the instance pydantic builds, without
    validating each value again (~3x cheaper: the reducers build ~13 models per 10 events, from decoded events).

    The same keywords as the model's own constructor, every field in the model's order (pydantic writes a
    model's JSON in its `__dict__`'s order). A value of a kindred type stays as given (an int where a float
    is declared, a StrEnum where a str is): its JSON is the same, and equal to what validation makes.
    `tests/unit/test_trusted_rows.py` checks, over every golden event, that each row so built has the JSON
    and the equality its validated twin has.
    """
    fields = model.model_fields
    namespace: dict[str, Any] = {"_new": object.__new__, "_set": object.__setattr__, "_model": model,
                                 "_names": frozenset(fields), "_missing": object()}
    params, items = [], []
    for i, (name, field) in enumerate(fields.items()):
        assert name.isidentifier() and not name.startswith("_"), name
        if field.default_factory is not None:
            namespace[f"_factory{i}"] = field.default_factory
            params.append(f"{name}=_missing")
            items.append(f"{name!r}: _factory{i}() if {name} is _missing else {name}")
        elif field.is_required():
            params.append(name)
            items.append(f"{name!r}: {name}")
        else:
            hash(field.default)  # an immutable default: one shared by every instance, as pydantic's is
            namespace[f"_default{i}"] = field.default
            params.append(f"{name}=_default{i}")
            items.append(f"{name!r}: {name}")
    source = (f"def build(*, {', '.join(params)}):\n"
              f"    instance = _new(_model)\n"
              f"    _set(instance, '__dict__', {{{', '.join(items)}}})\n"
              f"    _set(instance, '__pydantic_fields_set__', set(_names))\n"
              f"    _set(instance, '__pydantic_extra__', None)\n"
              f"    _set(instance, '__pydantic_private__', None)\n"
              f"    return instance\n")
    exec(source, namespace)
    build: Callable[..., M] = namespace["build"]
    build.__qualname__ = build.__name__ = f"trusted_{model.__name__}"
    return build


def currency_field() -> Any:
    return Field(default="CNY", description="The ISO 4217 code of the project's costs (CNY unless the pm "
                 "chose another).", examples=["CNY"], pattern="^[A-Z]{3}$")


class MessageView(ReadModel):
    """A sentence as data: the pages render it in the reader's language, the API also sends its English."""

    code: str = Field(description="The message's stable code in delivery/messages.py (its English template "
                      "is the gettext msgid).", examples=["warning_late_requests"])
    params: dict[str, Any] = Field(default_factory=dict, description="The raw values of the template's "
                                   "placeholders (ids, numbers, state names such as rolled_back).",
                                   examples=[{"count": 2, "ids": ["CR3", "CR4"]}])


# ------------------------------------------------------------------ summary


class StageEntry(ReadModel):
    stage: str
    label_en: str
    label_zh: str
    entered_at: datetime
    by: str
    direction: Literal["created", "advanced", "returned"]
    reason: str = ""


class PlanWaiverView(ReadModel):
    """A stage the pm let pass without a plan, and why."""

    stage: str
    reason: str
    by: str
    at: datetime


class ScopeItemView(ReadModel):
    id: str
    title: str
    tier: str
    status: str
    change_request_id: str | None = None
    in_baseline: bool = False


class FunnelStepView(ReadModel):
    name: str
    expected_rate: float
    actual_rate: float | None = None
    # Actual minus expected, in percentage points (None until actuals are recorded).
    gap: float | None = None


class ProjectSummary(ReadModel):
    id: str
    name: str
    client: str
    description: str = ""
    stage: str
    stage_label_en: str
    stage_label_zh: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    launched: bool = False
    launched_at: datetime | None = None
    baseline_frozen_at: datetime | None = None
    # The stage template the plan came from, if any; and the stages passed without a plan.
    template: str | None = None
    plan_waivers: list[PlanWaiverView] = Field(default_factory=list)
    stage_history: list[StageEntry] = Field(default_factory=list)
    scope: list[ScopeItemView] = Field(default_factory=list)
    funnel: list[FunnelStepView] = Field(default_factory=list)
    # The funnel step whose actual conversion falls furthest below its expectation.
    biggest_drop: str | None = None
    currency: str = currency_field()


# ------------------------------------------------------------------- header


class NextMilestone(ReadModel):
    id: str
    title: str
    stage: str
    due_on: date


class MilestoneRef(ReadModel):
    id: str
    stage: str
    due_on: date
    original_due_on: date


class ProjectHeader(ReadModel):
    """One project's own facts and the counters the portfolio and drift need, kept per event.

    Everything here is small and fixed in size: lists that grow with a project's
    history (stages, scope, milestones, criteria, changes, releases) are rows of their own.
    """

    id: str
    name: str
    client: str
    description: str = ""
    stage: str
    stage_entered_at: datetime
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    launched: bool = False
    launched_at: datetime | None = None
    baseline_frozen_at: datetime | None = None
    baseline_size: int = 0
    baseline_by_tier: dict[str, int] = Field(default_factory=dict)
    funnel: list[FunnelStepView] = Field(default_factory=list)
    biggest_drop: str | None = None
    release_completed: bool = False
    latest_release_id: str | None = None
    release_state: str | None = None
    release_percent: int | None = None
    open_criteria: int = 0
    rejected_criteria: int = 0
    pending_changes: int = 0
    # Core-path scope items still open (value-added work approved while any is open is a warning sign).
    core_open: int = 0
    # Approved (or implemented) change requests by kind: the drift against the baseline.
    approved_changes: int = 0
    next_milestone: NextMilestone | None = None
    # Milestones ever planned (none: the portfolio shows "no plan yet", never green).
    milestones_planned: int = 0
    # Core path first: approvals of touchpoint or value-added work while core items were open, and
    # whether the project left research without a funnel (cleared when one is written).
    before_core_approvals: int = 0
    # Of the requests awaiting a decision, those for non-core work raised while core items were open.
    before_core_pending: int = 0
    # Open milestones that deliver touchpoint or value-added items, planned while core items were open.
    before_core_scheduled: int = 0
    left_research_without_funnel: bool = False
    template: str | None = None
    plan_waivers: list[PlanWaiverView] = Field(default_factory=list)
    # Client proposals waiting for the pm's decision.
    pending_proposals: int = 0
    # Completed milestones' slip against their first plan: stage -> slip days -> how many (clamped to
    # projections.forecast.SLIP_MIN..SLIP_MAX, so bounded). The forecast's own evidence; with the template,
    # this project's share of the reference class (projections/reference.py).
    slips: dict[str, dict[int, int]] = Field(default_factory=dict)
    # The last open milestone (latest due date): what the portfolio's launch forecast is made for.
    last_milestone: MilestoneRef | None = None
    # Its P80 completion date (no floor at today), from this project's slips and its reference class as it stood
    # when this project's last event was applied; None without evidence. The portfolio's health reads it.
    launch_p80_on: date | None = None
    currency: str = "CNY"


# --------------------------------------------------------------- milestones


class RescheduleEntry(ReadModel):
    from_on: date
    to_on: date
    reason: str
    by: str
    at: datetime


class MilestoneRecord(ReadModel):
    id: str
    stage: str
    title: str
    deliverables: list[str] = Field(default_factory=list)
    due_on: date
    original_due_on: date
    reschedules: list[RescheduleEntry] = Field(default_factory=list)
    planned_at: datetime
    planned_by: str
    completed_on: date | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    # The scope items it delivers, and whether touchpoint or value-added ones among them were scheduled
    # while core-path items were still open (a core-path warning until the milestone is done).
    scope_item_ids: list[str] = Field(default_factory=list)
    scheduled_before_core: bool = False

    @property
    def done(self) -> bool:
        return self.completed_on is not None


class MilestoneStatus(MilestoneRecord):
    status: Literal["planned", "in_progress", "at_risk", "late", "done"]
    slip_days: int
    days_late: int | None = None
    days_to_due: int | None = None
    criteria_total: int = 0
    criteria_closed: int = 0


class MilestoneList(ReadModel):
    project_id: str
    today: date
    items: list[MilestoneStatus]


# ---------------------------------------------------------------- checklist


class MetricView(ReadModel):
    name: str
    comparator: str
    threshold: float
    unit: str = ""


class CriterionDecision(ReadModel):
    action: Literal["added", "verified", "rejected", "waived"]
    by: str
    at: datetime
    evidence: str = ""
    measured: float | None = None
    reason: str = ""
    # The decision is the client's sign-off (CriterionSignedOff), not a pm's.
    signoff: bool = False


class ChecklistItem(ReadModel):
    id: str
    milestone_id: str
    text: str
    metric: MetricView | None = None
    state: str = "open"
    evidence: str = ""
    measured: float | None = None
    meets_threshold: bool | None = None
    reason: str = ""
    decided_by: str | None = None
    decided_at: datetime | None = None
    added_by: str
    added_at: datetime
    history: list[CriterionDecision] = Field(default_factory=list)
    # Only the client's sign-off verifies it; the gate holds it open until then.
    client_signoff: bool = False


class ChecklistMilestoneRef(ReadModel):
    id: str
    title: str
    stage: str
    done: bool = False


class ChecklistMilestone(ChecklistMilestoneRef):
    items: list[ChecklistItem] = Field(default_factory=list)


class StageGate(ReadModel):
    holds: bool
    unmet: list[dict[str, Any]] = Field(default_factory=list, description=(
        "What keeps the stage from being left: each item's `kind` and ids, its English `message`, and the same "
        "sentence as `message_code` + `params` (delivery/messages.py) for the pages to translate."))


class StageChecklist(ReadModel):
    stage: str
    label_en: str
    label_zh: str
    is_current: bool
    milestones: list[ChecklistMilestone]
    closed: int
    total: int
    gate: StageGate


class Checklist(ReadModel):
    project_id: str
    stage: str
    open_criteria: int
    stages: list[StageChecklist]


# ---------------------------------------------------------- change requests


class ChangeDecision(ReadModel):
    action: Literal["raised", "approved", "rejected", "withdrawn", "implemented"]
    by: str
    at: datetime
    reason: str = ""


class ChangeLogEntry(ReadModel):
    id: str
    title: str
    requested_by: str
    kind: str
    tier: str
    scope_item_id: str | None = None
    scope_item_title: str | None = None
    schedule_days: int
    cost: Decimal
    status: str
    raised_in_stage: str
    raised_at: datetime
    raised_by: str
    # Raised once development had begun: a warning sign of late drift.
    late: bool = False
    # Value-added work approved while core-path items were still open.
    value_added_before_core: bool = False
    # A touchpoint approved while core-path items were open (core path first, touchpoints second).
    touchpoint_before_core: bool = False
    # Touchpoint or value-added work (added or modified, not removed) raised while core-path items were open:
    # scheduled before the core path was done, whatever is decided later.
    raised_before_core: bool = False
    trail: list[ChangeDecision] = Field(default_factory=list)


class ScopeRow(ReadModel):
    """One scope item as the views keep it (a row of its own)."""

    id: str
    title: str
    tier: str
    status: str = "open"
    in_baseline: bool = False
    # The tier the item had when the baseline was frozen (drift is measured against it).
    baseline_tier: str | None = None
    # The approved change request that added it, if any.
    change_request_id: str | None = None


class DriftSummary(ReadModel):
    baseline_frozen: bool
    baseline_size: int
    baseline_by_tier: dict[str, int]
    items_added: int
    items_removed: int
    items_modified: int
    drift_pct: float
    schedule_days_added: int
    cost_added: Decimal
    pending: int
    late_requests: list[str]
    value_added_before_core: list[str]
    warnings: list[str] = Field(description="The warnings in English (for API readers); `warning_messages` "
                                "holds the same, in the same order, as codes with parameters.")
    warning_messages: list[MessageView] = Field(default_factory=list, description=(
        "The warnings as data: each one's message code and raw parameters (delivery/messages.py), "
        "for a reader to render in its own language."))
    currency: str = currency_field()
    touchpoint_before_core: list[str] = Field(default_factory=list)
    # Requests for touchpoint or value-added work raised while core-path items were open, still awaiting a decision.
    raised_before_core: list[str] = Field(default_factory=list)
    # Open milestones delivering touchpoint or value-added items, planned while core items were open.
    scheduled_before_core: list[str] = Field(default_factory=list)
    # Drift above the amber threshold (delivery.health.DRIFT_AMBER_PCT).
    drift_warning: bool = False
    # The project left research with no conversion funnel written (and none was written since).
    no_funnel: bool = False


class ChangeProposalView(ReadModel):
    """A change the client proposed from the portal: proposed, then accepted (as a change request) or declined."""

    id: str
    title: str
    description: str = ""
    tier: str
    status: Literal["proposed", "accepted", "declined"] = "proposed"
    proposed_by: str
    proposed_at: datetime
    change_request_id: str | None = None
    reason: str = ""
    decided_by: str | None = None
    decided_at: datetime | None = None


class ChangeLog(ReadModel):
    project_id: str
    entries: list[ChangeLogEntry]
    drift: DriftSummary
    currency: str = currency_field()
    # The client's proposals, newest last; an accepted one names the change request it became.
    proposals: list[ChangeProposalView] = Field(default_factory=list)


# ----------------------------------------------------------------- releases


class StepVisit(ReadModel):
    percent: int
    entered_at: datetime
    left_at: datetime | None = None


class PauseView(ReadModel):
    at: datetime
    reason: str
    by: str
    percent: int
    resumed_at: datetime | None = None


class RollbackView(ReadModel):
    at: datetime
    reason: str
    by: str
    from_percent: int


class ObservationView(ReadModel):
    at: datetime
    percent: int
    metrics: dict[str, float]
    healthy: bool
    failures: list[str] = Field(default_factory=list)
    by: str


class HealthCheckView(ReadModel):
    metric: str
    comparator: str
    threshold: float


class ReleaseView(ReadModel):
    id: str
    version: str
    steps: list[int]
    checks: list[HealthCheckView] = Field(default_factory=list)
    state: str = "planned"
    percent: int = 0
    planned_at: datetime
    planned_by: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    visits: list[StepVisit] = Field(default_factory=list)
    pauses: list[PauseView] = Field(default_factory=list)
    rollbacks: list[RollbackView] = Field(default_factory=list)
    observations: list[ObservationView] = Field(default_factory=list)
    # Seconds spent at each percent (as text keys), up to `now` for the current step.
    time_at_step: dict[str, float] = Field(default_factory=dict)


class ObservationRow(ObservationView):
    """A release observation as stored: one row each, so a long ramp never rewrites the release."""

    release_id: str


class ReleaseList(ReadModel):
    project_id: str
    items: list[ReleaseView]


# ---------------------------------------------------------------- portfolio


class PortfolioRow(ReadModel):
    project_id: str
    name: str
    client: str
    stage: str
    stage_label_en: str
    stage_label_zh: str
    stage_entered_at: datetime
    days_in_stage: int
    next_milestone_id: str | None = None
    next_milestone_title: str | None = None
    next_milestone_due_on: date | None = None
    next_milestone_status: str | None = None
    open_criteria: int
    pending_change_requests: int
    drift_pct: float
    release_percent: int | None = None
    release_state: str | None = None
    health: Literal["red", "amber", "green", "no_plan"]
    health_reason: str = Field(description="The health reason's code (delivery/health.py REASONS).")
    health_reason_text: str = Field(description="The health reason in English (from the message registry).")
    health_reason_message: MessageView | None = Field(default=None, description=(
        "The health reason as a message code with its parameters (thresholds), for the pages to translate."))
    currency: str = currency_field()
    # Core-path warnings: non-core work approved before the core path was done, research left without a funnel.
    warnings: int = 0
    launched: bool
    version: int
    updated_at: datetime


class PortfolioTotals(ReadModel):
    """How many projects of a filtered portfolio are in each health and each stage."""

    total: int
    health: dict[str, int]
    stage: dict[str, int]
    launched: int


class PortfolioPage(ReadModel):
    items: list[PortfolioRow]
    next_cursor: str | None = None


# ----------------------------------------------------------------- forecast


class ForecastBasis(ReadModel):
    """What a forecast rests on: this project's completed milestones and its reference class."""

    template: str | None = None
    own_milestones: int
    # Milestones completed by the other projects of the same template, and how many projects those are.
    reference_milestones: int
    reference_projects: int


class MilestoneForecast(ReadModel):
    id: str
    title: str
    stage: str
    due_on: date
    original_due_on: date
    # Completion dates: even odds of finishing by p50_on, four in five by p80_on.
    p50_on: date
    p80_on: date
    # The same as days after the first planned due date.
    p50_slip_days: int
    p80_slip_days: int
    # Milestones of this stage in the reference class, and the credibility weight of each source (sum 1).
    reference_milestones: int
    own_weight: float
    reference_weight: float
    prior_weight: float


class LaunchForecast(ReadModel):
    # The latest due date of the open milestones (the plan as it stands), and the forecast of the last to finish.
    planned_on: date
    p50_on: date
    p80_on: date
    p80_days_after_plan: int
    # P80 launch after the planned launch, on evidence (the prior alone never puts a project at risk).
    at_risk: bool


class ProjectForecast(ReadModel):
    project_id: str
    today: date
    basis: ForecastBasis
    milestones: list[MilestoneForecast]
    # None once launched or with no open milestone.
    launch: LaunchForecast | None = None


# -------------------------------------------------------------------- audit


class AuditEntry(ReadModel):
    position: int
    project_id: str
    version: int
    type: str
    actor: str
    recorded_at: datetime
    data: dict[str, Any]


class AuditPage(ReadModel):
    project_id: str
    items: list[AuditEntry]
    next_cursor: str | None = None


# ---------------------------------------------------- client participation


class CommentView(ReadModel):
    """A plain-text comment by a pm or a client on a milestone, a criterion or a change request."""

    id: str
    target_kind: Literal["milestone", "criterion", "change_request"]
    target_id: str
    text: str
    by: str
    at: datetime


class CommentList(ReadModel):
    project_id: str
    items: list[CommentView]


class ReceiptRow(ReadModel):
    """An event that yields a signed receipt: a client's sign-off or a change decision."""

    version: int
    type: str
    subject_id: str
    outcome: str
    by: str
    at: datetime


class ReceiptList(ReadModel):
    project_id: str
    items: list[ReceiptRow]
