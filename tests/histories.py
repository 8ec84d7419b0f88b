"""Random but plausible project histories for property and projection tests.

A history is a list of (action, n) pairs; `n` picks among the ids the project has
at that moment, so almost every step is a command the domain may accept. Refused
commands are skipped (the domain records nothing for them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.errors import DeliveryError
from delivery.project import Project
from delivery.stages import Stage

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PM = "pm@agency"

Action = Callable[[DeliveryApplication, UUID, Project, int], Any]


def _pick(items: Sequence[Any], n: int) -> Any:
    return items[n % len(items)] if items else None


def _ids(table: dict[str, Any], keep: Callable[[Any], bool] = lambda _x: True) -> list[str]:
    return [k for k, x in table.items() if keep(x)]


def add_scope(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    tier = ("core", "touchpoint", "value_added")[n % 3]
    return app.add_scope_item(pid, title=f"Feature {n}", tier=tier, actor=PM)


def plan_milestone(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    stage = Stage(p.stage_id)
    due = date(2026, 3, 1) + timedelta(days=7 * (n % 40))
    return app.plan_milestone(pid, title=f"Milestone {n}", stage=stage, due_on=due,
                              deliverables=[f"doc {n}"], actor=PM)


def add_criterion(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    mid = _pick(_ids(p.milestones), n)
    metric = {"name": "p95_ms", "comparator": "<=", "threshold": 1000, "unit": "ms"} if n % 2 else None
    return app.add_criterion(pid, milestone_id=mid or "M0", text=f"Criterion {n}", metric=metric, actor=PM)


def verify(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    cid = _pick(_ids(p.criteria), n) or "AC0"
    measured = float(500 + 100 * (n % 10)) if p.criteria.get(cid) and p.criteria[cid].metric else None
    return app.verify_criterion(pid, criterion_id=cid, evidence=f"report {n}", measured=measured, actor=PM)


def reject(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    cid = _pick(_ids(p.criteria), n) or "AC0"
    return app.reject_criterion(pid, criterion_id=cid, reason=f"defect {n}", actor=PM)


def waive(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    cid = _pick(_ids(p.criteria), n) or "AC0"
    return app.waive_criterion(pid, criterion_id=cid, reason=f"client agreed {n}", actor=PM)


def complete_milestone(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    mid = _pick(_ids(p.milestones), n) or "M0"
    return app.complete_milestone(pid, milestone_id=mid, completed_on=date(2026, 3, 1) + timedelta(days=n),
                                  actor=PM)


def close_stage(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    """Close everything the current stage's gate waits for, then advance (as a PM would)."""
    for cid, c in list(p.criteria.items()):
        if not c.closed and p.milestones[c.milestone_id].stage == p.stage_id:
            app.waive_criterion(pid, criterion_id=cid, reason="closed to move on", actor=PM)
    for mid, m in list(p.milestones.items()):
        if m.stage == p.stage_id and m.completed_on is None:
            app.complete_milestone(pid, milestone_id=mid, actor=PM)
    if not any(m.stage == p.stage_id for m in p.milestones.values()) and p.stage_id not in p.waived_plans:
        app.waive_stage_plan(pid, stage=p.stage_id, reason="no milestone needed", actor=PM)
    return advance(app, pid, app.get_project(pid), n)


def advance(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    nxt = Stage(p.stage_id).next
    return app.transition(pid, to_stage=nxt or "launch", actor=PM)


def go_back(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    prev = Stage(p.stage_id).previous
    return app.transition(pid, to_stage=prev or "research", reason=f"defects found {n}", actor=PM)


def raise_change(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    kind = ("add", "modify", "remove")[n % 3]
    item = None if kind == "add" else _pick(_ids(p.scope), n)
    return app.raise_change_request(pid, title=f"Change {n}", requested_by="client", kind=kind,
                                    tier=("core", "touchpoint", "value_added")[n % 3],
                                    scope_item_id=item, schedule_days=n % 9, cost=100 * n, actor=PM)


def decide_change(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    crid = _pick(_ids(p.change_requests), n) or "CR0"
    if n % 4 == 0:
        return app.reject_change_request(pid, change_request_id=crid, reason="out of budget", actor=PM)
    if n % 4 == 1:
        return app.withdraw_change_request(pid, change_request_id=crid, actor=PM)
    if n % 4 == 2:
        return app.implement_change_request(pid, change_request_id=crid, actor=PM)
    return app.approve_change_request(pid, change_request_id=crid, reason="agreed", actor=PM)


def release_step(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    if Stage(p.stage_id).order < Stage.TRIAL.order:
        return close_stage(app, pid, p, n)  # releases happen in trial and launch: get there first
    live = [r for r in p.releases.values() if r.state in ("planned", "ramping", "paused")]
    if not live:
        return app.plan_release(pid, version=f"1.{n}", steps=[5, 50, 100],
                                health=[{"metric": "error_rate", "comparator": "<=", "threshold": 1}], actor=PM)
    r = live[0]
    if r.state == "planned":
        return app.start_release(pid, release_id=r.id, actor=PM)
    if r.state == "paused":
        if n % 3 == 0:
            return app.roll_back_release(pid, release_id=r.id, reason="crash on pay", actor=PM)
        return app.resume_release(pid, release_id=r.id, actor=PM)
    step = n % 10
    if step < 4:
        return app.record_observation(pid, release_id=r.id, metrics={"error_rate": 0.2 if step else 3.0}, actor=PM)
    if step < 7:
        return app.advance_release(pid, release_id=r.id, actor=PM)
    if step == 7:
        return app.pause_release(pid, release_id=r.id, reason="error spike", actor=PM)
    if step == 8:
        return app.roll_back_release(pid, release_id=r.id, reason="crash on pay", actor=PM)
    return app.complete_release(pid, release_id=r.id, actor=PM)


def correct(app: DeliveryApplication, pid: UUID, p: Project, n: int) -> Any:
    """One of the corrections (rename, retitle, reword, revise), on whatever the project has."""
    which = n % 5
    if which == 0:
        return app.rename_project(pid, name=f"Renamed {n}", actor=PM)
    if which == 1:
        return app.retitle_scope_item(pid, item_id=_pick(_ids(p.scope), n) or "S0", title=f"Feature {n}b", actor=PM)
    if which == 2:
        return app.retitle_milestone(pid, milestone_id=_pick(_ids(p.milestones), n) or "M0", title=f"Goal {n}",
                                     actor=PM)
    if which == 3:
        return app.revise_deliverables(pid, milestone_id=_pick(_ids(p.milestones), n) or "M0",
                                       deliverables=[f"doc {n}", "sign-off"], actor=PM)
    return app.reword_criterion(pid, criterion_id=_pick(_ids(p.criteria), n) or "AC0", text=f"Reworded {n}",
                                actor=PM)


ACTIONS: tuple[Action, ...] = (
    add_scope, plan_milestone, add_criterion, verify, reject, waive, complete_milestone,
    close_stage, close_stage, advance, go_back, raise_change, decide_change, release_step, release_step,
    correct,
)

histories = st.lists(
    st.tuples(st.integers(0, len(ACTIONS) - 1), st.integers(0, 1000)), min_size=1, max_size=60,
)


def play(app: DeliveryApplication, history: Sequence[tuple[int, int]], *, name: str = "Random project",
         client: str = "Client", start: datetime = START) -> UUID:
    """Create a project and apply the history, an hour of simulated time per step."""
    with clock.frozen_at(start):
        pid = app.create_project(name=name, client=client, actor=PM).value
    for i, (action, n) in enumerate(history, start=1):
        with clock.frozen_at(start + timedelta(hours=i)), contextlib.suppress(DeliveryError):
            ACTIONS[action](app, pid, app.get_project(pid), n)
    return pid
