"""The diff credits each change to the event that made it, found by folding the window event by event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.diff import diff
from projections.service import ReadSide

START = clock.now().replace(microsecond=0) - timedelta(days=30)


@pytest.fixture
def reads(database: Database) -> Iterator[ReadSide]:
    app = DeliveryApplication(database)
    with ReadSide(app, live=True) as side:
        yield side
    app.close()


def at(hours: int) -> clock.datetime:
    return START + timedelta(hours=hours)


def test_baseline_flags_are_credited_to_baseline_frozen_not_to_a_later_change_request(reads: ReadSide) -> None:
    app = reads.app
    with clock.frozen_at(at(0)):
        pid = str(app.create_project(name="Baseline", client="Acme", actor="pm").project_id)
    with clock.frozen_at(at(1)):
        app.add_scope_item(pid, title="Checkout", tier="core", actor="pm")
        app.add_scope_item(pid, title="Sharing", tier="touchpoint", actor="pm")
        app.define_funnel(pid, steps=[{"name": n, "expected_rate": 50} for n in ("Visit", "Cart", "Pay")],
                          actor="pm")
    with clock.frozen_at(at(2)):
        for stage, following in (("research", "solution"), ("solution", "planning")):
            app.waive_stage_plan(pid, stage=stage, reason="kick-off only", actor="pm")
            app.transition(pid, to_stage=following, actor="pm")  # leaving solution freezes the baseline
    with clock.frozen_at(at(3)):
        last = app.raise_change_request(pid, title="Wallet pay", requested_by="client", kind="modify",
                                        tier="core", scope_item_id="S1", actor="pm")
    reads.wait_for(last.position)
    log = {e.type: e.position for e in reads.audit_log(pid).items}

    result = diff(reads, pid, at(1) + timedelta(minutes=30), at(4))
    scope = {i.id: i for v in result.views if v.view == "scope" for i in v.items}
    assert scope["S1"].change == "changed" and scope["S1"].fields["in_baseline"] == [False, True]
    assert scope["S1"].events == [log["BaselineFrozen"]]  # not ChangeRequestRaised, which names S1
    assert scope["S2"].events == [log["BaselineFrozen"]]  # named by no event, frozen all the same
    changes = {i.id: i for v in result.views if v.view == "change_requests" for i in v.items}
    assert changes["CR1"].change == "added" and changes["CR1"].events == [log["ChangeRequestRaised"]]
    project = next(i for v in result.views if v.view == "summary" for i in v.items)
    assert log["BaselineFrozen"] in project.events and log["ChangeRequestRaised"] not in project.events

    # From the beginning: each item is credited with what added it and what changed it since.
    whole = diff(reads, pid, at(-1), at(4))
    scope = {i.id: i for v in whole.views if v.view == "scope" for i in v.items}
    added = [e.position for e in whole.events if e.type == "ScopeItemAdded"]
    assert scope["S1"].change == "added" and scope["S1"].events == [added[0], log["BaselineFrozen"]]
