"""Corrections: rename the project, retitle a milestone or a scope item, reword a criterion, revise
deliverables. Each is a new event keeping the text it replaced; where a rule froze the text, refused."""

from __future__ import annotations

from datetime import date

from delivery.project import Project
from projections import views
from projections.reducers import fold
from projections.store import next_milestone_in_memory
from tests.unit.domain_helpers import D0, Given, facts, invalid, refused, when


def _milestone() -> tuple[Given, str]:
    given = Given()
    return given, given(Project.plan_milestone, title="Prototype", stage="research", due_on=D0,
                        deliverables=["Wireframes"])


# ------------------------------------------------------------------ project


def test_rename_records_the_new_and_the_previous_name() -> None:
    project = Given(name="Mall app").project()
    [event] = when(project, Project.rename, name=" Mall mini-program ", actor="lead")
    assert isinstance(event, Project.ProjectRenamed)
    assert (event.name, event.previous, event.actor) == ("Mall mini-program", "Mall app", "lead")
    assert project.name == "Mall mini-program"


def test_rename_refuses_a_blank_or_unchanged_name() -> None:
    project = Given(name="Mall app").project()
    invalid(project, Project.rename, "name", name="  ")
    invalid(project, Project.rename, "name", conflicting=True, name="Mall app")


def test_a_closed_project_takes_no_correction() -> None:
    given = Given()
    given.walk_to("launch")
    release = given.ramping_release(steps=(100,), health=False)
    given(Project.complete_release, release_id=release)
    given.close_gate()
    given(Project.complete_launch)
    refused(given.project(), Project.rename, "project_closed", name="Another name")


# --------------------------------------------------------------- milestones


def test_retitle_a_milestone_even_once_completed() -> None:
    given, ms = _milestone()
    given(Project.complete_milestone, milestone_id=ms)
    project = given.project()
    [event] = when(project, Project.retitle_milestone, milestone_id=ms, title="Clickable prototype")
    assert (event.milestone_id, event.title, event.previous) == (ms, "Clickable prototype", "Prototype")
    assert project.milestone(ms).title == "Clickable prototype"


def test_retitle_a_milestone_refuses_unknown_blank_and_unchanged() -> None:
    given, ms = _milestone()
    project = given.project()
    refused(project, Project.retitle_milestone, "not_found", milestone_id="M9", title="x")
    invalid(project, Project.retitle_milestone, "title", milestone_id=ms, title="")
    invalid(project, Project.retitle_milestone, "title", conflicting=True, milestone_id=ms, title="Prototype")


def test_revise_deliverables_replaces_the_list_and_keeps_the_old_one_in_the_event() -> None:
    given, ms = _milestone()
    project = given.project()
    [event] = when(project, Project.revise_deliverables, milestone_id=ms, deliverables=["Wireframes", "Copy deck"])
    assert isinstance(event, Project.DeliverablesRevised)
    assert (event.deliverables, event.previous) == (["Wireframes", "Copy deck"], ["Wireframes"])
    assert project.milestone(ms).deliverables == ["Wireframes", "Copy deck"]


def test_revise_deliverables_refused_on_a_completed_milestone_and_for_bad_lists() -> None:
    given, ms = _milestone()
    project = given.project()
    invalid(project, Project.revise_deliverables, "deliverables[1]", milestone_id=ms, deliverables=["ok", " "])
    invalid(project, Project.revise_deliverables, "deliverables", conflicting=True, milestone_id=ms,
            deliverables=["Wireframes"])
    given(Project.complete_milestone, milestone_id=ms)
    error = refused(given.project(), Project.revise_deliverables, "invalid_state", milestone_id=ms,
                    deliverables=["More"])
    assert facts(error) == {"milestone_id": ms}


# -------------------------------------------------------------------- scope


def test_retitle_a_scope_item_while_the_scope_is_open() -> None:
    given = Given()
    [item] = given.scope(("Checkout", "core"))
    project = given.project()
    [event] = when(project, Project.retitle_scope_item, item_id=item, title="Checkout and pay")
    assert (event.item_id, event.title, event.previous) == (item, "Checkout and pay", "Checkout")
    # The old title is free again, the new one taken.
    when(project, Project.add_scope_item, title="Checkout", tier="core")
    refused(project, Project.add_scope_item, "duplicate", title="checkout AND pay", tier="core")


def test_retitle_a_scope_item_keeps_titles_unique_but_allows_a_change_of_case() -> None:
    given = Given()
    first, _second = given.scope(("Checkout", "core"), ("Login", "core"))
    project = given.project()
    error = refused(project, Project.retitle_scope_item, "duplicate", item_id=first, title="LOGIN")
    assert error.details["field"] == "title"
    [event] = when(project, Project.retitle_scope_item, item_id=first, title="checkout")
    assert event.title == "checkout"


def test_a_baseline_item_is_frozen_but_one_added_by_a_change_request_is_not() -> None:
    given = Given()
    [item] = given.scope(("Checkout", "core"))
    given.walk_to("planning")
    cr = given(Project.raise_change_request, title="Coupons", requested_by="Client", kind="add", tier="value_added")
    given(Project.approve_change_request, change_request_id=cr)
    project = given.project()
    error = refused(project, Project.retitle_scope_item, "scope_frozen", item_id=item, title="Pay")
    assert error.details["item_id"] == item
    added = project.change_request(cr).scope_item_id
    assert added is not None
    [event] = when(project, Project.retitle_scope_item, item_id=added, title="Coupons and vouchers")
    assert project.scope_item(added).title == event.title == "Coupons and vouchers"


def test_a_removed_scope_item_is_not_retitled() -> None:
    given = Given()
    [item] = given.scope(("Checkout", "core"))
    given(Project.remove_scope_item, item_id=item)
    refused(given.project(), Project.retitle_scope_item, "invalid_state", item_id=item, title="Pay")


# ----------------------------------------------------------------- criteria


def test_reword_an_open_or_rejected_criterion() -> None:
    given, ms = _milestone()
    ac = given(Project.add_criterion, milestone_id=ms, text="Client signs off")
    given(Project.reject_criterion, criterion_id=ac, reason="Not signed")
    project = given.project()
    [event] = when(project, Project.reword_criterion, criterion_id=ac, text="Client signs off the prototype")
    assert (event.criterion_id, event.text, event.previous) == (ac, "Client signs off the prototype",
                                                                "Client signs off")
    assert project.criterion(ac).state == "rejected"  # a correction decides nothing


def test_a_verified_criterion_keeps_its_text() -> None:
    given, ms = _milestone()
    ac = given(Project.add_criterion, milestone_id=ms, text="Client signs off")
    given(Project.verify_criterion, criterion_id=ac, evidence="Signed PDF")
    error = refused(given.project(), Project.reword_criterion, "invalid_state", criterion_id=ac, text="Other")
    assert facts(error) == {"criterion_id": ac, "state": "verified"}


def test_reword_refuses_bad_text_and_a_completed_milestone() -> None:
    given, ms = _milestone()
    ac = given(Project.add_criterion, milestone_id=ms, text="Client signs off")
    project = given.project()
    invalid(project, Project.reword_criterion, "text", criterion_id=ac, text="x" * 501)
    invalid(project, Project.reword_criterion, "text", conflicting=True, criterion_id=ac, text="Client signs off")
    given(Project.waive_criterion, criterion_id=ac, reason="agreed")
    given(Project.complete_milestone, milestone_id=ms)
    refused(given.project(), Project.reword_criterion, "invalid_state", criterion_id=ac, text="Other")


# ------------------------------------------------------------------ reducers


def test_every_view_that_shows_a_corrected_text_shows_the_correction() -> None:
    given = Given(name="Mall app")
    [item] = given.scope(("Checkout", "core"))
    ms = given(Project.plan_milestone, title="Prototype", stage="research", due_on=date(2026, 5, 1),
               deliverables=["Wireframes"])
    ac = given(Project.add_criterion, milestone_id=ms, text="Client signs off")
    given(Project.rename, name="Mall mini-program")
    given(Project.retitle_scope_item, item_id=item, title="Checkout and pay")
    given(Project.retitle_milestone, milestone_id=ms, title="Clickable prototype")
    given(Project.revise_deliverables, milestone_id=ms, deliverables=["Wireframes", "Copy deck"])
    given(Project.reword_criterion, criterion_id=ac, text="Client signs off the prototype")
    state = fold(given.events)
    state.h.next_milestone = next_milestone_in_memory(state)
    summary = views.summary_view(state)
    assert summary.name == "Mall mini-program"
    assert [i.title for i in summary.scope] == ["Checkout and pay"]
    [milestone] = state.rows.of("milestone")
    assert (milestone.title, milestone.deliverables) == ("Clickable prototype", ["Wireframes", "Copy deck"])
    [criterion] = state.rows.of("criterion")
    assert criterion.text == "Client signs off the prototype"
    assert state.h.next_milestone is not None and state.h.next_milestone.title == "Clickable prototype"
    assert views.portfolio_columns(state)["name"] == "Mall mini-program"
