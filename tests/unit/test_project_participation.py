"""Client participation: criteria only the client's sign-off closes, change proposals, comments."""

from __future__ import annotations

import pytest

from delivery.project import Project
from tests.unit.domain_helpers import D0, MEASURABLE, Given, invalid, refused, replay, when

CLIENT = "Ms Wang (Acme)"


def _signoff() -> tuple[Given, str, str]:
    given = Given()
    ms = given(Project.plan_milestone, title="UAT", stage="research", due_on=D0)
    ac = given(Project.add_criterion, milestone_id=ms, text="The client signs off UAT", client_signoff=True)
    return given, ms, ac


# ----------------------------------------------------------------- sign-off


def test_a_criterion_added_with_client_signoff_records_it() -> None:
    given, _ms, ac = _signoff()
    event = given.events[-1]
    assert isinstance(event, Project.CriterionAdded) and event.client_signoff is True
    assert given.project().criterion(ac).client_signoff


def test_a_plain_criterion_needs_no_signoff() -> None:
    given = Given()
    ms = given(Project.plan_milestone, title="UAT", stage="research", due_on=D0)
    given(Project.add_criterion, milestone_id=ms, text="Docs written")
    assert given.events[-1].client_signoff is False
    refused(given.project(), Project.sign_off_criterion, "signoff_not_required", criterion_id="AC1",
            verdict="verified", actor=CLIENT)


def test_a_measurable_criterion_cannot_ask_for_signoff() -> None:
    given = Given()
    ms = given(Project.plan_milestone, title="UAT", stage="research", due_on=D0)
    invalid(given.project(), Project.add_criterion, "client_signoff", conflicting=True, milestone_id=ms,
            text="fast", metric=MEASURABLE, client_signoff=True)
    invalid(given.project(), Project.add_criterion, "client_signoff", milestone_id=ms, text="x", client_signoff="yes")


def test_the_gate_stays_shut_until_the_client_signs_and_the_pm_cannot_close_it() -> None:
    given, _ms, ac = _signoff()
    project = given.project()
    assert [u["criterion_id"] for u in project.gate(project.stage) if u["kind"] == "criterion_open"] == [ac]
    refused(project, Project.verify_criterion, "client_signoff_required", criterion_id=ac, evidence="sheet")
    refused(project, Project.waive_criterion, "client_signoff_required", criterion_id=ac, reason="busy")
    [event] = when(project, Project.sign_off_criterion, criterion_id=ac, verdict="verified",
                   comment="All scripts passed", actor=CLIENT)
    assert isinstance(event, Project.CriterionSignedOff)
    assert (event.criterion_id, event.verdict, event.comment, event.actor) == (ac, "verified", "All scripts passed",
                                                                               CLIENT)
    c = project.criterion(ac)
    assert (c.state, c.decided_by, c.evidence) == ("verified", CLIENT, "All scripts passed")
    assert not [u for u in project.gate(project.stage) if u["kind"] == "criterion_open"]
    assert replay([*given.events, event]).criterion(ac).state == "verified"


def test_a_client_rejection_needs_a_comment_and_reopens_for_a_later_signoff() -> None:
    given, _ms, ac = _signoff()
    invalid(given.project(), Project.sign_off_criterion, "comment", criterion_id=ac, verdict="rejected",
            comment="  ", actor=CLIENT)
    invalid(given.project(), Project.sign_off_criterion, "verdict", criterion_id=ac, verdict="maybe", actor=CLIENT)
    given(Project.sign_off_criterion, criterion_id=ac, verdict="rejected", comment="Coupon fails", actor=CLIENT)
    project = given.project()
    assert (project.criterion(ac).state, project.criterion(ac).reason) == ("rejected", "Coupon fails")
    refused(project, Project.sign_off_criterion, "invalid_state", criterion_id=ac, verdict="rejected",
            comment="again", actor=CLIENT)
    given(Project.sign_off_criterion, criterion_id=ac, verdict="verified", actor=CLIENT)
    assert given.project().criterion(ac).state == "verified"


def test_signoff_of_an_unknown_criterion_or_on_a_completed_milestone_is_refused() -> None:
    given, ms, ac = _signoff()
    refused(given.project(), Project.sign_off_criterion, "not_found", criterion_id="AC9", verdict="verified",
            actor=CLIENT)
    given(Project.sign_off_criterion, criterion_id=ac, verdict="verified", actor=CLIENT)
    given(Project.complete_milestone, milestone_id=ms)
    refused(given.project(), Project.sign_off_criterion, "invalid_state", criterion_id=ac, verdict="rejected",
            comment="too late", actor=CLIENT)


# ---------------------------------------------------------------- proposals


def _frozen() -> Given:
    given = Given()
    given.scope(("Login", "core"))
    given.walk_to("planning")
    return given


def test_a_client_proposes_and_the_pm_accepts_it_into_a_change_request() -> None:
    given = _frozen()
    pid = given(Project.propose_change, title="Coupons at checkout", description="For the 11.11 campaign",
                tier="value_added", actor=CLIENT)
    assert pid == "P1"
    proposed = given.events[-1]
    assert isinstance(proposed, Project.ChangeProposed)
    assert (proposed.title, proposed.description, proposed.tier, proposed.actor) == (
        "Coupons at checkout", "For the 11.11 campaign", "value_added", CLIENT)
    project = given.project()
    raised, accepted = when(project, Project.accept_change_proposal, proposal_id=pid, kind="add",
                            schedule_days=5, cost=2000)
    assert isinstance(raised, Project.ChangeRequestRaised) and isinstance(accepted, Project.ChangeProposalAccepted)
    assert (raised.title, raised.requested_by, raised.tier, raised.schedule_days) == (
        "Coupons at checkout", CLIENT, "value_added", 5)
    assert (accepted.proposal_id, accepted.change_request_id) == (pid, raised.change_request_id)
    assert project.proposal(pid).status == "accepted"
    refused(project, Project.decline_change_proposal, "invalid_state", proposal_id=pid, reason="no")


def test_accepting_follows_the_change_request_rules_and_records_nothing_when_refused() -> None:
    given = Given()
    pid = given(Project.propose_change, title="Coupons", tier="value_added", actor=CLIENT)
    refused(given.project(), Project.accept_change_proposal, "baseline_not_frozen", proposal_id=pid, kind="add")
    given = _frozen()
    pid = given(Project.propose_change, title="Coupons", tier="value_added", actor=CLIENT)
    invalid(given.project(), Project.accept_change_proposal, "impact.schedule_days", proposal_id=pid, kind="add",
            schedule_days=99999)
    invalid(given.project(), Project.accept_change_proposal, "scope_item_id", conflicting=True, proposal_id=pid,
            kind="modify")
    refused(given.project(), Project.accept_change_proposal, "not_found", proposal_id="P9", kind="add")


def test_the_pm_declines_a_proposal_with_a_reason() -> None:
    given = _frozen()
    pid = given(Project.propose_change, title="Dark mode", tier="touchpoint", actor=CLIENT)
    invalid(given.project(), Project.decline_change_proposal, "reason", proposal_id=pid, reason=" ")
    [event] = when(given.project(), Project.decline_change_proposal, proposal_id=pid, reason="Out of budget")
    assert isinstance(event, Project.ChangeProposalDeclined) and event.reason == "Out of budget"


@pytest.mark.parametrize(("field", "kwargs"), [
    ("title", {"title": "", "tier": "core"}),
    ("title", {"title": "x" * 201, "tier": "core"}),
    ("title", {"title": "a\x00b", "tier": "core"}),
    ("tier", {"title": "ok", "tier": "gold"}),
    ("description", {"title": "ok", "tier": "core", "description": "d" * 2001}),
])
def test_a_proposal_with_bad_input_is_refused(field: str, kwargs: dict[str, str]) -> None:
    invalid(Given().project(), Project.propose_change, field, actor=CLIENT, **kwargs)


# ------------------------------------------------------------------ comments


def test_comments_on_milestones_criteria_and_change_requests() -> None:
    given = _frozen()
    cr = given(Project.raise_change_request, title="Coupons", requested_by="client", kind="add", tier="core")
    ms = given(Project.plan_milestone, title="Build", stage="development", due_on=D0)
    ac = given(Project.add_criterion, milestone_id=ms, text="Works")
    ids = [given(Project.add_comment, target_kind=k, target_id=i, text=f"About {i}\nsecond line", actor=CLIENT)
           for k, i in (("milestone", ms), ("criterion", ac), ("change_request", cr))]
    assert ids == ["C1", "C2", "C3"]
    event = given.events[-1]
    assert isinstance(event, Project.CommentAdded)
    assert (event.comment_id, event.target_kind, event.target_id, event.text, event.actor) == (
        "C3", "change_request", cr, f"About {cr}\nsecond line", CLIENT)
    assert given.project().comment_count == 3


@pytest.mark.parametrize(("field", "kwargs", "code"), [
    ("target_kind", {"target_kind": "release", "target_id": "R1", "text": "hi"}, "invalid_input"),
    ("text", {"target_kind": "milestone", "target_id": "M1", "text": " "}, "invalid_input"),
    ("text", {"target_kind": "milestone", "target_id": "M1", "text": "x" * 2001}, "invalid_input"),
    ("text", {"target_kind": "milestone", "target_id": "M1", "text": "bad\x00"}, "invalid_input"),
    (None, {"target_kind": "criterion", "target_id": "AC7", "text": "hi"}, "not_found"),
])
def test_a_bad_comment_is_refused(field: str | None, kwargs: dict[str, str], code: str) -> None:
    given = Given()
    given(Project.plan_milestone, title="UAT", stage="research", due_on=D0)
    error = refused(given.project(), Project.add_comment, code, actor=CLIENT, **kwargs)
    if field:
        assert error.details["field"] == field
