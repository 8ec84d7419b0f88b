"""The per-project reducers: `(state, event) -> state`, one per view.

The same functions serve the live views, a rebuild from event zero and an *as of*
view. They read nothing but the state and the event (no clock, no database) and
touch only the rows the event names, by key, plus the header's counters; so the
cost of an event never depends on how long the project's history is
(projections/state.py). They update the state they are given and return it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from delivery.changes import ChangeKind, ChangeStatus
from delivery.milestones import CLOSED_STATES, Metric
from delivery.scope import ItemStatus, Tier
from delivery.stages import LATE_CHANGE_STAGE, Stage
from projections.events import kind
from projections.forecast import slip_of
from projections.models import (
    ChangeDecision,
    ChangeLogEntry,
    ChangeProposalView,
    ChecklistItem,
    CommentView,
    CriterionDecision,
    FunnelStepView,
    HealthCheckView,
    MetricView,
    MilestoneRecord,
    ObservationRow,
    PauseView,
    PlanWaiverView,
    ProjectHeader,
    ReceiptRow,
    ReleaseView,
    RescheduleEntry,
    RollbackView,
    ScopeRow,
    StageEntry,
    StepVisit,
    trusted,
)
from projections.state import ProjectState

# The rows the reducers make most, built without validating again what the decoded event holds (`trusted`).
new_stage_entry = trusted(StageEntry)
new_scope_row = trusted(ScopeRow)
new_milestone_record = trusted(MilestoneRecord)
new_reschedule_entry = trusted(RescheduleEntry)
new_checklist_item = trusted(ChecklistItem)
new_criterion_decision = trusted(CriterionDecision)
new_change_log_entry = trusted(ChangeLogEntry)
new_change_decision = trusted(ChangeDecision)
new_receipt_row = trusted(ReceiptRow)

# ------------------------------------------------------------------ summary


def _stage_row(state: ProjectState, stage: str, event: Any, direction: str, reason: str = "") -> None:
    s = Stage(stage)
    version = event.originator_version
    state.rows.add("stage", str(version), version, new_stage_entry(
        stage=s.value, label_en=s.label_en, label_zh=s.label_zh, entered_at=event.timestamp,
        by=event.actor, direction=direction, reason=reason,
    ))


def reduce_summary(state: ProjectState, event: Any) -> ProjectState:
    name = kind(event)
    if name == "Created":
        state.header = ProjectHeader(
            id=str(event.originator_id), name=event.name, client=event.client,
            description=event.description, stage=Stage.RESEARCH.value, stage_entered_at=event.timestamp,
            version=event.originator_version, created_at=event.timestamp, created_by=event.actor,
            updated_at=event.timestamp,
        )
        _stage_row(state, Stage.RESEARCH.value, event, "created")
        state.header_dirty = True
        return state
    h = state.h
    h.version = event.originator_version
    h.updated_at = event.timestamp
    state.header_dirty = True
    if name in ("StageAdvanced", "StageReturned"):
        if name == "StageAdvanced" and event.from_stage == Stage.RESEARCH and not h.funnel:
            h.left_research_without_funnel = True
        h.stage, h.stage_entered_at = Stage(event.to_stage).value, event.timestamp
        direction = "advanced" if name == "StageAdvanced" else "returned"
        _stage_row(state, event.to_stage, event, direction, event.reason)
    elif name == "BaselineFrozen":
        h.baseline_frozen_at = event.timestamp
    elif name == "LaunchCompleted":
        h.launched, h.launched_at = True, event.timestamp
    elif name == "TemplateApplied":
        h.template = event.template
    elif name == "ProjectRenamed":
        h.name = event.name
    elif name == "ProjectCurrencySet":
        h.currency = event.currency
    elif name == "StagePlanWaived":
        h.plan_waivers.append(PlanWaiverView(stage=event.stage, reason=event.reason, by=event.actor,
                                             at=event.timestamp))
    elif name == "FunnelDefined":
        h.funnel = [FunnelStepView(name=s["name"], expected_rate=s["expected_rate"]) for s in event.steps]
        h.biggest_drop = None
        h.left_research_without_funnel = False
    elif name == "FunnelActualsRecorded":
        for step, rate in zip(h.funnel, event.rates, strict=True):
            step.actual_rate = rate
            step.gap = round(rate - step.expected_rate, 2)
        worst = min(h.funnel, key=lambda s: s.gap if s.gap is not None else 0.0, default=None)
        h.biggest_drop = worst.name if worst is not None and (worst.gap or 0) < 0 else None
    return state


# -------------------------------------------------------------------- scope


def _set_status(state: ProjectState, item: ScopeRow, status: str) -> None:
    _count_core(state, item, -1)
    item.status = status
    _count_core(state, item, +1)


def _count_core(state: ProjectState, item: ScopeRow, sign: int) -> None:
    if item.tier == Tier.CORE and item.status == ItemStatus.OPEN:
        state.h.core_open += sign


def reduce_scope(state: ProjectState, event: Any) -> ProjectState:
    name = kind(event)
    if name == "ScopeItemAdded":
        item = new_scope_row(id=event.item_id, title=event.title, tier=event.tier)
        state.rows.add("scope", event.item_id, event.originator_version, item)
        _count_core(state, item, +1)
    elif name == "ScopeItemRemoved":
        _set_status(state, state.rows.edit("scope", event.item_id), ItemStatus.REMOVED.value)
    elif name == "ScopeItemDelivered":
        _set_status(state, state.rows.edit("scope", event.item_id), ItemStatus.DELIVERED.value)
    elif name == "ScopeItemRetitled":
        state.rows.edit("scope", event.item_id).title = event.title
    elif name == "BaselineFrozen":
        by_tier: dict[str, int] = {}
        for frozen in event.items:
            item = state.rows.edit("scope", frozen["id"])
            item.in_baseline, item.baseline_tier = True, frozen["tier"]
            by_tier[frozen["tier"]] = by_tier.get(frozen["tier"], 0) + 1
        state.h.baseline_size, state.h.baseline_by_tier = len(event.items), by_tier
    return state


# --------------------------------------------------------------- milestones


def reduce_milestones(state: ProjectState, event: Any) -> ProjectState:
    name = kind(event)
    if name == "MilestonePlanned":
        delivers = list(getattr(event, "scope_item_ids", None) or [])  # none before v5
        early = state.h.core_open > 0 and any(state.rows.get("scope", i).tier in NON_CORE for i in delivers)
        state.rows.add("milestone", event.milestone_id, event.originator_version, new_milestone_record(
            id=event.milestone_id, stage=event.stage, title=event.title,
            deliverables=list(event.deliverables), due_on=event.due_on,
            original_due_on=event.due_on, planned_at=event.timestamp, planned_by=event.actor,
            scope_item_ids=delivers, scheduled_before_core=early,
        ))
        state.h.before_core_scheduled += early
        state.h.milestones_planned += 1
        state.milestones_moved = True
    elif name == "MilestoneRescheduled":
        m = state.rows.edit("milestone", event.milestone_id)
        m.reschedules.append(new_reschedule_entry(
            from_on=event.from_on, to_on=event.to_on, reason=event.reason, by=event.actor,
            at=event.timestamp,
        ))
        m.due_on = event.to_on
        state.milestones_moved = True
    elif name == "MilestoneCompleted":
        m = state.rows.edit("milestone", event.milestone_id)
        m.completed_on, m.completed_at, m.completed_by = event.completed_on, event.timestamp, event.actor
        state.h.before_core_scheduled -= m.scheduled_before_core
        by_slip = state.h.slips.setdefault(m.stage, {})
        slip = slip_of(m)
        by_slip[slip] = by_slip.get(slip, 0) + 1
        state.milestones_moved = True
    elif name == "MilestoneRetitled":
        state.rows.edit("milestone", event.milestone_id).title = event.title
        state.milestones_moved = True  # the portfolio's next milestone shows the title
    elif name == "DeliverablesRevised":
        state.rows.edit("milestone", event.milestone_id).deliverables = list(event.deliverables)
    return state


# ---------------------------------------------------------------- checklist

_CRITERION_STATES = {
    "CriterionVerified": "verified", "CriterionRejected": "rejected", "CriterionWaived": "waived",
}


def _count_criterion(state: ProjectState, criterion_state: str, sign: int) -> None:
    h = state.h
    if criterion_state not in CLOSED_STATES:
        h.open_criteria += sign
    if criterion_state == "rejected":
        h.rejected_criteria += sign


def reduce_checklist(state: ProjectState, event: Any) -> ProjectState:
    name = kind(event)
    if name == "ReleaseCompleted":
        state.h.release_completed = True
    elif name == "CriterionAdded":
        metric = MetricView(**event.metric) if event.metric else None
        item = new_checklist_item(
            id=event.criterion_id, milestone_id=event.milestone_id, text=event.text, metric=metric,
            added_by=event.actor, added_at=event.timestamp,
            history=[new_criterion_decision(action="added", by=event.actor, at=event.timestamp)],
            # Events recorded before sign-off existed have no such field.
            client_signoff=bool(getattr(event, "client_signoff", False)),
        )
        state.rows.add("criterion", event.criterion_id, event.originator_version, item)
        _count_criterion(state, item.state, +1)
    elif name in _CRITERION_STATES:
        item = state.rows.edit("criterion", event.criterion_id)
        action = _CRITERION_STATES[name]
        _count_criterion(state, item.state, -1)
        item.state, item.decided_by, item.decided_at = action, event.actor, event.timestamp
        _count_criterion(state, item.state, +1)
        decision = new_criterion_decision(action=action, by=event.actor, at=event.timestamp)
        if name == "CriterionVerified":
            item.evidence, item.measured, item.reason = event.evidence, event.measured, ""
            decision.evidence, decision.measured = event.evidence, event.measured
            if item.metric is not None and event.measured is not None:
                item.meets_threshold = Metric(**item.metric.model_dump()).met_by(event.measured)
        else:
            item.reason = decision.reason = event.reason
        item.history.append(decision)
    elif name == "CriterionReworded":
        state.rows.edit("criterion", event.criterion_id).text = event.text
    elif name == "CriterionSignedOff":
        _signed_off(state, event)
    return state


# ---------------------------------------------------------- change requests

NON_CORE = frozenset({Tier.TOUCHPOINT.value, Tier.VALUE_ADDED.value})


def reduce_changes(state: ProjectState, event: Any) -> ProjectState:
    name = kind(event)
    if name == "ChangeRequestRaised":
        item = state.rows.get("scope", event.scope_item_id) if event.scope_item_id else None
        early = (event.kind != ChangeKind.REMOVE and event.tier in NON_CORE and state.h.core_open > 0)
        state.h.before_core_pending += early
        state.rows.add("change", event.change_request_id, event.originator_version, new_change_log_entry(
            id=event.change_request_id, title=event.title, requested_by=event.requested_by,
            kind=event.kind, tier=event.tier, scope_item_id=event.scope_item_id,
            scope_item_title=item.title if item else None, schedule_days=event.schedule_days,
            cost=Decimal(event.cost), status=ChangeStatus.RAISED.value, raised_in_stage=event.stage,
            raised_at=event.timestamp, raised_by=event.actor,
            late=Stage(event.stage).order >= LATE_CHANGE_STAGE.order, raised_before_core=early,
            trail=[new_change_decision(action="raised", by=event.actor, at=event.timestamp)],
        ))
        state.h.pending_changes += 1
    elif name == "ChangeRequestApproved":
        entry = state.rows.edit("change", event.change_request_id)
        early = entry.kind != ChangeKind.REMOVE and state.h.core_open > 0
        entry.value_added_before_core = early and entry.tier == Tier.VALUE_ADDED
        entry.touchpoint_before_core = early and entry.tier == Tier.TOUCHPOINT
        state.h.before_core_approvals += entry.value_added_before_core or entry.touchpoint_before_core
        _apply_approval(state, entry, event)
        _decide(state, entry, event, ChangeStatus.APPROVED, event.reason)
        state.h.approved_changes += 1
    elif name == "ChangeRequestRejected":
        _decide(state, state.rows.edit("change", event.change_request_id), event, ChangeStatus.REJECTED, event.reason)
    elif name == "ChangeRequestWithdrawn":
        _decide(state, state.rows.edit("change", event.change_request_id), event, ChangeStatus.WITHDRAWN, "")
    elif name == "ChangeRequestImplemented":
        _decide(state, state.rows.edit("change", event.change_request_id), event, ChangeStatus.IMPLEMENTED, "")
    return state


def _apply_approval(state: ProjectState, entry: ChangeLogEntry, event: Any) -> None:
    new_item_id = event.new_item_id
    if entry.kind == ChangeKind.ADD and new_item_id:
        entry.scope_item_id, entry.scope_item_title = new_item_id, entry.title
        item = new_scope_row(id=new_item_id, title=entry.title, tier=entry.tier, change_request_id=entry.id)
        state.rows.add("scope", new_item_id, event.originator_version, item)
        _count_core(state, item, +1)
    elif entry.kind == ChangeKind.REMOVE and entry.scope_item_id:
        _set_status(state, state.rows.edit("scope", entry.scope_item_id), ItemStatus.REMOVED.value)
    elif entry.kind == ChangeKind.MODIFY and entry.scope_item_id:
        item = state.rows.edit("scope", entry.scope_item_id)
        _count_core(state, item, -1)
        item.tier = entry.tier
        _count_core(state, item, +1)


def _decide(state: ProjectState, entry: ChangeLogEntry, event: Any, status: ChangeStatus, reason: str) -> None:
    if entry.status == ChangeStatus.RAISED:
        state.h.pending_changes -= 1
        state.h.before_core_pending -= entry.raised_before_core
    entry.status = status.value
    entry.trail.append(new_change_decision(action=status.value, by=event.actor, at=event.timestamp, reason=reason))


# ----------------------------------------------------------------- releases


def reduce_releases(state: ProjectState, event: Any) -> ProjectState:
    name = kind(event)
    if not name.startswith("Release"):
        return state
    at = event.timestamp
    if name == "ReleasePlanned":
        state.rows.add("release", event.release_id, event.originator_version, ReleaseView(
            id=event.release_id, version=event.version, steps=list(event.steps),
            checks=[HealthCheckView(**c) for c in event.checks], planned_at=at, planned_by=event.actor,
        ))
        state.h.latest_release_id = event.release_id
        _latest(state, "planned", 0, event.release_id)
        return state
    if name == "ReleaseObserved":
        version = event.originator_version
        state.rows.add("observation", f"{event.release_id}/{version}", version, ObservationRow(
            release_id=event.release_id, at=at, percent=event.percent, metrics=dict(event.metrics),
            healthy=not event.failures, failures=list(event.failures), by=event.actor,
        ))
        return state
    r = state.rows.edit("release", event.release_id)
    if name == "ReleaseStarted":
        r.state, r.percent = "ramping", r.steps[0]
        r.started_at = r.started_at or at
        _visit(r, r.steps[0], at)
    elif name == "ReleaseAdvanced":
        r.percent = event.to_percent
        _visit(r, event.to_percent, at)
    elif name == "ReleasePaused":
        r.state = "paused"
        r.pauses.append(PauseView(at=at, reason=event.reason, by=event.actor, percent=event.percent))
    elif name == "ReleaseResumed":
        r.state = "ramping"
        if r.pauses:
            r.pauses[-1].resumed_at = at
    elif name == "ReleaseRolledBack":
        if r.state == "paused" and r.pauses and r.pauses[-1].resumed_at is None:
            r.pauses[-1].resumed_at = at
        r.state, r.percent = "rolled_back", 0
        r.rollbacks.append(RollbackView(at=at, reason=event.reason, by=event.actor, from_percent=event.from_percent))
        _visit(r, 0, at)
    elif name == "ReleaseCompleted":
        r.state, r.completed_at = "completed", at
        if r.visits:
            r.visits[-1].left_at = at
    _latest(state, r.state, r.percent, r.id)
    return state


def _latest(state: ProjectState, release_state: str, percent: int, release_id: str) -> None:
    h = state.h
    if h.latest_release_id == release_id:
        h.release_state, h.release_percent = release_state, percent


def _visit(r: ReleaseView, percent: int, at: Any) -> None:
    if r.visits and r.visits[-1].left_at is None:
        r.visits[-1].left_at = at
    r.visits.append(StepVisit(percent=percent, entered_at=at))


# ---------------------------------------------------- client participation


def _signed_off(state: ProjectState, event: Any) -> None:
    """The client's sign-off of a criterion: verified (its comment the evidence) or rejected (the reason)."""
    item = state.rows.edit("criterion", event.criterion_id)
    _count_criterion(state, item.state, -1)
    item.state, item.decided_by, item.decided_at = event.verdict, event.actor, event.timestamp
    _count_criterion(state, item.state, +1)
    decision = new_criterion_decision(action=event.verdict, by=event.actor, at=event.timestamp, signoff=True)
    if event.verdict == "verified":
        item.evidence, item.measured, item.reason = event.comment, None, ""
        item.meets_threshold = None
        decision.evidence = event.comment
    else:
        item.reason = decision.reason = event.comment
    item.history.append(decision)


# The events that yield a signed receipt (projections/receipts.py), with the id and outcome they decide.
RECEIPT_EVENTS: dict[str, tuple[str, str | None]] = {
    "CriterionSignedOff": ("criterion_id", None),
    "ChangeRequestApproved": ("change_request_id", "approved"),
    "ChangeRequestRejected": ("change_request_id", "rejected"),
    "ChangeRequestWithdrawn": ("change_request_id", "withdrawn"),
    "ChangeProposalAccepted": ("proposal_id", "accepted"),
    "ChangeProposalDeclined": ("proposal_id", "declined"),
}


def reduce_participation(state: ProjectState, event: Any) -> ProjectState:
    """Proposals, comments, and the decisions a receipt can be asked for."""
    name = kind(event)
    at, by = event.timestamp, event.actor
    if name == "ChangeProposed":
        state.rows.add("proposal", event.proposal_id, event.originator_version, ChangeProposalView(
            id=event.proposal_id, title=event.title, description=event.description, tier=event.tier,
            proposed_by=by, proposed_at=at,
        ))
        state.h.pending_proposals += 1
    elif name in ("ChangeProposalAccepted", "ChangeProposalDeclined"):
        p = state.rows.edit("proposal", event.proposal_id)
        if name == "ChangeProposalAccepted":
            p.status, p.change_request_id = "accepted", event.change_request_id
        else:
            p.status, p.reason = "declined", event.reason
        p.decided_by, p.decided_at = by, at
        state.h.pending_proposals -= 1
    elif name == "CommentAdded":
        state.rows.add("comment", event.comment_id, event.originator_version, CommentView(
            id=event.comment_id, target_kind=event.target_kind, target_id=event.target_id, text=event.text,
            by=by, at=at,
        ))
    if name in RECEIPT_EVENTS:
        subject, outcome = RECEIPT_EVENTS[name]
        version = event.originator_version
        state.rows.add("receipt", str(version), version, new_receipt_row(
            version=version, type=name, subject_id=getattr(event, subject),
            outcome=outcome or event.verdict, by=by, at=at,
        ))
    return state


# ------------------------------------------------------------------- shared

Reducer = Callable[[ProjectState, Any], ProjectState]

# The per-project views, in the order they see each event. `changes` runs before
# `scope` would matter: an approval checks the core path as it stood before it.
REDUCERS: dict[str, Reducer] = {
    "summary": reduce_summary,
    "scope": reduce_scope,
    "milestones": reduce_milestones,
    "checklist": reduce_checklist,
    "changes": reduce_changes,
    "releases": reduce_releases,
    "participation": reduce_participation,
}


# The events each reducer reads (None: every event). `apply` calls only the reducers an event names;
# tests/unit/test_reducers.py checks that calling every reducer with every event gives the same states.
HANDLES: dict[str, frozenset[str] | None] = {
    "summary": None,
    "scope": frozenset({"ScopeItemAdded", "ScopeItemRemoved", "ScopeItemDelivered", "BaselineFrozen",
                        "ScopeItemRetitled"}),
    "milestones": frozenset({"MilestonePlanned", "MilestoneRescheduled", "MilestoneCompleted", "MilestoneRetitled",
                             "DeliverablesRevised"}),
    "checklist": frozenset({
        "ReleaseCompleted", "CriterionAdded", "CriterionVerified", "CriterionRejected", "CriterionWaived",
        "CriterionReworded",
        "CriterionSignedOff",
    }),
    "changes": frozenset({
        "ChangeRequestRaised", "ChangeRequestApproved", "ChangeRequestRejected", "ChangeRequestWithdrawn",
        "ChangeRequestImplemented",
    }),
    "releases": frozenset({
        "ReleasePlanned", "ReleaseObserved", "ReleaseStarted", "ReleaseAdvanced", "ReleasePaused",
        "ReleaseResumed", "ReleaseRolledBack", "ReleaseCompleted",
    }),
    "participation": frozenset({
        "ChangeProposed", "ChangeProposalAccepted", "ChangeProposalDeclined", "CommentAdded",
        "CriterionSignedOff", "ChangeRequestApproved", "ChangeRequestRejected", "ChangeRequestWithdrawn",
    }),
}
_ROUTES: dict[type, tuple[Reducer, ...]] = {}


def _route(event_type: type) -> tuple[Reducer, ...]:
    name = event_type.__name__
    route = tuple(reduce for view, reduce in REDUCERS.items() if name in (HANDLES[view] or {name}))
    _ROUTES[event_type] = route
    return route


def apply(state: ProjectState, event: Any) -> ProjectState:
    for reduce in _ROUTES.get(type(event)) or _route(type(event)):
        state = reduce(state, event)
    return state


def apply_every(state: ProjectState, event: Any) -> ProjectState:
    """Every reducer, whatever the event (what `apply` must equal)."""
    for reduce in REDUCERS.values():
        state = reduce(state, event)
    return state


def fold(events: Iterable[Any], state: ProjectState | None = None) -> ProjectState:
    """A project's state after `events` (all of one project, in order), from `state` or from nothing."""
    state = state if state is not None else ProjectState()
    for event in events:
        apply(state, event)
    return state
