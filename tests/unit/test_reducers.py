"""Each view's reducer fed a list of events (no database), read through the view builders."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from delivery import clock
from delivery.project import Project
from projections import views
from projections.reducers import fold
from projections.state import ROW_TYPES, ProjectState, snapshot_document
from projections.store import next_milestone_in_memory

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
D0 = T0.date()


class Recorder:
    """Runs commands on a Project at chosen moments and keeps the events they record."""

    def __init__(self) -> None:
        self.at = T0
        with clock.frozen_at(self.at):
            self.project = Project.create(name="优购生鲜小程序", client="优购生鲜", description="fresh", actor="pm")
        self.events: list[Any] = list(self.project.collect_events())

    def __call__(self, command: Callable[..., Any], *, hours: float = 1, actor: str = "pm", **kwargs: Any) -> Any:
        self.at += timedelta(hours=hours)
        with clock.frozen_at(self.at):
            result = command(self.project, actor=actor, **kwargs)
        self.events.extend(self.project.collect_events())
        return result

    def state(self) -> ProjectState:
        return fold(self.events)

    def states(self) -> dict[str, Any]:
        """Each view's read model (and the raw state under "state")."""
        state = self.state()
        return {"summary": views.summary_view(state), "state": state}


def advance(r: Recorder, stage: str) -> None:
    """Move on to `stage`, the current stage's plan waived when it has none (no gate passes silently)."""
    if any(u["kind"] == "no_plan" for u in r.project.gate(r.project.stage)):
        r(Project.waive_stage_plan, stage=r.project.stage, reason="not planned in this test")
    r(Project.transition, to_stage=stage)


def through_solution(r: Recorder) -> dict[str, str]:
    """Scope of three tiers, then a gated walk into planning (the baseline freezes)."""
    ids = {
        "core": r(Project.add_scope_item, title="下单支付", tier="core"),
        "touch": r(Project.add_scope_item, title="分享", tier="touchpoint"),
        "value": r(Project.add_scope_item, title="积分", tier="value_added"),
    }
    advance(r, "solution")
    advance(r, "planning")
    return ids


def test_summary_keeps_the_stage_history_with_who_when_and_why() -> None:
    r = Recorder()
    through_solution(r)
    r(Project.transition, to_stage="solution", reason="client changed the flow", actor="lead")
    summary = r.states()["summary"]
    assert summary.stage == "solution" and summary.version == len(r.events)
    assert [(h.stage, h.direction) for h in summary.stage_history] == [
        ("research", "created"), ("solution", "advanced"), ("planning", "advanced"), ("solution", "returned"),
    ]
    assert summary.stage_history[-1].by == "lead"
    assert summary.stage_history[-1].reason == "client changed the flow"
    assert summary.stage_history[-1].entered_at == r.at
    assert summary.baseline_frozen_at is not None


def test_milestones_show_reschedules_slip_and_status_against_now() -> None:
    r = Recorder()
    late = r(Project.plan_milestone, title="Interviews", stage="research", due_on=D0 + timedelta(days=5))
    soon = r(Project.plan_milestone, title="Funnel", stage="research", due_on=D0 + timedelta(days=20))
    later = r(Project.plan_milestone, title="Prototype", stage="solution", due_on=D0 + timedelta(days=40))
    done = r(Project.plan_milestone, title="Kick-off", stage="research", due_on=D0 + timedelta(days=1))
    r(Project.reschedule_milestone, milestone_id=soon, due_on=D0 + timedelta(days=25), reason="client away",
      actor="lead")
    r(Project.complete_milestone, milestone_id=done, completed_on=D0 + timedelta(days=4), hours=24 * 5)
    now = T0 + timedelta(days=19)
    listed = {m.id: m for m in views.milestone_list("p", r.state(), now).items}
    assert listed[late].status == "late" and listed[late].days_to_due == -14
    assert listed[soon].status == "at_risk"
    assert listed[soon].slip_days == 5
    assert listed[soon].original_due_on == D0 + timedelta(days=20)
    assert [(x.from_on, x.to_on, x.reason, x.by) for x in listed[soon].reschedules] == [
        (D0 + timedelta(days=20), D0 + timedelta(days=25), "client away", "lead"),
    ]
    assert listed[later].status == "planned"  # a later stage, not due soon
    assert (listed[done].status, listed[done].days_late) == ("done", 3)
    early = {m.id: m.status for m in views.milestone_list("p", r.state(), T0).items}
    assert early[later] == "planned" and early[soon] == "in_progress"


def test_checklist_tracks_each_criterion_and_the_gate_of_each_stage() -> None:
    r = Recorder()
    mid = r(Project.plan_milestone, title="Research done", stage="research", due_on=D0)
    plain = r(Project.add_criterion, milestone_id=mid, text="Client signs off interviews")
    speed = r(Project.add_criterion, milestone_id=mid, text="p95 load",
              metric={"name": "p95_ms", "comparator": "<=", "threshold": 1000, "unit": "ms"})
    r(Project.reject_criterion, criterion_id=plain, reason="missing the store managers", actor="client-pm")
    r(Project.verify_criterion, criterion_id=speed, evidence="load test #4", measured=850)
    checklist = views.checklist_view("p", r.state())
    research = checklist.stages[0]
    items = {i.id: i for i in research.milestones[0].items}
    assert items[plain].state == "rejected" and items[plain].reason == "missing the store managers"
    assert [h.action for h in items[plain].history] == ["added", "rejected"]
    assert (items[speed].state, items[speed].measured, items[speed].meets_threshold) == ("verified", 850, True)
    assert items[speed].metric is not None and items[speed].metric.threshold == 1000
    assert (research.closed, research.total, checklist.open_criteria) == (1, 2, 1)
    assert not research.gate.holds
    assert [(u["kind"], u.get("criterion_id")) for u in research.gate.unmet] == [
        ("milestone_open", None), ("criterion_open", plain),
    ]

    r(Project.verify_criterion, criterion_id=plain, evidence="signed minutes")
    r(Project.complete_milestone, milestone_id=mid)
    checklist = views.checklist_view("p", r.state())
    assert checklist.stages[0].gate.holds and checklist.open_criteria == 0
    assert [h.action for h in checklist.stages[0].milestones[0].items[0].history] == ["added", "rejected", "verified"]
    launch_gate = checklist.stages[-1].gate
    assert not launch_gate.holds  # launch needs a completed release


def test_change_log_measures_drift_against_the_baseline() -> None:
    r = Recorder()
    ids = through_solution(r)
    advance(r, "development")
    add = r(Project.raise_change_request, title="Coupons", requested_by="client", kind="add", tier="value_added",
            schedule_days=5, cost=Decimal("3000"))
    remove = r(Project.raise_change_request, title="Drop sharing", requested_by="client", kind="remove",
               tier="touchpoint", scope_item_id=ids["touch"], schedule_days=0, cost=0)
    refused = r(Project.raise_change_request, title="AR try-on", requested_by="client", kind="add",
                tier="value_added", schedule_days=30, cost=90000)
    pending = r(Project.raise_change_request, title="Retitle", requested_by="pm", kind="modify", tier="core",
                scope_item_id=ids["core"], schedule_days=1, cost=0)
    r(Project.approve_change_request, change_request_id=add, reason="paid extra")
    r(Project.approve_change_request, change_request_id=remove)
    r(Project.reject_change_request, change_request_id=refused, reason="out of budget")
    log = views.change_log("p", r.state())
    drift = log.drift
    assert drift.baseline_size == 3
    assert drift.baseline_by_tier == {"core": 1, "touchpoint": 1, "value_added": 1}
    assert (drift.items_added, drift.items_removed, drift.items_modified) == (1, 1, 0)
    assert drift.drift_pct == pytest.approx(66.7)
    assert (drift.schedule_days_added, drift.cost_added) == (5, Decimal("3000"))
    assert drift.pending == 1
    assert drift.late_requests == [add, remove, refused, pending]  # all raised in development
    assert drift.value_added_before_core == [add]  # the core item was still open
    entries = {e.id: e for e in log.entries}
    assert [t.action for t in entries[refused].trail] == ["raised", "rejected"]
    assert entries[refused].trail[-1].reason == "out of budget"
    summary = views.summary_view(r.state())
    scope = {s.title: s for s in summary.scope}
    assert scope["分享"].status == "removed" and scope["分享"].in_baseline
    assert scope["Coupons"].change_request_id == add and not scope["Coupons"].in_baseline


def walk_to_trial(r: Recorder) -> None:
    through_solution(r)
    for stage in ("development", "integration_test", "uat", "trial"):
        advance(r, stage)


def test_release_state_keeps_pauses_rollbacks_observations_and_time_at_each_step() -> None:
    r = Recorder()
    walk_to_trial(r)
    check = [{"metric": "error_rate", "comparator": "<=", "threshold": 1}]
    first = r(Project.plan_release, version="1.0", steps=[5, 50, 100], health=check)
    r(Project.start_release, release_id=first)
    r(Project.record_observation, release_id=first, metrics={"error_rate": 0.4}, hours=2)
    r(Project.advance_release, release_id=first, hours=2)  # 4 h at 5 %
    r(Project.record_observation, release_id=first, metrics={"error_rate": 2.5}, hours=1)
    r(Project.pause_release, release_id=first, reason="error spike", hours=1)
    r(Project.roll_back_release, release_id=first, reason="crash on pay", hours=3)
    second = r(Project.plan_release, version="1.0.1", steps=[20, 100], health=check)
    r(Project.start_release, release_id=second)
    r(Project.record_observation, release_id=second, metrics={"error_rate": 0.1}, hours=1)
    r(Project.advance_release, release_id=second, hours=1)
    r(Project.record_observation, release_id=second, metrics={"error_rate": 0.1}, hours=1)
    r(Project.complete_release, release_id=second, hours=1)
    now = r.at + timedelta(hours=10)
    old, new = views.release_list("p", r.state(), now).items
    assert (old.state, old.percent) == ("rolled_back", 0)
    assert [(p.reason, p.percent) for p in old.pauses] == [("error spike", 50)]
    assert [(b.reason, b.from_percent) for b in old.rollbacks] == [("crash on pay", 50)]
    assert [(o.percent, o.healthy) for o in old.observations] == [(5, True), (50, False)]
    assert old.observations[1].failures
    assert old.time_at_step["5"] == 4 * 3600
    assert old.time_at_step["50"] == 5 * 3600
    assert (new.state, new.percent) == ("completed", 100)
    assert new.time_at_step == {"20": 2 * 3600, "100": 2 * 3600}
    assert r.state().h.release_completed


def test_funnel_actuals_show_the_biggest_drop() -> None:
    r = Recorder()
    r(Project.define_funnel, steps=[
        {"name": "visit", "expected_rate": 100}, {"name": "add to cart", "expected_rate": 30},
        {"name": "pay", "expected_rate": 60},
    ])
    assert r.states()["summary"].biggest_drop is None
    walk_to_trial(r)
    release = r(Project.plan_release, version="1.0", steps=[100])
    r(Project.start_release, release_id=release)
    r(Project.complete_release, release_id=release)
    advance(r, "launch")
    r(Project.record_funnel_actuals, rates=[100, 12.5, 55])
    summary = r.states()["summary"]
    assert [(s.name, s.actual_rate, s.gap) for s in summary.funnel] == [
        ("visit", 100, 0), ("add to cart", 12.5, -17.5), ("pay", 55, -5),
    ]
    assert summary.biggest_drop == "add to cart"


def test_folding_in_two_parts_equals_folding_at_once() -> None:
    r = Recorder()
    walk_to_trial(r)
    half = len(r.events) // 2
    once = fold(r.events)
    twice = fold(r.events[half:], ProjectState.loads(fold(r.events[:half]).dumps()))
    assert once.dumps() == twice.dumps()


def test_portfolio_columns_pick_the_earliest_open_milestone() -> None:
    r = Recorder()
    r(Project.plan_milestone, title="Later", stage="research", due_on=date(2026, 5, 1))
    first = r(Project.plan_milestone, title="Sooner", stage="solution", due_on=date(2026, 4, 10))
    state = r.state()
    state.h.next_milestone = next_milestone_in_memory(state)
    cols = views.portfolio_columns(state)
    assert (cols["next_milestone_id"], cols["next_milestone_stage_index"]) == (first, 1)
    assert cols["open_criteria"] == 0 and cols["release_state"] is None and cols["stage"] == "research"


def test_each_event_reaches_every_reducer_that_reads_it(tmp_path: Any) -> None:
    """`apply` calls only the reducers an event names (HANDLES); calling all of them must give the same states."""
    from delivery.application import DeliveryApplication
    from delivery.demo import load_demo
    from delivery.settings import Database
    from projections.reducers import apply_every

    app = DeliveryApplication(Database(f"sqlite:///{tmp_path / 'demo.sqlite3'}"))
    try:
        load_demo(app)
        routed: dict[Any, ProjectState] = {}
        every: dict[Any, ProjectState] = {}
        kinds = set()
        for n in app.recorder.select_notifications(1, 100_000):
            event = app.mapper.to_domain_event(n)
            kinds.add(type(event).__name__)
            fold([event], routed.setdefault(event.originator_id, ProjectState()))
            apply_every(every.setdefault(event.originator_id, ProjectState()), event)
    finally:
        app.close()
    assert len(kinds) >= 28  # the demo records (nearly) every kind of event
    assert {pid: s.dumps() for pid, s in routed.items()} == {pid: s.dumps() for pid, s in every.items()}


def test_core_path_first_warnings_name_early_touchpoints_and_a_missing_funnel() -> None:
    r = Recorder()
    ids = through_solution(r)  # left research with no funnel written
    log = views.change_log("p", r.state())
    assert log.drift.no_funnel and any("without a conversion funnel" in w for w in log.drift.warnings)
    advance(r, "development")
    share = r(Project.raise_change_request, title="Share poster", requested_by="client", kind="add",
              tier="touchpoint", schedule_days=1, cost=0)
    r(Project.approve_change_request, change_request_id=share)
    r(Project.deliver_scope_item, item_id=ids["core"])  # the core path is done: later approvals are in order
    chat = r(Project.raise_change_request, title="Chat link", requested_by="client", kind="add",
             tier="touchpoint", schedule_days=1, cost=0)
    r(Project.approve_change_request, change_request_id=chat)
    state = r.state()
    drift = views.drift_summary(state)
    assert drift.touchpoint_before_core == [share]
    assert any(w.startswith("touchpoint work approved while core-path items were still open: " + share)
               for w in drift.warnings)
    entries = {e.id: e for e in state.rows.of("change")}
    assert entries[share].touchpoint_before_core and not entries[chat].touchpoint_before_core
    assert views.portfolio_columns(state)["warnings"] == 2  # one early approval, no funnel


def test_a_funnel_written_in_solution_clears_the_warning() -> None:
    r = Recorder()
    advance(r, "solution")
    assert r.state().h.left_research_without_funnel
    r(Project.define_funnel, steps=[{"name": "visit", "expected_rate": 100}, {"name": "cart", "expected_rate": 30},
                                    {"name": "pay", "expected_rate": 60}])
    state = r.state()
    assert not state.h.left_research_without_funnel and views.portfolio_columns(state)["warnings"] == 0


def test_non_core_work_requested_while_core_items_are_open_is_a_warning_until_decided() -> None:
    r = Recorder()
    ids = through_solution(r)  # left research with no funnel written: one warning already
    advance(r, "development")
    points = r(Project.raise_change_request, title="Member points", requested_by="marketing", kind="add",
               tier="value_added", schedule_days=5, cost=1000)
    drop = r(Project.raise_change_request, title="Drop the share card", requested_by="client", kind="remove",
             tier="touchpoint", scope_item_id=ids["touch"], schedule_days=0, cost=0)
    state = r.state()
    drift = views.drift_summary(state)
    assert drift.raised_before_core == [points]  # removing non-core work is never a warning sign
    assert any(w.endswith(points) and "requested while core-path items are still open" in w for w in drift.warnings)
    assert views.portfolio_columns(state)["warnings"] == 2
    r(Project.reject_change_request, change_request_id=points, reason="Core path first")
    state = r.state()
    assert views.drift_summary(state).raised_before_core == []
    assert {e.id: e.raised_before_core for e in state.rows.of("change")} == {points: True, drop: False}
    assert views.portfolio_columns(state)["warnings"] == 1
    r(Project.deliver_scope_item, item_id=ids["core"])
    r(Project.raise_change_request, title="Campaign page", requested_by="marketing", kind="add",
      tier="value_added", schedule_days=3, cost=500)
    assert views.drift_summary(r.state()).raised_before_core == []  # the core path is done: in order


def test_a_view_snapshot_decodes_only_the_rows_asked_for_and_reads_its_older_form() -> None:
    r = Recorder()
    walk_to_trial(r)
    half = len(r.events) // 2
    first = fold(r.events[:half])
    lines = first.dumps()
    older = first._document()  # one JSON document: snapshots written before the line form
    lazy = ProjectState.loads(lines)
    assert lazy.rows._rows == {} and len(lazy.rows._raw) == len(list(first.rows.items()))
    milestones = lazy.rows.of("milestone")
    assert milestones == first.rows.of("milestone") and all(k[0] != "milestone" for k in lazy.rows._raw)
    assert lazy.dumps() == lines  # undecoded rows go back out as they came
    assert snapshot_document(lines) == snapshot_document(older) == json.loads(older)
    once = fold(r.events)
    for start in (lines, older):
        assert fold(r.events[half:], ProjectState.loads(start)).dumps() == once.dumps()


def test_a_snapshot_state_read_by_many_threads_at_once_lists_every_row() -> None:
    """A kept *as of* state is shared by the requests of one moment: decoding its rows as they are asked for
    must never leave a reader without one (run with a tiny switch interval, so threads interleave often)."""
    r = Recorder()
    walk_to_trial(r)
    whole = fold(r.events)
    text = whole.dumps()
    expected = {kind: whole.rows.of(kind) for kind in ROW_TYPES}
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(30):
            shared = ProjectState.loads(text)
            start = threading.Barrier(6)
            failures: list[BaseException] = []

            def read(state: ProjectState = shared, gate: threading.Barrier = start,
                     failures: list[BaseException] = failures) -> None:
                gate.wait()
                try:
                    for kind in ROW_TYPES:
                        assert state.rows.of(kind) == expected[kind]
                except BaseException as exc:  # collected: the thread's failure is the test's
                    failures.append(exc)

            readers = [threading.Thread(target=read) for _ in range(6)]
            for t in readers:
                t.start()
            for t in readers:
                t.join()
            assert failures == []
    finally:
        sys.setswitchinterval(interval)
