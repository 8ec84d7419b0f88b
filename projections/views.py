"""From reducer states to read models, for a given moment (`now` is always passed in)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from delivery import gates, health
from delivery.changes import ChangeKind, ChangeStatus, drift_pct
from delivery.milestones import CLOSED_STATES, milestone_status
from delivery.scope import TIERS
from delivery.stages import STAGES, Stage
from projections.models import (
    ChangeLog,
    ChangesState,
    Checklist,
    ChecklistMilestone,
    ChecklistState,
    DriftSummary,
    MilestoneList,
    MilestonesState,
    MilestoneStatus,
    ProjectSummary,
    ReleaseList,
    ReleasesState,
    ScopeItemView,
    StageChecklist,
    StageGate,
)

APPROVED = frozenset({ChangeStatus.APPROVED.value, ChangeStatus.IMPLEMENTED.value})


def summary_view(summary: ProjectSummary, changes: ChangesState | None) -> ProjectSummary:
    result = summary.model_copy(deep=True)
    if changes is not None:
        in_baseline = {i.id for i in changes.baseline or []}
        origin = {e.scope_item_id: e.id for e in changes.entries if e.kind == ChangeKind.ADD and e.status in APPROVED}
        result.scope = [
            ScopeItemView(
                id=i.id, title=i.title, tier=i.tier, status=i.status,
                change_request_id=origin.get(i.id), in_baseline=i.id in in_baseline,
            )
            for i in changes.scope.values()
        ]
    return result


def milestone_list(project_id: str, state: MilestonesState, now: datetime) -> MilestoneList:
    today = now.date()
    current = Stage(state.current_stage).order
    items = []
    for m in state.milestones:
        criteria = [c for c, mid in state.criterion_milestone.items() if mid == m.id]
        closed = sum(1 for c in criteria if state.criterion_state.get(c) in CLOSED_STATES)
        status = milestone_status(
            due_on=m.due_on, completed_on=m.completed_on, stage_index=Stage(m.stage).order,
            current_stage_index=current, today=today,
        )
        items.append(MilestoneStatus(
            **m.model_dump(), status=status,  # type: ignore[arg-type]
            slip_days=(m.due_on - m.original_due_on).days,
            days_late=max(0, (m.completed_on - m.due_on).days) if m.completed_on else None,
            days_to_due=None if m.completed_on else (m.due_on - today).days,
            criteria_total=len(criteria), criteria_closed=closed,
        ))
    return MilestoneList(project_id=project_id, today=today, items=items)


def checklist_view(project_id: str, state: ChecklistState) -> Checklist:
    stages = []
    for stage in STAGES:
        milestones = [m for m in state.milestones if m.stage == stage]
        grouped = [
            ChecklistMilestone(**m.model_dump(), items=[i for i in state.items if i.milestone_id == m.id])
            for m in milestones
        ]
        items = [i for m in grouped for i in m.items]
        unmet = gates.unmet(stage, milestones, state.items, state.release_completed)
        stages.append(StageChecklist(
            stage=stage.value, label_en=stage.label_en, label_zh=stage.label_zh,
            is_current=stage == state.current_stage, milestones=grouped,
            closed=sum(1 for i in items if i.state in CLOSED_STATES), total=len(items),
            gate=StageGate(holds=not unmet, unmet=unmet),
        ))
    open_criteria = sum(1 for i in state.items if i.state not in CLOSED_STATES)
    return Checklist(project_id=project_id, stage=state.current_stage, open_criteria=open_criteria, stages=stages)


def drift_summary(state: ChangesState) -> DriftSummary:
    baseline = state.baseline or []
    by_tier = {t: sum(1 for i in baseline if i.tier == t) for t in TIERS}
    approved = [e for e in state.entries if e.status in APPROVED]
    added = sum(1 for e in approved if e.kind == ChangeKind.ADD)
    removed = sum(1 for e in approved if e.kind == ChangeKind.REMOVE)
    modified = sum(1 for e in approved if e.kind == ChangeKind.MODIFY)
    changed = added + removed + modified
    drift = drift_pct(len(baseline), changed)
    late = [e.id for e in state.entries if e.late]
    early_value = [e.id for e in approved if e.value_added_before_core]
    warnings = []
    if late:
        warnings.append(f"{len(late)} change request(s) raised after development began: {', '.join(late)}")
    if early_value:
        warnings.append(
            f"value-added work approved while core-path items were still open: {', '.join(early_value)}"
        )
    if drift > health.DRIFT_AMBER_PCT:
        warnings.append(f"scope drift {drift:g}% of the baseline")
    return DriftSummary(
        baseline_frozen=state.baseline is not None, baseline_size=len(baseline),
        baseline_by_tier=by_tier, items_added=added, items_removed=removed,
        items_modified=modified, drift_pct=drift,
        schedule_days_added=sum(e.schedule_days for e in approved),
        cost_added=sum((e.cost for e in approved), Decimal("0.00")),
        pending=sum(1 for e in state.entries if e.status == ChangeStatus.RAISED),
        late_requests=late, value_added_before_core=early_value, warnings=warnings,
    )


def change_log(project_id: str, state: ChangesState) -> ChangeLog:
    return ChangeLog(project_id=project_id, entries=state.entries, drift=drift_summary(state))


def release_list(project_id: str, state: ReleasesState, now: datetime) -> ReleaseList:
    items = []
    for r in state.items:
        view = r.model_copy(deep=True)
        spent: dict[str, float] = {}
        for visit in view.visits:
            end = visit.left_at or now
            key = str(visit.percent)
            spent[key] = spent.get(key, 0.0) + max(0.0, (end - visit.entered_at).total_seconds())
        view.time_at_step = spent
        items.append(view)
    return ReleaseList(project_id=project_id, items=items)


def portfolio_columns(states: dict[str, Any]) -> dict[str, Any]:
    """The portfolio table's row for one project: only facts, nothing that depends on `now`."""
    summary: ProjectSummary = states["summary"]
    milestones: MilestonesState = states["milestones"]
    checklist: ChecklistState = states["checklist"]
    changes: ChangesState = states["changes"]
    releases: ReleasesState = states["releases"]
    open_ms = sorted((m for m in milestones.milestones if not m.done), key=lambda m: (m.due_on, m.id))
    nxt = open_ms[0] if open_ms else None
    latest = releases.items[-1] if releases.items else None
    return {
        "project_id": summary.id,
        "name": summary.name,
        "client": summary.client,
        "stage": summary.stage,
        "stage_index": Stage(summary.stage).order,
        "stage_entered_at": summary.stage_history[-1].entered_at,
        "next_milestone_id": nxt.id if nxt else None,
        "next_milestone_title": nxt.title if nxt else None,
        "next_milestone_stage": nxt.stage if nxt else None,
        "next_milestone_due_on": nxt.due_on if nxt else None,
        "next_milestone_stage_index": Stage(nxt.stage).order if nxt else None,
        "open_criteria": sum(1 for i in checklist.items if i.state not in CLOSED_STATES),
        "rejected_criteria": sum(1 for i in checklist.items if i.state == "rejected"),
        "pending_change_requests": sum(1 for e in changes.entries if e.status == ChangeStatus.RAISED),
        "drift_pct": drift_summary(changes).drift_pct,
        "release_percent": latest.percent if latest else None,
        "release_state": latest.state if latest else None,
        "launched": summary.launched,
        "version": summary.version,
        "updated_at": summary.updated_at,
    }
