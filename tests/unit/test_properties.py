"""Random command sequences on one project never break its invariants, and the store gives it back equal.

A history is a list of (action, n): `n` picks the ids, stages and values the action
uses, so most steps are commands the domain may well accept and many are refused.
After every step a `Checker` proves: a refused command recorded and changed nothing
(and a refused move named exactly the gate's unmet items); an accepted one recorded
events carrying the actor and the clock's time; the stage moved only +1 forward
through a holding gate or back with a reason; the frozen baseline never moved and
scope moved after it only by an approved change request; a release's audience only
rose between rollbacks and never past a failing observation.
"""

from __future__ import annotations

import itertools
import random
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery import clock
from delivery.application import DeliveryApplication, snapshot_due
from delivery.errors import DeliveryError, GateNotMet
from delivery.milestones import COMPARATORS
from delivery.project import Project
from delivery.releases import Release
from delivery.scope import TIERS, ScopeItem
from delivery.settings import Database
from delivery.stages import RELEASE_STAGES, STAGES, Stage
from tests.unit.domain_helpers import names, replay, state

PM = "pm@agency"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D0 = START.date()
TITLES = ("Login", "Checkout", "Share", "Coupons", "Points", "Dashboard")
CMPS = tuple(COMPARATORS)

Action = Callable[[Project, int], Any]


def _pick(table: dict[str, Any], n: int) -> str:
    """One of the ids in `table`, or an unknown one when it is empty (the domain must refuse it)."""
    ids = list(table)
    return ids[n % len(ids)] if ids else f"X{n}"


def _latest_release(p: Project) -> Release | None:
    return list(p.releases.values())[-1] if p.releases else None


# ------------------------------------------------------------------ actions
# Each issues exactly one command, so "refused" and "accepted" are about that one command.


def add_scope(p: Project, n: int) -> None:
    p.add_scope_item(title=TITLES[n % len(TITLES)], tier=TIERS[n // 7 % 3], actor=PM)


def remove_scope(p: Project, n: int) -> None:
    p.remove_scope_item(item_id=_pick(p.scope, n), actor=PM)


def deliver_scope(p: Project, n: int) -> None:
    p.deliver_scope_item(item_id=_pick(p.scope, n), actor=PM)


def plan_milestone(p: Project, n: int) -> None:
    order = max(0, min(len(STAGES) - 1, p.stage.order + n % 3 - (1 if n % 5 == 0 else 0)))
    p.plan_milestone(title=f"Milestone {n % 50}", stage=STAGES[order], due_on=D0 + timedelta(days=n % 60),
                     deliverables=[f"doc {n % 7}"], actor=PM)


def reschedule(p: Project, n: int) -> None:
    p.reschedule_milestone(milestone_id=_pick(p.milestones, n), due_on=D0 + timedelta(days=n % 90),
                           reason="" if n % 6 == 0 else "client away", actor=PM)


def add_criterion(p: Project, n: int) -> None:
    metric = {"name": "conversion", "comparator": CMPS[n // 2 % 5], "threshold": 50, "unit": "%"} if n % 2 else None
    p.add_criterion(milestone_id=_pick(p.milestones, n), text=f"Criterion {n % 20}", metric=metric,
                    client_signoff=n % 4 == 0 or (n % 3 == 0 and metric is not None), actor=PM)


def verify(p: Project, n: int) -> None:
    cid = _pick(p.criteria, n)
    c = p.criteria.get(cid)
    measured = float(n % 100) if c is not None and c.metric is not None else None
    p.verify_criterion(criterion_id=cid, evidence=f"report {n}", measured=measured, actor=PM)


def reject(p: Project, n: int) -> None:
    p.reject_criterion(criterion_id=_pick(p.criteria, n), reason="defect found", actor=PM)


def waive(p: Project, n: int) -> None:
    p.waive_criterion(criterion_id=_pick(p.criteria, n), reason="client agreed", actor=PM)


def complete_milestone(p: Project, n: int) -> None:
    p.complete_milestone(milestone_id=_pick(p.milestones, n), actor=PM)


def progress(p: Project, n: int) -> None:
    """What a PM does next to leave the current stage: close one gate item, or advance."""
    unmet = p.gate(p.stage)
    if any(item["kind"] == "no_plan" for item in unmet):
        p.waive_stage_plan(stage=p.stage, reason="nothing to plan here", actor=PM)
        return
    for item in unmet:
        if item["kind"] == "criterion_open":
            if p.criterion(item["criterion_id"]).client_signoff:
                p.sign_off_criterion(criterion_id=item["criterion_id"], verdict="verified", actor=PM)
            else:
                p.waive_criterion(criterion_id=item["criterion_id"], reason="closed to move on", actor=PM)
            return
    for item in unmet:
        if item["kind"] == "milestone_open":
            p.complete_milestone(milestone_id=item["milestone_id"], actor=PM)
            return
    if p.stage is Stage.LAUNCH:
        if unmet:
            drive_release(p, n)
        else:
            p.complete_launch(actor=PM)
        return
    p.transition(to_stage=STAGES[p.stage.order + 1], actor=PM)


def waive_plan(p: Project, n: int) -> None:
    order = max(0, min(len(STAGES) - 1, p.stage.order + n % 3 - (1 if n % 5 == 0 else 0)))
    p.waive_stage_plan(stage=STAGES[order], reason="" if n % 6 == 0 else "a small change", actor=PM)


def apply_template(p: Project, n: int) -> None:
    p.apply_template(template="generic", start_on=D0 + timedelta(days=n % 30), language=("en", "zh")[n % 2],
                     actor=PM)


def advance(p: Project, n: int) -> None:
    p.transition(to_stage=p.stage.next or Stage.LAUNCH, actor=PM)


def skip(p: Project, n: int) -> None:
    p.transition(to_stage=STAGES[min(len(STAGES) - 1, p.stage.order + 2 + n % 3)], actor=PM)


def go_back(p: Project, n: int) -> None:
    to = STAGES[max(0, p.stage.order - 1 - n % 3)]
    p.transition(to_stage=to, reason="" if n % 4 == 0 else "defects found", actor=PM)


def raise_change(p: Project, n: int) -> None:
    kind = ("add", "modify", "remove")[n % 3]
    p.raise_change_request(title=TITLES[n // 3 % len(TITLES)] + (" v2" if n % 2 else ""), requested_by="client",
                           kind=kind, tier=TIERS[n // 5 % 3], scope_item_id=None if kind == "add" else
                           _pick(p.scope, n), schedule_days=n % 9, cost=n % 1000, actor=PM)


def decide_change(p: Project, n: int) -> None:
    crid = _pick(p.change_requests, n)
    verb = n // 7 % 4
    if verb == 0:
        p.approve_change_request(change_request_id=crid, reason="agreed", actor=PM)
    elif verb == 1:
        p.reject_change_request(change_request_id=crid, reason="out of budget", actor=PM)
    elif verb == 2:
        p.withdraw_change_request(change_request_id=crid, actor=PM)
    else:
        p.implement_change_request(change_request_id=crid, actor=PM)


def plan_release(p: Project, n: int) -> None:
    steps = ([100], [10, 50, 100], [1, 5, 20, 50, 100])[n % 3]
    health = [{"metric": "error_rate", "comparator": "<=", "threshold": 1}] if n % 2 else []
    p.plan_release(version=f"1.{n % 4}", steps=steps, health=health, actor=PM)


def drive_release(p: Project, n: int) -> None:
    """The next sensible step of the latest release (plan one when there is none)."""
    r = _latest_release(p)
    if r is None or r.state == "completed":
        plan_release(p, n)
    elif r.state in ("planned", "rolled_back"):
        p.start_release(release_id=r.id, actor=PM)
    elif r.state == "paused":
        p.resume_release(release_id=r.id, actor=PM)
    elif r.checks and (r.latest_observation_at_step() is None or n % 4 == 0):
        p.record_observation(release_id=r.id, metrics={"error_rate": 0.3 if n % 3 else 4.0}, actor=PM)
    elif r.percent < 100:
        p.advance_release(release_id=r.id, actor=PM)
    else:
        p.complete_release(release_id=r.id, actor=PM)


def release_command(p: Project, n: int) -> None:
    """Any release command on any release, sensible or not."""
    rid = _pick(p.releases, n)
    verb = n // 3 % 7
    if verb == 0:
        p.start_release(release_id=rid, actor=PM)
    elif verb == 1:
        p.record_observation(release_id=rid, metrics={"error_rate": (0.1, 2.0, 0.9)[n % 3]}, actor=PM)
    elif verb == 2:
        p.advance_release(release_id=rid, actor=PM)
    elif verb == 3:
        p.pause_release(release_id=rid, reason="error spike", actor=PM)
    elif verb == 4:
        p.resume_release(release_id=rid, actor=PM)
    elif verb == 5:
        p.roll_back_release(release_id=rid, reason="crash on pay", actor=PM)
    else:
        p.complete_release(release_id=rid, actor=PM)


def complete_launch(p: Project, n: int) -> None:
    p.complete_launch(actor=PM)


def define_funnel(p: Project, n: int) -> None:
    steps = [{"name": f"Step {i}", "expected_rate": 100 - 20 * i} for i in range(3 + n % 3)]
    p.define_funnel(steps=steps, actor=PM)


def correct(p: Project, n: int) -> None:
    """One of the corrections (or the currency), on any item, sensible or not."""
    which = n % 6
    if which == 0:
        p.rename(name=f"Project {n % 3}", actor=PM)
    elif which == 1:
        p.retitle_scope_item(item_id=_pick(p.scope, n), title=TITLES[n // 5 % len(TITLES)], actor=PM)
    elif which == 2:
        p.retitle_milestone(milestone_id=_pick(p.milestones, n), title=f"Goal {n % 4}", actor=PM)
    elif which == 3:
        p.revise_deliverables(milestone_id=_pick(p.milestones, n), deliverables=[f"doc {n % 3}"], actor=PM)
    elif which == 4:
        p.reword_criterion(criterion_id=_pick(p.criteria, n), text=f"Criterion {n % 4}", actor=PM)
    else:
        p.set_currency(currency=("CNY", "usd", "EUR", "XYZ")[n // 6 % 4], actor=PM)


def record_actuals(p: Project, n: int) -> None:
    p.record_funnel_actuals(rates=[float((n + 17 * i) % 101) for i in range(len(p.funnel) or 3)], actor=PM)


def sign_off(p: Project, n: int) -> None:
    p.sign_off_criterion(criterion_id=_pick(p.criteria, n), verdict=("verified", "rejected")[n % 2],
                         comment="" if n % 6 == 1 else "seen in UAT", actor=PM)


def propose(p: Project, n: int) -> None:
    p.propose_change(title=TITLES[n % len(TITLES)] + " please", description="", tier=TIERS[n // 3 % 3], actor=PM)


def decide_proposal(p: Project, n: int) -> None:
    pid = _pick(p.proposals, n)
    if n % 3:
        kind = ("add", "modify", "remove")[n // 3 % 3]
        p.accept_change_proposal(proposal_id=pid, kind=kind, scope_item_id=None if kind == "add" else
                                 _pick(p.scope, n), schedule_days=n % 5, cost=n % 100, actor=PM)
    else:
        p.decline_change_proposal(proposal_id=pid, reason="" if n % 5 == 0 else "not now", actor=PM)


def comment(p: Project, n: int) -> None:
    target = ("milestone", "criterion", "change_request")[n % 3]
    table = {"milestone": p.milestones, "criterion": p.criteria, "change_request": p.change_requests}[target]
    p.add_comment(target_kind=target, target_id=_pick(table, n), text=f"note {n}", actor=PM)


ACTIONS: tuple[Action, ...] = (
    add_scope, remove_scope, deliver_scope, plan_milestone, reschedule, add_criterion, verify, reject, waive,
    complete_milestone, progress, progress, progress, progress, advance, skip, go_back, raise_change,
    decide_change, decide_change, plan_release, drive_release, drive_release, drive_release, release_command,
    complete_launch, define_funnel, record_actuals, waive_plan, apply_template, correct,
    sign_off, propose, decide_proposal, comment,
)

# Where a history starts: every example also gets three scope items, so change requests have targets.
START_STAGES = ("research", "solution", "development", "trial")

histories = st.lists(st.tuples(st.integers(0, len(ACTIONS) - 1), st.integers(0, 10_000)), min_size=20, max_size=120)


# ------------------------------------------------------------------ checker


def _scope_view(scope: dict[str, ScopeItem]) -> dict[str, tuple[str, str, bool]]:
    """What the baseline rule protects: which items exist, their title, tier and whether removed."""
    return {i.id: (i.title, i.tier, i.active) for i in scope.values()}


def _gate_holds(before: dict[str, Any], stage: Stage) -> bool:
    """The gate worked out from the state itself (not through the domain's own gate function)."""
    milestones = [m for m in before["milestones"].values() if m.stage == stage.value]
    criteria = [c for c in before["criteria"].values() if before["milestones"][c.milestone_id].stage == stage.value]
    planned = bool(milestones) or stage.value in before.get("plan_waivers", {})
    return planned and all(m.done for m in milestones) and all(c.state in ("verified", "waived") for c in criteria)


def _healthy_here(r: Release) -> bool:
    if not r.checks:
        return True
    obs = r.latest_observation_at_step()
    return obs is not None and obs.healthy


class Checker:
    """Runs a history on one project and checks every invariant after every step."""

    def __init__(self, start: str) -> None:
        self.at = START
        with clock.frozen_at(self.at):
            self.project = Project.create(name="Random project", client="Client", actor=PM)
        self.events: list[Any] = list(self.project.collect_events())
        self.peak: dict[tuple[str, int], int] = {}
        self.refusals: dict[str, int] = {}
        for n in (0, 8, 16):  # Login core, Share touchpoint, Points value_added
            self.run(add_scope, n)
        while self.project.stage is not Stage(start):
            self.run(progress, 0)

    def play(self, history: Sequence[tuple[int, int]]) -> None:
        for action, n in history:
            self.run(ACTIONS[action], n)
        assert state(replay(self.events)) == state(self.project)

    def run(self, action: Action, n: int) -> list[Any]:
        p = self.project
        self.at += timedelta(hours=1)
        before, version, gate = state(p), p.version, p.gate(p.stage)
        with clock.frozen_at(self.at):
            try:
                action(p, n)
            except DeliveryError as error:
                self.refusals[error.code] = self.refusals.get(error.code, 0) + 1
                assert p.collect_events() == [], error
                assert p.version == version and state(p) == before, error
                if isinstance(error, GateNotMet):
                    assert error.details["unmet"] == gate
                return []
        new = list(p.collect_events())
        assert new, f"{action.__name__} was accepted but recorded nothing"
        assert p.version == version + len(new)
        for e in new:
            assert e.actor == PM and e.timestamp == self.at, type(e).__name__
        self._stages(before, gate, new)
        self._baseline_and_scope(before, new)
        self._releases(before, new)
        for e in new:
            if isinstance(e, Project.CriterionReworded):
                assert before["criteria"][e.criterion_id].state != "verified", "a verified criterion was reworded"
                assert not before["milestones"][before["criteria"][e.criterion_id].milestone_id].completed_on
        if any(isinstance(e, Project.LaunchCompleted) for e in new):
            assert _gate_holds(before, Stage.LAUNCH) and before["stage_id"] == "launch"
            assert any(r.state == "completed" for r in before["releases"].values())
        if before["launched"]:
            assert names(new) == ["FunnelActualsRecorded"], "a closed project recorded more than late actuals"
        self.events.extend(new)
        return new

    def _stages(self, before: dict[str, Any], gate: list[dict[str, Any]], new: list[Any]) -> None:
        pre, post = Stage(before["stage_id"]), self.project.stage
        moves = [e for e in new if isinstance(e, Project.StageAdvanced | Project.StageReturned)]
        if not moves:
            assert post is pre
            return
        [move] = moves
        assert (Stage(move.from_stage), Stage(move.to_stage)) == (pre, post)
        if isinstance(move, Project.StageAdvanced):
            assert post.order == pre.order + 1, "a forward move skipped a stage"
            assert gate == [] and _gate_holds(before, pre), "moved forward through a gate that did not hold"
        else:
            assert post.order < pre.order and move.reason.strip(), "moved back without a reason"

    def _baseline_and_scope(self, before: dict[str, Any], new: list[Any]) -> None:
        p = self.project
        frozen = [e for e in new if isinstance(e, Project.BaselineFrozen)]
        if frozen:
            assert before["baseline"] is None and before["stage_id"] == "solution"
            assert names(new) == ["BaselineFrozen", "StageAdvanced"]
            kept = [(i.id, i.title, i.tier) for i in before["scope"].values() if i.active]
            assert [(i["id"], i["title"], i["tier"]) for i in frozen[0].items] == kept
            assert [(b.id, b.title, b.tier) for b in p.baseline or []] == kept
        if before["baseline"] is None:
            return
        assert p.baseline == before["baseline"], "the frozen baseline moved"
        expected = _scope_view(before["scope"])
        for e in new:
            if isinstance(e, Project.ScopeItemRetitled):
                assert e.item_id not in {b.id for b in before["baseline"]}, "a baseline item was retitled"
                _title, tier, active = expected[e.item_id]
                expected[e.item_id] = (e.title, tier, active)
            if isinstance(e, Project.ChangeRequestApproved):
                cr = p.change_requests[e.change_request_id]
                if cr.kind == "add":
                    assert e.new_item_id not in expected
                    expected[e.new_item_id] = (cr.title, cr.tier, True)
                    assert p.scope[e.new_item_id].change_request_id == cr.id
                else:
                    title, tier, active = expected[cr.scope_item_id or ""]
                    assert active
                    expected[cr.scope_item_id or ""] = (title, cr.tier, True) if cr.kind == "modify" else (
                        title, tier, False)
        assert _scope_view(p.scope) == expected, "scope moved after the baseline without an approved change"

    def _releases(self, before: dict[str, Any], new: list[Any]) -> None:
        p = self.project
        for e in new:
            if isinstance(e, Project.ReleasePlanned | Project.ReleaseStarted | Project.ReleaseAdvanced):
                assert p.stage in RELEASE_STAGES
            if isinstance(e, Project.ReleaseAdvanced):
                assert e.to_percent > e.from_percent
                assert _healthy_here(before["releases"][e.release_id]), "advanced past a failing observation"
            if isinstance(e, Project.ReleaseCompleted):
                was = before["releases"][e.release_id]
                assert was.percent == 100 and _healthy_here(was)
            if isinstance(e, Project.ReleaseRolledBack):
                r = p.releases[e.release_id]
                assert r.percent == 0 and r.rollbacks == before["releases"][e.release_id].rollbacks + 1
        for r in p.releases.values():
            if r.state in ("ramping", "paused", "completed"):
                key = (r.id, r.rollbacks)
                assert r.percent >= self.peak.get(key, 0), f"release {r.id} went down without a rollback"
                self.peak[key] = r.percent


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from(START_STAGES), history=histories)
def test_random_command_sequences_never_break_the_invariants(start: str, history: list[tuple[int, int]]) -> None:
    Checker(start).play(history)


def test_the_random_histories_reach_every_event_and_the_main_refusals() -> None:
    # Guards the property above against passing vacuously: its histories do exercise every rule.
    rng = random.Random(20260302)
    seen_events: set[str] = set()
    refusals: set[str] = set()
    for i in range(250):
        checker = Checker(START_STAGES[i % len(START_STAGES)])
        checker.play([(rng.randrange(len(ACTIONS)), rng.randrange(10_000)) for _ in range(80)])
        seen_events.update(names(checker.events))
        refusals.update(checker.refusals)
    every_event = {
        name for name, cls in vars(Project).items()
        if isinstance(cls, type) and issubclass(cls, Aggregate.Event) and name != "Event"
    }
    assert len(every_event) > 25
    assert every_event - seen_events == set()
    assert {"gate_not_met", "stage_skip", "scope_frozen", "baseline_not_frozen", "release_unhealthy",
            "invalid_state", "not_found", "criteria_open", "threshold_not_met", "wrong_stage",
            "project_closed", "duplicate", "invalid_input"} <= refusals


# ------------------------------------------------------------ store round trip


class FrequentSnapshots(DeliveryApplication):
    """The production application, snapshotting every 7 events so reloads go through snapshots."""

    name = "delivery"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Project: 7}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.sampled_from(START_STAGES), history=histories, every=st.integers(1, 12), data=st.data())
def test_reloading_from_the_store_gives_an_equal_project(
    start: str, history: list[tuple[int, int]], every: int, data: st.DataObject
) -> None:
    checker = Checker(start)
    project = checker.project
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite:///{Path(tmp) / 'delivery.sqlite3'}")
        writer = FrequentSnapshots(database)
        writer.save(*checker.events, project)
        saved = len(checker.events)
        saves = [(0, saved)]
        for i, (action, n) in enumerate(history, start=1):
            checker.run(ACTIONS[action], n)
            if i % every == 0 or i == len(history):
                writer.save(*checker.events[saved:], project)
                saves.append((saved, len(checker.events)))
                saved = len(checker.events)
        writer.close()

        reader = DeliveryApplication(database)
        try:
            # The store holds snapshots on the way, so loading went through one whenever there were 7+ events:
            # one per save that reached a version due one (every 7th, spaced wider past 70).
            crossed = sum(1 for low, high in saves if any(snapshot_due(v, 7) for v in range(low + 1, high + 1)))
            assert len(list(reader.snapshots.get(project.id))) == crossed  # type: ignore[union-attr]
            loaded = reader.get_project(project.id)
            assert loaded.__dict__ == project.__dict__
            version = data.draw(st.integers(1, project.version), label="as of version")
            assert state(reader.get_project(project.id, version=version)) == state(replay(checker.events[:version]))
        finally:
            reader.close()


def test_snapshots_are_spaced_with_the_project_so_their_cost_per_event_stays_flat() -> None:
    due = [v for v in range(1, 200_001) if snapshot_due(v, 50)]
    assert due[:20] == list(range(50, 1001, 50))  # every 50 up to 1,000 events
    assert [v for v in due if 1000 <= v < 2000] == list(range(1000, 2000, 100))
    assert [v for v in due if 16_000 <= v < 32_000] == list(range(16_000, 32_000, 1_600))
    gaps = [b - a for a, b in itertools.pairwise(due)]
    # Past 20 intervals, each gap is a tenth to a twentieth of the version it reaches: a snapshot's cost
    # (the whole project) spread over that many events stays the same per event at any size.
    assert all(b // 20 <= gap <= b // 10 for gap, b in zip(gaps, due[1:], strict=False) if b > 1000)
    # 19 below 1,000 events, then ten in each doubling of the history (1,000 to 128,000: seven), not one
    # every few hundred events; 128,000 to 200,000 is part of the eighth (a step of 12,800).
    assert len([v for v in due if v < 1000]) == 19
    assert all(len([v for v in due if 1000 * 2**k <= v < 2000 * 2**k]) == 10 for k in range(7))
    assert [v for v in due if v >= 128_000] == list(range(128_000, 200_001, 12_800))
