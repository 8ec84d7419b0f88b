"""The per-project reducers: `(state, event) -> state`, one per view.

The same functions serve the live views, a rebuild from event zero and an *as of*
view. They read nothing but the state and the event (no clock, no database);
for speed they update the state they are given and return it, so a caller that
needs the old state keeps a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

from delivery.changes import ChangeKind, ChangeStatus
from delivery.milestones import Metric
from delivery.scope import ItemStatus, Tier
from delivery.stages import LATE_CHANGE_STAGE, Stage
from projections.events import kind
from projections.models import (
    ChangeDecision,
    ChangeLogEntry,
    ChangesState,
    ChecklistItem,
    ChecklistMilestoneRef,
    ChecklistState,
    CriterionDecision,
    FunnelStepView,
    HealthCheckView,
    MetricView,
    MilestoneRecord,
    MilestonesState,
    ObservationView,
    PauseView,
    ProjectSummary,
    ReleasesState,
    ReleaseView,
    RescheduleEntry,
    RollbackView,
    ScopeRef,
    StageEntry,
    StepVisit,
)

S = TypeVar("S")


def _stage_entry(stage: str, event: Any, direction: str, reason: str = "") -> StageEntry:
    s = Stage(stage)
    return StageEntry(
        stage=s.value, label_en=s.label_en, label_zh=s.label_zh, entered_at=event.timestamp,
        by=event.actor, direction=direction, reason=reason,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ summary


def reduce_summary(state: ProjectSummary | None, event: Any) -> ProjectSummary:
    name = kind(event)
    if name == "Created":
        first = Stage.RESEARCH
        return ProjectSummary(
            id=str(event.originator_id), name=event.name, client=event.client,
            description=event.description, stage=first.value, stage_label_en=first.label_en,
            stage_label_zh=first.label_zh, version=event.originator_version,
            created_at=event.timestamp, created_by=event.actor, updated_at=event.timestamp,
            stage_history=[_stage_entry(first.value, event, "created")],
        )
    assert state is not None, "a project's first event is Created"
    state.version = event.originator_version
    state.updated_at = event.timestamp
    if name in ("StageAdvanced", "StageReturned"):
        stage = Stage(event.to_stage)
        state.stage, state.stage_label_en, state.stage_label_zh = stage.value, stage.label_en, stage.label_zh
        direction = "advanced" if name == "StageAdvanced" else "returned"
        state.stage_history.append(_stage_entry(stage.value, event, direction, event.reason))
    elif name == "BaselineFrozen":
        state.baseline_frozen_at = event.timestamp
    elif name == "LaunchCompleted":
        state.launched, state.launched_at = True, event.timestamp
    elif name == "FunnelDefined":
        state.funnel = [FunnelStepView(name=s["name"], expected_rate=s["expected_rate"]) for s in event.steps]
    elif name == "FunnelActualsRecorded":
        for step, rate in zip(state.funnel, event.rates, strict=True):
            step.actual_rate = rate
            step.gap = round(rate - step.expected_rate, 2)
        worst = min(state.funnel, key=lambda s: s.gap if s.gap is not None else 0.0, default=None)
        state.biggest_drop = worst.name if worst is not None and (worst.gap or 0) < 0 else None
    return state


# --------------------------------------------------------------- milestones


def reduce_milestones(state: MilestonesState | None, event: Any) -> MilestonesState:
    state = state if state is not None else MilestonesState()
    name = kind(event)
    if name in ("StageAdvanced", "StageReturned"):
        state.current_stage = event.to_stage
    elif name == "MilestonePlanned":
        state.milestones.append(MilestoneRecord(
            id=event.milestone_id, stage=event.stage, title=event.title,
            deliverables=list(event.deliverables), due_on=event.due_on,
            original_due_on=event.due_on, planned_at=event.timestamp, planned_by=event.actor,
        ))
    elif name == "MilestoneRescheduled":
        m = _by_id(state.milestones, event.milestone_id)
        m.reschedules.append(RescheduleEntry(
            from_on=event.from_on, to_on=event.to_on, reason=event.reason, by=event.actor,
            at=event.timestamp,
        ))
        m.due_on = event.to_on
    elif name == "MilestoneCompleted":
        m = _by_id(state.milestones, event.milestone_id)
        m.completed_on, m.completed_at, m.completed_by = event.completed_on, event.timestamp, event.actor
    elif name == "CriterionAdded":
        state.criterion_milestone[event.criterion_id] = event.milestone_id
        state.criterion_state[event.criterion_id] = "open"
    elif name in _CRITERION_STATES:
        state.criterion_state[event.criterion_id] = _CRITERION_STATES[name]
    return state


_CRITERION_STATES = {
    "CriterionVerified": "verified", "CriterionRejected": "rejected", "CriterionWaived": "waived",
}


# ---------------------------------------------------------------- checklist


def reduce_checklist(state: ChecklistState | None, event: Any) -> ChecklistState:
    state = state if state is not None else ChecklistState()
    name = kind(event)
    if name in ("StageAdvanced", "StageReturned"):
        state.current_stage = event.to_stage
    elif name == "MilestonePlanned":
        state.milestones.append(ChecklistMilestoneRef(id=event.milestone_id, title=event.title, stage=event.stage))
    elif name == "MilestoneCompleted":
        _by_id(state.milestones, event.milestone_id).done = True
    elif name == "ReleaseCompleted":
        state.release_completed = True
    elif name == "CriterionAdded":
        metric = MetricView(**event.metric) if event.metric else None
        state.items.append(ChecklistItem(
            id=event.criterion_id, milestone_id=event.milestone_id, text=event.text, metric=metric,
            added_by=event.actor, added_at=event.timestamp,
            history=[CriterionDecision(action="added", by=event.actor, at=event.timestamp)],
        ))
    elif name in _CRITERION_STATES:
        item = _by_id(state.items, event.criterion_id)
        action = _CRITERION_STATES[name]
        item.state, item.decided_by, item.decided_at = action, event.actor, event.timestamp
        decision = CriterionDecision(action=action, by=event.actor, at=event.timestamp)  # type: ignore[arg-type]
        if name == "CriterionVerified":
            item.evidence, item.measured, item.reason = event.evidence, event.measured, ""
            decision.evidence, decision.measured = event.evidence, event.measured
            if item.metric is not None and event.measured is not None:
                item.meets_threshold = Metric(**item.metric.model_dump()).met_by(event.measured)
        else:
            item.reason = decision.reason = event.reason
        item.history.append(decision)
    return state


# ---------------------------------------------------------- change requests


def reduce_changes(state: ChangesState | None, event: Any) -> ChangesState:
    state = state if state is not None else ChangesState()
    name = kind(event)
    if name in ("StageAdvanced", "StageReturned"):
        state.stage = event.to_stage
    elif name == "ScopeItemAdded":
        state.scope[event.item_id] = ScopeRef(id=event.item_id, title=event.title, tier=event.tier)
    elif name == "ScopeItemRemoved":
        state.scope[event.item_id].status = ItemStatus.REMOVED.value
    elif name == "ScopeItemDelivered":
        state.scope[event.item_id].status = ItemStatus.DELIVERED.value
    elif name == "BaselineFrozen":
        state.baseline = [ScopeRef(**i) for i in event.items]
        state.baseline_frozen_at = event.timestamp
    elif name == "ChangeRequestRaised":
        item = state.scope.get(event.scope_item_id) if event.scope_item_id else None
        state.entries.append(ChangeLogEntry(
            id=event.change_request_id, title=event.title, requested_by=event.requested_by,
            kind=event.kind, tier=event.tier, scope_item_id=event.scope_item_id,
            scope_item_title=item.title if item else None, schedule_days=event.schedule_days,
            cost=Decimal(event.cost), status=ChangeStatus.RAISED.value, raised_in_stage=event.stage,
            raised_at=event.timestamp, raised_by=event.actor,
            late=Stage(event.stage).order >= LATE_CHANGE_STAGE.order,
            trail=[ChangeDecision(action="raised", by=event.actor, at=event.timestamp)],
        ))
    elif name == "ChangeRequestApproved":
        entry = _by_id(state.entries, event.change_request_id)
        core_open = any(
            i.tier == Tier.CORE and i.status == ItemStatus.OPEN for i in state.scope.values()
        )
        entry.value_added_before_core = (
            entry.tier == Tier.VALUE_ADDED and entry.kind != ChangeKind.REMOVE and core_open
        )
        _apply_approval(state, entry, event.new_item_id)
        _decide(entry, event, ChangeStatus.APPROVED, event.reason)
    elif name == "ChangeRequestRejected":
        _decide(_by_id(state.entries, event.change_request_id), event, ChangeStatus.REJECTED, event.reason)
    elif name == "ChangeRequestWithdrawn":
        _decide(_by_id(state.entries, event.change_request_id), event, ChangeStatus.WITHDRAWN, "")
    elif name == "ChangeRequestImplemented":
        _decide(_by_id(state.entries, event.change_request_id), event, ChangeStatus.IMPLEMENTED, "")
    return state


def _apply_approval(state: ChangesState, entry: ChangeLogEntry, new_item_id: str | None) -> None:
    if entry.kind == ChangeKind.ADD and new_item_id:
        entry.scope_item_id, entry.scope_item_title = new_item_id, entry.title
        state.scope[new_item_id] = ScopeRef(id=new_item_id, title=entry.title, tier=entry.tier)
    elif entry.kind == ChangeKind.REMOVE and entry.scope_item_id:
        state.scope[entry.scope_item_id].status = ItemStatus.REMOVED.value
    elif entry.kind == ChangeKind.MODIFY and entry.scope_item_id:
        state.scope[entry.scope_item_id].tier = entry.tier


def _decide(entry: ChangeLogEntry, event: Any, status: ChangeStatus, reason: str) -> None:
    entry.status = status.value
    entry.trail.append(ChangeDecision(action=status.value, by=event.actor, at=event.timestamp, reason=reason))  # type: ignore[arg-type]


# ----------------------------------------------------------------- releases


def reduce_releases(state: ReleasesState | None, event: Any) -> ReleasesState:
    state = state if state is not None else ReleasesState()
    name = kind(event)
    if not name.startswith("Release"):
        return state
    at = event.timestamp
    if name == "ReleasePlanned":
        state.items.append(ReleaseView(
            id=event.release_id, version=event.version, steps=list(event.steps),
            checks=[HealthCheckView(**c) for c in event.checks], planned_at=at, planned_by=event.actor,
        ))
        return state
    r = _by_id(state.items, event.release_id)
    if name == "ReleaseStarted":
        r.state, r.percent = "ramping", r.steps[0]
        r.started_at = r.started_at or at
        _visit(r, r.steps[0], at)
    elif name == "ReleaseAdvanced":
        r.percent = event.to_percent
        _visit(r, event.to_percent, at)
    elif name == "ReleaseObserved":
        r.observations.append(ObservationView(
            at=at, percent=event.percent, metrics=dict(event.metrics), healthy=not event.failures,
            failures=list(event.failures), by=event.actor,
        ))
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
    return state


def _visit(r: ReleaseView, percent: int, at: Any) -> None:
    if r.visits and r.visits[-1].left_at is None:
        r.visits[-1].left_at = at
    r.visits.append(StepVisit(percent=percent, entered_at=at))


# ------------------------------------------------------------------- shared


def _by_id(items: Iterable[S], ident: str) -> S:
    for item in items:
        if getattr(item, "id", None) == ident:
            return item
    raise KeyError(ident)


Reducer = Callable[[Any, Any], Any]

# The per-project views, by the name they are stored under.
REDUCERS: dict[str, Reducer] = {
    "summary": reduce_summary,
    "milestones": reduce_milestones,
    "checklist": reduce_checklist,
    "changes": reduce_changes,
    "releases": reduce_releases,
}

STATE_TYPES: dict[str, type[Any]] = {
    "summary": ProjectSummary,
    "milestones": MilestonesState,
    "checklist": ChecklistState,
    "changes": ChangesState,
    "releases": ReleasesState,
}


def fold(events: Iterable[Any], states: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every per-project view's state after `events` (all of one project, in order)."""
    states = dict(states or {})
    for event in events:
        for view, reduce in REDUCERS.items():
            states[view] = reduce(states.get(view), event)
    return states
