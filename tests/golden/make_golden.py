"""Write the golden events: a full-lifecycle project (and, from v2, one planned from a stage template),
stored exactly as the event store holds them.

Run by hand, from the repository root:

    .venv/bin/python -m tests.golden.make_golden 3     # writes tests/golden/events_v3.jsonl

Never regenerate a version that is already checked in: events_v1.jsonl is what an older
release of the tracker wrote, and tests/golden/test_golden.py proves that today's code still
loads it. When the Project aggregate gains an event type (or an event changes shape), extend
`play_full_lifecycle` to record it, write the next version (events_v2, events_v3, ...) and add
its expected final state to test_golden.py; keep every older file and its test.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.settings import Database

HERE = Path(__file__).resolve().parent
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PM = "pm@agency"
ERROR_RATE = [{"metric": "error_rate", "comparator": "<=", "threshold": 1}]


class Recorder:
    """Runs commands on one project, each an hour of simulated time after the one before."""

    def __init__(self, app: DeliveryApplication, start: datetime) -> None:
        self.app = app
        self.moment = start
        self.project_id: UUID | None = None

    def __call__(self, command: str, *, actor: str = PM, **kwargs: Any) -> Any:
        with clock.frozen_at(self.moment):
            self.moment += timedelta(hours=1)
            if command == "create_project":
                result = self.app.create_project(actor=actor, **kwargs)
                self.project_id = result.value
            else:
                result = getattr(self.app, command)(self.project_id, actor=actor, **kwargs)
        return result.value


def play_full_lifecycle(app: DeliveryApplication, start: datetime = START) -> UUID:
    """One project from research to a completed launch, recording every kind of event a Project has."""
    run = Recorder(app, start)
    pid: UUID = run("create_project", name="Golden lifecycle 金样项目", client="Golden Client 金色客户",
                    description="Every event type, in a plausible order.")
    run("add_scope_item", title="Login", tier="core")                      # S1
    run("add_scope_item", title="Checkout", tier="core")                   # S2
    run("add_scope_item", title="Share card", tier="touchpoint")           # S3
    run("add_scope_item", title="Points", tier="value_added")              # S4
    run("remove_scope_item", item_id="S4")
    run("define_funnel", steps=[{"name": "Browse", "expected_rate": 60}, {"name": "Add to cart", "expected_rate": 35},
                                {"name": "Pay", "expected_rate": 80}])
    m1 = run("plan_milestone", title="Research signed off", stage="research", due_on=date(2026, 1, 20),
             deliverables=["Interview notes", "Funnel model"])
    ac1 = run("add_criterion", milestone_id=m1, text="Client signs off the research notes")
    run("reschedule_milestone", milestone_id=m1, due_on=date(2026, 1, 22), reason="Client workshop moved")
    run("verify_criterion", criterion_id=ac1, evidence="Signed notes")
    run("complete_milestone", milestone_id=m1, completed_on=date(2026, 1, 5))
    run("transition", to_stage="solution")
    run("waive_stage_plan", stage="solution", reason="Solution agreed in the tender")
    run("transition", to_stage="planning")                                # freezes the baseline
    run("waive_stage_plan", stage="planning", reason="Planned with the solution")
    run("transition", to_stage="development")
    cr1 = run("raise_change_request", title="Coupons", requested_by="Client marketing", kind="add",
              tier="value_added", schedule_days=3, cost="1200.50")
    run("approve_change_request", change_request_id=cr1, reason="Budget approved")   # adds S5
    run("implement_change_request", change_request_id=cr1)
    cr2 = run("raise_change_request", title="Checkout with saved addresses", requested_by="Client ops",
              kind="modify", tier="core", scope_item_id="S2", schedule_days=2, cost=800)
    run("approve_change_request", change_request_id=cr2)
    cr3 = run("raise_change_request", title="Live streaming", requested_by="Client marketing", kind="add",
              tier="value_added", schedule_days=20, cost=30000)
    run("reject_change_request", change_request_id=cr3, reason="Core path first")
    cr4 = run("raise_change_request", title="Drop the share card", requested_by="Client marketing",
              kind="remove", tier="touchpoint", scope_item_id="S3")
    run("withdraw_change_request", change_request_id=cr4)
    run("deliver_scope_item", item_id="S1")
    m2 = run("plan_milestone", title="Build complete", stage="development", due_on=date(2026, 2, 10))
    ac2 = run("add_criterion", milestone_id=m2, text="List page p95 load",
              metric={"name": "p95_load_ms", "comparator": "<=", "threshold": 1000, "unit": "ms"})
    ac3 = run("add_criterion", milestone_id=m2, text="Payment callbacks are idempotent")
    run("reject_criterion", criterion_id=ac2, reason="p95 1420 ms on a weak network")
    run("verify_criterion", criterion_id=ac2, evidence="Load test after the CDN switch", measured=850)
    run("waive_criterion", criterion_id=ac3, reason="Covered by the payment provider's guarantee")
    run("complete_milestone", milestone_id=m2)
    run("transition", to_stage="integration_test")
    for stage in ("integration_test", "uat", "trial", "launch"):
        run("waive_stage_plan", stage=stage, reason="Covered by the build milestone's criteria")
    run("transition", to_stage="uat")
    run("transition", to_stage="development", reason="UAT found defects")
    for stage in ("integration_test", "uat", "trial"):
        run("transition", to_stage=stage)
    r1 = run("plan_release", version="1.0", steps=[10, 50, 100], health=ERROR_RATE)
    run("start_release", release_id=r1)
    run("record_observation", release_id=r1, metrics={"error_rate": 3.0})
    run("roll_back_release", release_id=r1, reason="Error rate 3% at 10%")
    r2 = run("plan_release", version="1.0.1", steps=[10, 50, 100], health=ERROR_RATE)
    run("start_release", release_id=r2)
    run("record_observation", release_id=r2, metrics={"error_rate": 0.2})
    run("advance_release", release_id=r2)
    run("pause_release", release_id=r2, reason="Weekend freeze")
    run("resume_release", release_id=r2)
    run("record_observation", release_id=r2, metrics={"error_rate": 0.3})
    run("advance_release", release_id=r2)
    run("record_observation", release_id=r2, metrics={"error_rate": 0.1})
    run("complete_release", release_id=r2)
    run("transition", to_stage="launch")
    run("record_funnel_actuals", rates=[55, 30, 82])
    run("complete_launch")
    return pid


def play_templated(app: DeliveryApplication, start: datetime = START) -> UUID:
    """A project planned from a stage template at its creation (TemplateApplied and the plan, one save)."""
    run = Recorder(app, start)
    pid: UUID = run("create_project", name="Golden template 模板项目", client="Golden Client 金色客户",
                    template="website_inquiry", start_on=date(2026, 1, 5), language="zh")
    return pid


def play_corrected(app: DeliveryApplication, start: datetime = START) -> UUID:
    """A project whose texts were corrected (from v3): renamed, retitled, reworded, deliverables revised."""
    run = Recorder(app, start)
    pid: UUID = run("create_project", name="Golden corrected 更正项目", client="Golden Client 金色客户")
    item = run("add_scope_item", title="Logn", tier="core")
    m1 = run("plan_milestone", title="Reserch signed off", stage="research", due_on=date(2026, 1, 20),
             deliverables=["Interview notes"])
    ac1 = run("add_criterion", milestone_id=m1, text="Client signs of the notes")
    run("rename_project", name="Golden corrected project 更正项目")
    run("retitle_scope_item", item_id=item, title="Login")
    run("retitle_milestone", milestone_id=m1, title="Research signed off")
    run("revise_deliverables", milestone_id=m1, deliverables=["Interview notes", "Funnel model"])
    run("reword_criterion", criterion_id=ac1, text="Client signs off the notes")
    return pid


def play_participation(app: DeliveryApplication, start: datetime = START) -> UUID:
    """From v4: a client signs off (rejects, then verifies), proposes changes the pm accepts and declines,
    and both comment."""
    run = Recorder(app, start)
    client = "Ms Wang 王女士"
    pid: UUID = run("create_project", name="Golden participation 客户参与", client="Golden Client 金色客户")
    run("add_scope_item", title="Login", tier="core")
    m1 = run("plan_milestone", title="Findings signed off", stage="research", due_on=date(2026, 1, 20))
    ac = run("add_criterion", milestone_id=m1, text="The client signs off the findings", client_signoff=True)
    run("sign_off_criterion", criterion_id=ac, verdict="rejected", comment="Survey missing 缺少问卷", actor=client)
    run("sign_off_criterion", criterion_id=ac, verdict="verified", comment="Agreed 同意", actor=client)
    run("add_comment", target_kind="criterion", target_id=ac, text="Thanks!\n谢谢", actor=client)
    run("complete_milestone", milestone_id=m1, completed_on=date(2026, 1, 5))
    run("transition", to_stage="solution")
    run("waive_stage_plan", stage="solution", reason="Small project")
    run("transition", to_stage="planning")
    p1 = run("propose_change", title="Coupons 优惠券", description="For 11.11", tier="value_added", actor=client)
    p2 = run("propose_change", title="Dark mode", tier="touchpoint", actor=client)
    cr = run("accept_change_proposal", proposal_id=p1, kind="add", schedule_days=3, cost="1500.50")
    run("decline_change_proposal", proposal_id=p2, reason="Next phase 下一期")
    run("add_comment", target_kind="change_request", target_id=cr, text="Approved soon", actor="pm@agency")
    run("approve_change_request", change_request_id=cr, reason="Signed")
    return pid


def play_scheduled(app: DeliveryApplication, start: datetime = START) -> UUID:
    """From v5: milestones name the scope items they deliver (a value-added one before the core path is done)."""
    run = Recorder(app, start)
    pid: UUID = run("create_project", name="Golden scheduled 排期项目", client="Golden Client 金色客户")
    core = run("add_scope_item", title="Checkout", tier="core")
    points = run("add_scope_item", title="Member points 会员积分", tier="value_added")
    run("plan_milestone", title="Points live", stage="research", due_on=date(2026, 2, 1), scope_item_ids=[points])
    run("plan_milestone", title="Checkout live", stage="research", due_on=date(2026, 2, 8),
        scope_item_ids=[core, points], deliverables=["Release notes"])
    return pid


def play_currency(app: DeliveryApplication, start: datetime = START) -> UUID:
    """From v6: a project created in US dollars (ProjectCurrencySet in the creating save), then set to euros."""
    run = Recorder(app, start)
    pid: UUID = run("create_project", name="Golden currency 币种项目", client="Golden Client 金色客户", currency="USD")
    run("set_project_currency", currency="EUR")
    return pid


def stored_records(app: DeliveryApplication) -> list[dict[str, Any]]:
    """Every stored event, in store order, as the store holds it (state as its UTF-8 JSON text)."""
    if app.mapper.compressor is not None or app.mapper.cipher is not None:
        raise RuntimeError("golden events are written uncompressed and unencrypted, as the default store holds them")
    return [
        {"originator_id": str(n.originator_id), "originator_version": n.originator_version,
         "topic": n.topic, "state": n.state.decode("utf-8")}
        for n in app.recorder.select_notifications(start=1, limit=10_000)
    ]


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m tests.golden.make_golden VERSION   (e.g. 2 writes events_v2.jsonl)", file=sys.stderr)
        return 2
    target = HERE / f"events_v{int(argv[0])}.jsonl"
    if target.exists():
        print(f"{target.name} exists: golden files are never regenerated; write the next version.", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        app = DeliveryApplication(Database(f"sqlite:///{tmp}/golden.sqlite3"))
        try:
            play_full_lifecycle(app)
            play_templated(app)
            if int(argv[0]) >= 3:
                play_corrected(app)
            if int(argv[0]) >= 4:
                play_participation(app)
            if int(argv[0]) >= 5:
                play_scheduled(app)
            if int(argv[0]) >= 6:
                play_currency(app)
            records = stored_records(app)
        finally:
            app.close()
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"Wrote {len(records)} events to {target}.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
