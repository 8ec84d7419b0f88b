"""Scope items in their tiers, and the baseline that freezes when the project leaves solution."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from delivery.project import Project
from delivery.scope import BaselineItem
from delivery.stages import Stage
from tests.unit.domain_helpers import Given, facts, invalid, names, refused, when


@pytest.mark.parametrize("tier", ["core", "touchpoint", "value_added"])
def test_add_a_scope_item_in_each_tier(tier: str) -> None:
    project = Given().project()
    [event] = when(project, Project.add_scope_item, title=" Checkout ", tier=tier, actor="lead")
    assert isinstance(event, Project.ScopeItemAdded)
    assert (event.item_id, event.title, event.tier, event.actor) == ("S1", "Checkout", tier, "lead")
    item = project.scope_item("S1")
    assert (item.title, item.tier, item.status, item.change_request_id) == ("Checkout", tier, "open", None)


@pytest.mark.parametrize("tier", ["Core", "premium", "", None, 1])
def test_an_unknown_tier_is_bad_input(tier: object) -> None:
    error = invalid(Given().project(), Project.add_scope_item, "tier", title="Checkout", tier=tier)
    assert "core, touchpoint, value_added" in error.details["rule"]


def test_scope_item_ids_stay_unique_after_a_removal() -> None:
    given = Given()
    first, second = given.scope(("Login", "core"), ("Share", "touchpoint"))
    given(Project.remove_scope_item, item_id=first)
    [third] = given.scope(("Points", "value_added"))
    assert len({first, second, third}) == 3


def test_a_title_already_in_scope_is_refused_whatever_its_case() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    error = refused(given.project(), Project.add_scope_item, "duplicate", title="  LOGIN ", tier="touchpoint")
    assert facts(error) == {"item_id": login, "field": "title"}


def test_a_removed_items_title_can_be_used_again() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    given(Project.remove_scope_item, item_id=login)
    project = given.project()
    when(project, Project.add_scope_item, title="Login", tier="core")
    assert [i.title for i in project.scope.values() if i.active] == ["Login"]


def test_remove_a_scope_item_keeps_it_as_removed() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    project = given.project()
    [event] = when(project, Project.remove_scope_item, item_id=login)
    assert isinstance(event, Project.ScopeItemRemoved) and event.item_id == login
    assert project.scope_item(login).status == "removed" and not project.scope_item(login).active


def test_removing_twice_is_refused() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    given(Project.remove_scope_item, item_id=login)
    refused(given.project(), Project.remove_scope_item, "invalid_state", item_id=login)


def test_removing_an_unknown_item_is_not_found() -> None:
    error = refused(Given().project(), Project.remove_scope_item, "not_found", item_id="S9")
    assert facts(error) == {"kind": "scope item", "id": "S9"}


def test_scope_changes_freely_in_solution() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    given.walk_to("solution")
    project = given.project()
    when(project, Project.add_scope_item, title="Share", tier="touchpoint")
    when(project, Project.remove_scope_item, item_id=login)
    assert [(i.title, i.active) for i in project.scope.values()] == [("Login", False), ("Share", True)]


def test_leaving_solution_freezes_the_baseline_of_active_items() -> None:
    given = Given()
    login, _share, points = given.scope(("Login", "core"), ("Share", "touchpoint"), ("Points", "value_added"))
    given(Project.remove_scope_item, item_id=_share)
    given.walk_to("solution")
    project = given.waive_plan().project()
    assert not project.baseline_frozen
    events = when(project, Project.transition, to_stage="planning", actor="lead")
    assert names(events) == ["BaselineFrozen", "StageAdvanced"]
    assert events[0].items == [
        {"id": login, "title": "Login", "tier": "core"},
        {"id": points, "title": "Points", "tier": "value_added"},
    ]
    assert events[0].actor == "lead"
    assert project.baseline == [BaselineItem(login, "Login", "core"), BaselineItem(points, "Points", "value_added")]


def test_leaving_research_does_not_freeze_the_baseline() -> None:
    project = Given().waive_plan().project()
    assert names(when(project, Project.transition, to_stage="solution")) == ["StageAdvanced"]
    assert project.baseline is None


def _frozen() -> tuple[Given, str]:
    given = Given()
    [login] = given.scope(("Login", "core"))
    given.walk_to("planning")
    return given, login


def test_after_the_baseline_freezes_adding_an_item_directly_is_refused() -> None:
    given, _ = _frozen()
    error = refused(given.project(), Project.add_scope_item, "scope_frozen", title="Coupons", tier="value_added")
    assert "change request" in error.message
    assert facts(error) == {"stage": "planning"}


def test_after_the_baseline_freezes_removing_an_item_directly_is_refused() -> None:
    given, login = _frozen()
    refused(given.project(), Project.remove_scope_item, "scope_frozen", item_id=login)


def test_moving_back_to_solution_neither_unfreezes_nor_refreezes_the_baseline() -> None:
    given, login = _frozen()
    given(Project.transition, to_stage="research", reason="new business model")
    project = given.project()
    baseline = list(project.baseline or [])
    assert project.stage is Stage.RESEARCH
    refused(project, Project.add_scope_item, "scope_frozen", title="Coupons", tier="value_added")
    refused(project, Project.remove_scope_item, "scope_frozen", item_id=login)
    when(project, Project.transition, to_stage="solution")
    assert names(when(project, Project.transition, to_stage="planning")) == ["StageAdvanced"]
    assert project.baseline == baseline


def test_delivering_an_item_marks_it_built_even_after_the_freeze() -> None:
    given, login = _frozen()
    project = given.project()
    [event] = when(project, Project.deliver_scope_item, item_id=login)
    assert isinstance(event, Project.ScopeItemDelivered)
    assert project.scope_item(login).status == "delivered" and project.scope_item(login).active
    error = refused(project, Project.deliver_scope_item, "invalid_state", item_id=login)
    assert facts(error) == {"item_id": login, "status": "delivered"}


def test_a_removed_item_cannot_be_delivered() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    given(Project.remove_scope_item, item_id=login)
    refused(given.project(), Project.deliver_scope_item, "invalid_state", item_id=login)


def test_delivering_an_item_after_the_launch_completed_is_refused() -> None:
    given = Given()
    [login] = given.scope(("Login", "core"))
    given.walk_to("trial")
    release = given.ramping_release(steps=(100,), health=False)
    given(Project.complete_release, release_id=release)
    given.walk_to("launch")
    given.waive_plan()
    given(Project.complete_launch)
    refused(given.project(), Project.deliver_scope_item, "project_closed", item_id=login)


@given(steps=st.lists(st.tuples(st.sampled_from(["add", "remove"]),
                                st.sampled_from(["Login", "login", "Share", "Pay"])), max_size=25),
       reload_at=st.integers(0, 25))
def test_the_title_check_agrees_with_the_scope_after_any_adds_removes_and_reloads(
    steps: list[tuple[str, str]], reload_at: int,
) -> None:
    """The folded-title index (kept by events, rebuilt on load) refuses exactly what a scan of the scope would."""
    import copy

    from delivery.errors import Duplicate

    project = Given().project()
    for n, (action, title) in enumerate(steps):
        if n == reload_at:  # as if loaded afresh: the index is built again from the scope
            project = copy.deepcopy(project)
        active = {i.title.casefold(): i.id for i in project.scope.values() if i.active}
        if action == "add":
            try:
                project.add_scope_item(title=title, tier="core", actor="lead")
                assert title.casefold() not in active
            except Duplicate as error:
                assert error.details["item_id"] == active[title.casefold()]
        elif title.casefold() in active:
            project.remove_scope_item(item_id=active[title.casefold()], actor="lead")
