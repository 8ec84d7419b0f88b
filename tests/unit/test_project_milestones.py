"""Milestones: planned in a stage with a due date and deliverables, rescheduled with history, completed."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from delivery.milestones import Reschedule
from delivery.project import Project
from tests.unit.domain_helpers import D0, T0, Given, facts, invalid, refused, when


def test_plan_a_milestone_in_a_stage_with_due_date_and_deliverables() -> None:
    project = Given().project()
    [event] = when(project, Project.plan_milestone, title=" Prototype ", stage="solution", due_on="2026-05-20",
                   deliverables=["Figma file", " Flow chart "], actor="lead")
    assert isinstance(event, Project.MilestonePlanned)
    assert (event.milestone_id, event.stage, event.title, event.due_on, event.deliverables, event.actor) == (
        "M1", "solution", "Prototype", date(2026, 5, 20), ["Figma file", "Flow chart"], "lead"
    )
    m = project.milestone("M1")
    assert (m.stage, m.due_on, m.original_due_on, m.done, m.reschedules) == (
        "solution", date(2026, 5, 20), date(2026, 5, 20), False, []
    )


def test_deliverables_are_optional_and_ids_count_up() -> None:
    given = Given()
    first = given(Project.plan_milestone, title="Interviews", stage="research", due_on=D0)
    second = given(Project.plan_milestone, title="Funnel", stage="research", due_on=D0)
    assert (first, second) == ("M1", "M2")
    assert given.project().milestone(first).deliverables == []


def test_a_milestone_for_a_stage_the_project_has_left_is_refused() -> None:
    given = Given()
    given.walk_to("development")
    error = refused(given.project(), Project.plan_milestone, "wrong_stage", title="Late research",
                    stage="research", due_on=D0)
    assert facts(error) == {"stage": "research", "current": "development"}


@pytest.mark.parametrize("due_on", ["2026-13-01", "next week", "", 20260501, None, T0])
def test_a_due_date_that_is_not_a_date_is_bad_input(due_on: object) -> None:
    invalid(Given().project(), Project.plan_milestone, "due_on", title="Interviews", stage="research",
            due_on=due_on)


def test_an_unknown_stage_is_bad_input_naming_stage() -> None:
    invalid(Given().project(), Project.plan_milestone, "stage", title="Interviews", stage="qa", due_on=D0)


@pytest.mark.parametrize(("deliverables", "field"), [
    ("Figma file", "deliverables"),
    (["ok", ""], "deliverables[1]"),
    (["ok", 3], "deliverables[1]"),
    ([f"d{i}" for i in range(51)], "deliverables"),
])
def test_bad_deliverables_name_the_entry(deliverables: object, field: str) -> None:
    invalid(Given().project(), Project.plan_milestone, field, title="Interviews", stage="research", due_on=D0,
            deliverables=deliverables)


# ---------------------------------------------------------------- reschedule


def _planned() -> tuple[Given, str]:
    given = Given()
    return given, given(Project.plan_milestone, title="Interviews", stage="research", due_on=D0)


def test_rescheduling_keeps_the_old_date_the_new_date_and_the_reason() -> None:
    given, ms = _planned()
    given(Project.reschedule_milestone, milestone_id=ms, due_on=D0 + timedelta(days=7), reason="client away")
    project = given.project()
    [event] = when(project, Project.reschedule_milestone, milestone_id=ms, due_on=D0 + timedelta(days=10),
                   reason="  interviews moved  ", actor="lead")
    assert isinstance(event, Project.MilestoneRescheduled)
    assert (event.from_on, event.to_on, event.reason) == (D0 + timedelta(days=7), D0 + timedelta(days=10),
                                                          "interviews moved")
    m = project.milestone(ms)
    assert m.due_on == D0 + timedelta(days=10) and m.original_due_on == D0
    assert m.reschedules == [
        Reschedule(D0, D0 + timedelta(days=7), "client away", "pm@agency"),
        Reschedule(D0 + timedelta(days=7), D0 + timedelta(days=10), "interviews moved", "lead"),
    ]


def test_rescheduling_earlier_is_allowed() -> None:
    given, ms = _planned()
    project = given.project()
    when(project, Project.reschedule_milestone, milestone_id=ms, due_on=D0 - timedelta(days=2), reason="faster")
    assert project.milestone(ms).due_on == D0 - timedelta(days=2)


def test_rescheduling_to_the_same_date_is_refused() -> None:
    given, ms = _planned()
    error = invalid(given.project(), Project.reschedule_milestone, "due_on", conflicting=True, milestone_id=ms,
                    due_on=D0, reason="no change")
    assert D0.isoformat() in error.message


@pytest.mark.parametrize("reason", ["", "  ", None, "x" * 2001])
def test_rescheduling_needs_a_reason(reason: object) -> None:
    given, ms = _planned()
    invalid(given.project(), Project.reschedule_milestone, "reason", milestone_id=ms,
            due_on=D0 + timedelta(days=1), reason=reason)


def test_a_completed_milestone_cannot_be_rescheduled() -> None:
    given, ms = _planned()
    given(Project.complete_milestone, milestone_id=ms)
    refused(given.project(), Project.reschedule_milestone, "invalid_state", milestone_id=ms,
            due_on=D0 + timedelta(days=1), reason="late")


def test_rescheduling_an_unknown_milestone_is_not_found() -> None:
    error = refused(Given().project(), Project.reschedule_milestone, "not_found", milestone_id="M7",
                    due_on=D0, reason="x")
    assert facts(error) == {"kind": "milestone", "id": "M7"}


# ------------------------------------------------------------------ complete


def test_completing_defaults_to_today_by_the_clock() -> None:
    given, ms = _planned()
    project = given.project()
    [event] = when(project, Project.complete_milestone, milestone_id=ms, at=T0 + timedelta(days=3))
    assert isinstance(event, Project.MilestoneCompleted)
    assert event.completed_on == D0 + timedelta(days=3)
    assert project.milestone(ms).done and project.milestone(ms).days_late == 3


def test_completing_on_a_past_business_date_is_recorded_as_that_date() -> None:
    given, ms = _planned()
    project = given.project()
    [event] = when(project, Project.complete_milestone, milestone_id=ms, completed_on="2026-03-30",
                   at=T0 + timedelta(days=3))
    assert event.completed_on == date(2026, 3, 30)
    assert event.timestamp.date() == D0 + timedelta(days=3)  # recorded today, happened before
    assert project.milestone(ms).days_late == 0


def test_completing_on_a_future_date_is_refused() -> None:
    given, ms = _planned()
    invalid(given.project(), Project.complete_milestone, "completed_on", conflicting=True, milestone_id=ms,
            completed_on=date(2099, 1, 1))


def test_completing_twice_is_refused() -> None:
    given, ms = _planned()
    given(Project.complete_milestone, milestone_id=ms)
    refused(given.project(), Project.complete_milestone, "invalid_state", milestone_id=ms)


def test_a_milestone_of_a_stage_not_yet_reached_cannot_be_completed() -> None:
    given = Given()
    ms = given(Project.plan_milestone, title="Prototype", stage="solution", due_on=D0)
    error = refused(given.project(), Project.complete_milestone, "wrong_stage", milestone_id=ms)
    assert facts(error) == {"milestone_id": ms, "stage": "solution", "current": "research"}


def test_a_milestone_with_open_or_rejected_criteria_cannot_be_completed() -> None:
    given, ms = _planned()
    done = given(Project.add_criterion, milestone_id=ms, text="Notes shared")
    still_open = given(Project.add_criterion, milestone_id=ms, text="Client signs")
    rejected = given(Project.add_criterion, milestone_id=ms, text="Survey")
    given(Project.verify_criterion, criterion_id=done, evidence="notes.pdf")
    given(Project.reject_criterion, criterion_id=rejected, reason="too few answers")
    error = refused(given.project(), Project.complete_milestone, "criteria_open", milestone_id=ms)
    assert facts(error) == {"milestone_id": ms, "criteria": [
        {"id": still_open, "state": "open"}, {"id": rejected, "state": "rejected"},
    ]}
    assert still_open in error.message and rejected in error.message


# ------------------------------------------------------- what a milestone delivers


def test_a_milestone_names_the_scope_items_it_delivers() -> None:
    given = Given()
    core = given(Project.add_scope_item, title="Checkout", tier="core")
    extra = given(Project.add_scope_item, title="Member points", tier="value_added")
    project = given.project()
    [event] = when(project, Project.plan_milestone, title="Loyalty", stage="research", due_on=D0,
                   scope_item_ids=[extra, core], actor="lead")
    assert event.scope_item_ids == [extra, core]
    assert project.milestone("M1").scope_item_ids == [extra, core]


@pytest.mark.parametrize(("ids", "field_or_code"), [
    ("S1", "scope_item_ids"),
    ([f"S{i}" for i in range(51)], "scope_item_ids"),
])
def test_bad_scope_item_lists_are_bad_input(ids: object, field_or_code: str) -> None:
    given = Given()
    given(Project.add_scope_item, title="Checkout", tier="core")
    invalid(given.project(), Project.plan_milestone, field_or_code, title="Loyalty", stage="research", due_on=D0,
            scope_item_ids=ids)


def test_a_removed_or_unknown_scope_item_cannot_be_delivered() -> None:
    given = Given()
    item = given(Project.add_scope_item, title="Checkout", tier="core")
    twice = refused(given.project(), Project.plan_milestone, "conflicting_input", title="Loyalty", stage="research",
                    due_on=D0, scope_item_ids=[item, item])
    assert twice.field == "scope_item_ids"
    given(Project.remove_scope_item, item_id=item)
    removed = refused(given.project(), Project.plan_milestone, "invalid_state", title="Loyalty", stage="research",
                      due_on=D0, scope_item_ids=[item])
    assert removed.details["field"] == "scope_item_ids"
    refused(given.project(), Project.plan_milestone, "not_found", title="Loyalty", stage="research", due_on=D0,
            scope_item_ids=["S9"])
