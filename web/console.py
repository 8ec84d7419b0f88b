"""The PM console as sections of items, each with the actions its state allows.

Which actions an item offers follows the domain's own rules (delivery/project.py): a button
that could only be refused is not shown. The domain still decides every command; a stale
page (another pm moved the project on) is refused by its version, not by these offers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from delivery.changes import ChangeStatus
from delivery.milestones import CriterionState
from delivery.releases import HealthCheck, ReleaseState
from delivery.stages import RELEASE_STAGES, STAGES, Stage
from projections.models import ChangeLogEntry, ChecklistItem, MilestoneStatus, ProjectSummary, ReleaseView

# The console's sections, in page order: each is an anchor the section navigation links to.
SECTIONS = ("overview", "scope", "milestones", "changes", "releases", "funnel", "history")

_ANCHOR = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# A new item's id → the anchor of its place on the page (where the confirmation shows).
_NEW_ITEM = (("AC", "crit-"), ("CR", "cr-"), ("S", "scope-"), ("M", "ms-"), ("R", "rel-"))
_ID = re.compile(r"^(AC|CR|S|M|R)\d{1,9}$")


def anchor_of(value: str, default: str = "overview") -> str:
    """A form's own anchor, if it is one (anything else lands at the overview)."""
    return value if _ANCHOR.match(value or "") else default


def anchor_of_new(value: object) -> str | None:
    """Where a command's new item shows (`M3` → `ms-M3`), None when it made none."""
    if not isinstance(value, str) or not _ID.match(value):
        return None
    for prefix, anchor in _NEW_ITEM:
        if value.startswith(prefix):
            return anchor + value
    return None


@dataclass
class Offers:
    """The actions the console offers, per item and for the project as a whole."""

    closed: bool
    next_stage: str | None
    back_stages: list[str]
    plan_stages: list[str]
    waivable_stages: list[str]
    complete_launch: bool
    scope_open: bool
    releases_open: bool
    funnel_open: bool
    actuals_open: bool
    active_release: str | None
    criteria: dict[str, set[str]] = field(default_factory=dict)
    milestones: dict[str, set[str]] = field(default_factory=dict)
    scope: dict[str, set[str]] = field(default_factory=dict)
    changes: dict[str, set[str]] = field(default_factory=dict)
    releases: dict[str, set[str]] = field(default_factory=dict)


def criterion_actions(c: ChecklistItem, milestone_done: bool) -> set[str]:
    if milestone_done:
        return set()
    state = CriterionState(c.state)
    actions = set()
    if state in (CriterionState.OPEN, CriterionState.REJECTED):
        actions |= {"verify_criterion", "waive_criterion"}
    if state in (CriterionState.OPEN, CriterionState.VERIFIED):
        actions.add("reject_criterion")
    if state is not CriterionState.VERIFIED:
        actions.add("reword_criterion")
    return actions


def milestone_actions(m: MilestoneStatus, current: Stage) -> set[str]:
    if m.done:
        return {"retitle_milestone"}
    actions = {"retitle_milestone", "reschedule_milestone", "revise_deliverables", "add_criterion"}
    if Stage(m.stage).order <= current.order:
        actions.add("complete_milestone")
    return actions


def scope_actions(status: str, in_baseline: bool, frozen: bool) -> set[str]:
    if status == "removed":
        return set()
    actions = set()
    if status == "open":
        actions.add("deliver_scope_item")
    if not frozen:
        actions.add("remove_scope_item")
    if not (frozen and in_baseline):
        actions.add("retitle_scope_item")
    return actions


def change_actions(e: ChangeLogEntry) -> set[str]:
    if e.status == ChangeStatus.RAISED:
        return {"approve_change_request", "reject_change_request", "withdraw_change_request"}
    if e.status == ChangeStatus.APPROVED:
        return {"implement_change_request"}
    return set()


def release_actions(r: ReleaseView, in_release_stage: bool, active: str | None) -> set[str]:
    state = ReleaseState(r.state)
    actions: set[str] = set()
    if state in (ReleaseState.PLANNED, ReleaseState.ROLLED_BACK):
        if in_release_stage and active is None:
            actions.add("start_release")
    elif state is ReleaseState.RAMPING:
        actions |= {"record_observation", "pause_release", "roll_back_release"}
        if in_release_stage:
            actions.add("complete_release" if r.percent == r.steps[-1] else "advance_release")
    elif state is ReleaseState.PAUSED:
        actions |= {"record_observation", "roll_back_release"}
        if in_release_stage:
            actions.add("resume_release")
    return actions


def offers(summary: ProjectSummary, milestones: list[MilestoneStatus], criteria: dict[str, list[ChecklistItem]],
           changes: list[ChangeLogEntry], releases: list[ReleaseView]) -> Offers:
    current = Stage(summary.stage)
    closed = summary.launched
    frozen = summary.baseline_frozen_at is not None
    planned = {m.stage for m in milestones}
    waived = {w.stage for w in summary.plan_waivers}
    in_release_stage = current in RELEASE_STAGES
    active = next((r.id for r in releases if r.state in ("ramping", "paused")), None)
    o = Offers(
        closed=closed,
        next_stage=current.next.value if current.next and not closed else None,
        back_stages=[] if closed else [s.value for s in STAGES if s.order < current.order],
        plan_stages=[] if closed else [s.value for s in STAGES if s.order >= current.order],
        waivable_stages=[] if closed else [s.value for s in STAGES if s.order >= current.order
                                           and s.value not in planned and s.value not in waived],
        complete_launch=current is Stage.LAUNCH and not closed,
        scope_open=not frozen and not closed,
        releases_open=in_release_stage and not closed,
        funnel_open=not frozen and not closed,
        actuals_open=current is Stage.LAUNCH and bool(summary.funnel),
        active_release=active,
    )
    if closed:
        return o
    done = {m.id: m.done for m in milestones}
    for m in milestones:
        o.milestones[m.id] = milestone_actions(m, current)
        for c in criteria.get(m.id, []):
            o.criteria[c.id] = criterion_actions(c, done[m.id])
    for i in summary.scope:
        o.scope[i.id] = scope_actions(i.status, i.in_baseline, frozen)
    for e in changes:
        o.changes[e.id] = change_actions(e)
    for r in releases:
        o.releases[r.id] = release_actions(r, in_release_stage, active)
    return o


@dataclass(frozen=True)
class StepObservations:
    """One step of a release (a percent, within one ramp) and what was observed there."""

    percent: int
    entered_at: Any
    rows: list[dict[str, Any]]


def observations_by_step(r: ReleaseView) -> list[StepObservations]:
    """A release's observations per step visited, each metric against its check (pass / fail / unchecked)."""
    checks = {c.metric: c for c in r.checks}
    steps: list[StepObservations] = []
    for visit in r.visits:
        rows = []
        for o in r.observations:
            if o.percent != visit.percent or o.at < visit.entered_at or (visit.left_at and o.at > visit.left_at):
                continue
            results = []
            for metric, value in o.metrics.items():
                check = checks.get(metric)
                rule = None if check is None else HealthCheck(check.metric, check.comparator, check.threshold)
                passed = None if rule is None else rule.holds(value)
                results.append({"metric": metric, "value": value, "check": check, "passed": passed})
            unmeasured = [c.metric for c in r.checks if c.metric not in o.metrics]
            rows.append({"at": o.at, "by": o.by, "healthy": o.healthy and not unmeasured, "results": results,
                         "unmeasured": unmeasured})
        if rows or visit.percent:
            steps.append(StepObservations(percent=visit.percent, entered_at=visit.entered_at, rows=rows))
    return steps


def placed_anchors(o: Offers, summary: ProjectSummary, milestones: list[MilestoneStatus],
                   criteria: dict[str, list[ChecklistItem]], changes: list[ChangeLogEntry],
                   releases: list[ReleaseView]) -> set[str]:
    """Every place on the page a post's result can show (a form no longer offered has none)."""
    placed = {"overview", "stage-actions", "share"}
    placed |= {f"scope-{i.id}" for i in summary.scope} | {f"ms-{m.id}" for m in milestones}
    placed |= {f"crit-{c.id}" for items in criteria.values() for c in items}
    placed |= {f"cr-{e.id}" for e in changes} | {f"rel-{r.id}" for r in releases}
    placed |= {f"add-crit-{m}" for m, acts in o.milestones.items() if "add_criterion" in acts}
    optional = {"stage-back": o.back_stages, "waive-plan": o.waivable_stages, "rename": not o.closed,
                "add-scope": o.scope_open, "plan-milestone": o.plan_stages,
                "raise-cr": summary.baseline_frozen_at is not None and not o.closed,
                "plan-release": o.releases_open, "define-funnel": o.funnel_open, "funnel-actuals": o.actuals_open}
    return placed | {anchor for anchor, shown in optional.items() if shown}
