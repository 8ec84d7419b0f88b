"""From a complete project state to read models, for a given moment (`now` is always passed in)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from delivery import gates, health
from delivery.changes import ChangeKind, ChangeStatus, drift_pct
from delivery.messages import Message, msg
from delivery.milestones import CLOSED_STATES, milestone_status
from delivery.scope import TIERS
from delivery.stages import STAGES, Stage
from projections.models import (
    ChangeLog,
    ChangeLogEntry,
    Checklist,
    ChecklistItem,
    ChecklistMilestone,
    CommentList,
    DriftSummary,
    MessageView,
    MilestoneList,
    MilestoneRecord,
    MilestoneStatus,
    ObservationRow,
    ObservationView,
    ProjectHeader,
    ProjectSummary,
    ReceiptList,
    ReleaseList,
    ReleaseView,
    ScopeItemView,
    ScopeRow,
    StageChecklist,
    StageGate,
)
from projections.portfolio import search_text
from projections.state import ProjectState

APPROVED = frozenset({ChangeStatus.APPROVED.value, ChangeStatus.IMPLEMENTED.value})


def summary_view(state: ProjectState) -> ProjectSummary:
    h = state.h
    stage = Stage(h.stage)
    scope: list[ScopeRow] = state.rows.of("scope")
    return ProjectSummary(
        id=h.id, name=h.name, client=h.client, description=h.description, stage=stage.value,
        stage_label_en=stage.label_en, stage_label_zh=stage.label_zh, version=h.version,
        created_at=h.created_at, created_by=h.created_by, updated_at=h.updated_at, launched=h.launched,
        launched_at=h.launched_at, baseline_frozen_at=h.baseline_frozen_at,
        template=h.template, plan_waivers=[w.model_copy() for w in h.plan_waivers],
        stage_history=state.rows.of("stage"),
        scope=[
            ScopeItemView(id=i.id, title=i.title, tier=i.tier, status=i.status,
                          change_request_id=i.change_request_id, in_baseline=i.in_baseline)
            for i in scope
        ],
        funnel=[f.model_copy() for f in h.funnel], biggest_drop=h.biggest_drop, currency=h.currency,
    )


def _criteria_by_milestone(state: ProjectState) -> dict[str, list[ChecklistItem]]:
    grouped: dict[str, list[ChecklistItem]] = {}
    for item in state.rows.of("criterion"):
        grouped.setdefault(item.milestone_id, []).append(item)
    return grouped


def milestone_list(project_id: str, state: ProjectState, now: datetime) -> MilestoneList:
    today = now.date()
    current = Stage(state.h.stage).order
    criteria = _criteria_by_milestone(state)
    items = []
    m: MilestoneRecord
    for m in state.rows.of("milestone"):
        mine = criteria.get(m.id, [])
        closed = sum(1 for c in mine if c.state in CLOSED_STATES)
        status = milestone_status(
            due_on=m.due_on, completed_on=m.completed_on, stage_index=Stage(m.stage).order,
            current_stage_index=current, today=today,
        )
        # From the record's own attributes: its nested models are taken as they are, not dumped and rebuilt.
        items.append(MilestoneStatus(
            **m.__dict__, status=status,  # type: ignore[arg-type]
            slip_days=(m.due_on - m.original_due_on).days,
            days_late=max(0, (m.completed_on - m.due_on).days) if m.completed_on else None,
            days_to_due=None if m.completed_on else (m.due_on - today).days,
            criteria_total=len(mine), criteria_closed=closed,
        ))
    return MilestoneList(project_id=project_id, today=today, items=items)


def checklist_view(project_id: str, state: ProjectState) -> Checklist:
    milestones: list[MilestoneRecord] = state.rows.of("milestone")
    criteria: list[ChecklistItem] = state.rows.of("criterion")
    by_milestone = _criteria_by_milestone(state)
    current = state.h.stage
    stages = []
    for stage in STAGES:
        mine = [m for m in milestones if m.stage == stage]
        grouped = [
            ChecklistMilestone(id=m.id, title=m.title, stage=m.stage, done=m.done, items=by_milestone.get(m.id, []))
            for m in mine
        ]
        items = [i for g in grouped for i in g.items]
        unmet = gates.unmet(stage, mine, criteria, state.h.release_completed,
                            plan_waived=any(w.stage == stage for w in state.h.plan_waivers))
        stages.append(StageChecklist(
            stage=stage.value, label_en=stage.label_en, label_zh=stage.label_zh,
            is_current=stage == current, milestones=grouped,
            closed=sum(1 for i in items if i.state in CLOSED_STATES), total=len(items),
            gate=StageGate(holds=not unmet, unmet=unmet),
        ))
    return Checklist(project_id=project_id, stage=current, open_criteria=state.h.open_criteria, stages=stages)


def drift_summary(state: ProjectState) -> DriftSummary:
    h = state.h
    entries: list[ChangeLogEntry] = state.rows.of("change")
    by_tier = {t: h.baseline_by_tier.get(t, 0) for t in TIERS}
    approved = [e for e in entries if e.status in APPROVED]
    added = sum(1 for e in approved if e.kind == ChangeKind.ADD)
    removed = sum(1 for e in approved if e.kind == ChangeKind.REMOVE)
    modified = sum(1 for e in approved if e.kind == ChangeKind.MODIFY)
    drift = drift_pct(h.baseline_size, added + removed + modified)
    late = [e.id for e in entries if e.late]
    early_value = [e.id for e in approved if e.value_added_before_core]
    early_touch = [e.id for e in approved if e.touchpoint_before_core]
    early_raised = [e.id for e in entries if e.raised_before_core and e.status == ChangeStatus.RAISED]
    early_scheduled = [m.id for m in state.rows.of("milestone") if m.scheduled_before_core and not m.done]
    warnings: list[Message] = []
    if h.left_research_without_funnel:
        warnings.append(msg("warning_no_funnel"))
    if late:
        warnings.append(msg("warning_late_requests", count=len(late), ids=late))
    if early_value:
        warnings.append(msg("warning_value_added_before_core", ids=early_value))
    if early_touch:
        warnings.append(msg("warning_touchpoint_before_core", ids=early_touch))
    if early_raised:
        warnings.append(msg("warning_raised_before_core", ids=early_raised))
    if early_scheduled:
        warnings.append(msg("warning_scheduled_before_core", ids=early_scheduled))
    if drift > health.DRIFT_AMBER_PCT:
        warnings.append(msg("warning_drift", drift_pct=drift))
    return DriftSummary(
        baseline_frozen=h.baseline_frozen_at is not None, baseline_size=h.baseline_size,
        baseline_by_tier=by_tier, items_added=added, items_removed=removed,
        items_modified=modified, drift_pct=drift,
        schedule_days_added=sum(e.schedule_days for e in approved),
        cost_added=sum((e.cost for e in approved), Decimal("0.00")),
        pending=sum(1 for e in entries if e.status == ChangeStatus.RAISED),
        late_requests=late, value_added_before_core=early_value, warnings=[w.english() for w in warnings],
        warning_messages=[MessageView.model_construct(code=w.code, params=w.plain_params()) for w in warnings],
        currency=h.currency,
        touchpoint_before_core=early_touch, raised_before_core=early_raised, scheduled_before_core=early_scheduled,
        no_funnel=h.left_research_without_funnel, drift_warning=drift > health.DRIFT_AMBER_PCT,
    )


def change_log(project_id: str, state: ProjectState) -> ChangeLog:
    return ChangeLog(project_id=project_id, entries=state.rows.of("change"), drift=drift_summary(state),
                     proposals=state.rows.of("proposal"), currency=state.h.currency)


def comment_list(project_id: str, state: ProjectState, target_kind: str | None = None,
                 target_id: str | None = None) -> CommentList:
    """The project's comments in the order they were written, optionally those on one target."""
    items = [c for c in state.rows.of("comment")
             if target_kind in (None, c.target_kind) and target_id in (None, c.target_id)]
    return CommentList(project_id=project_id, items=items)


def receipt_list(project_id: str, state: ProjectState) -> ReceiptList:
    """The sign-offs and change decisions a signed receipt can be downloaded for."""
    return ReceiptList(project_id=project_id, items=state.rows.of("receipt"))


def release_list(project_id: str, state: ProjectState, now: datetime) -> ReleaseList:
    observed: dict[str, list[ObservationView]] = {}
    o: ObservationRow
    for o in state.rows.of("observation"):
        # A stored row is an ObservationView with its release's id: the list's declared type decides what is
        # sent (pydantic serialises a subclass by the field's schema), so the row goes in as it is.
        observed.setdefault(o.release_id, []).append(o)
    items = []
    r: ReleaseView
    for r in state.rows.of("release"):
        view = r.model_copy(update={"observations": observed.get(r.id, [])})
        spent: dict[str, float] = {}
        for visit in view.visits:
            end = visit.left_at or now
            key = str(visit.percent)
            spent[key] = spent.get(key, 0.0) + max(0.0, (end - visit.entered_at).total_seconds())
        view.time_at_step = spent
        items.append(view)
    return ReleaseList(project_id=project_id, items=items)


def portfolio_columns(state: ProjectState) -> dict[str, Any]:
    """The portfolio table's row for one project: only facts, nothing that depends on `now`."""
    h = state.h
    nxt = h.next_milestone
    return {
        "project_id": h.id,
        "name": h.name,
        "client": h.client,
        "search": search_text(h.name, h.client),
        "stage": h.stage,
        "stage_index": Stage(h.stage).order,
        "stage_entered_at": h.stage_entered_at,
        "next_milestone_id": nxt.id if nxt else None,
        "next_milestone_title": nxt.title if nxt else None,
        "next_milestone_stage": nxt.stage if nxt else None,
        "next_milestone_due_on": nxt.due_on if nxt else None,
        "next_milestone_stage_index": Stage(nxt.stage).order if nxt else None,
        "open_criteria": h.open_criteria,
        "rejected_criteria": h.rejected_criteria,
        "pending_change_requests": h.pending_changes,
        "drift_pct": drift_pct(h.baseline_size, h.approved_changes),
        "release_percent": h.release_percent,
        "release_state": h.release_state,
        "launched": h.launched,
        "milestones_planned": h.milestones_planned,
        "warnings": h.before_core_approvals + h.before_core_pending + h.before_core_scheduled
        + int(h.left_research_without_funnel),
        "launch_p80_days_late": launch_days_late(h),
        "currency": h.currency,
        "version": h.version,
        "updated_at": h.updated_at,
    }


def launch_days_late(h: ProjectHeader) -> int | None:
    """The P80 launch forecast less the planned launch (the last open milestone's due date), in days."""
    if h.launch_p80_on is None or h.last_milestone is None:
        return None
    return (h.launch_p80_on - h.last_milestone.due_on).days
