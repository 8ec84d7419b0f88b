"""Change requests: the only way scope moves once the baseline is frozen."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from delivery.project import Project
from tests.unit.domain_helpers import Given, facts, invalid, refused, when


def _frozen(stage: str = "planning") -> tuple[Given, dict[str, str]]:
    """Login (core), Share (touchpoint) and Points (value_added) in the baseline, project in `stage`."""
    given = Given()
    login, share, points = given.scope(("Login", "core"), ("Share", "touchpoint"), ("Points", "value_added"))
    given.walk_to(stage)
    return given, {"login": login, "share": share, "points": points}


def _raise(given: Given, **overrides: Any) -> str:
    kwargs: dict[str, Any] = {"title": "Coupons", "requested_by": "client", "kind": "add", "tier": "value_added",
                              "schedule_days": 3, "cost": 1000}
    kwargs.update(overrides)
    change_id: str = given(Project.raise_change_request, **kwargs)
    return change_id


def _scope(project: Project) -> dict[str, tuple[str, str, bool]]:
    return {i.id: (i.title, i.tier, i.active) for i in project.scope.values()}


# --------------------------------------------------------------------- raise


def test_raise_records_title_who_asked_kind_tier_item_and_impact() -> None:
    given, ids = _frozen("development")
    project = given.project()
    [event] = when(project, Project.raise_change_request, title=" Share to Moments ", requested_by="client PM",
                   kind="modify", tier="core", scope_item_id=ids["share"], schedule_days=5, cost="2500.50",
                   actor="lead")
    assert isinstance(event, Project.ChangeRequestRaised)
    assert (event.change_request_id, event.title, event.requested_by, event.kind, event.tier, event.scope_item_id,
            event.schedule_days, event.cost, event.stage, event.actor) == (
        "CR1", "Share to Moments", "client PM", "modify", "core", ids["share"], 5, Decimal("2500.50"),
        "development", "lead",
    )
    cr = project.change_request("CR1")
    assert (cr.status, cr.raised_in_stage, cr.pending) == ("raised", "development", True)


def test_raising_does_not_change_the_scope() -> None:
    given, ids = _frozen()
    project = given.project()
    before = _scope(project)
    when(project, Project.raise_change_request, title="Drop points", requested_by="client", kind="remove",
         tier="value_added", scope_item_id=ids["points"])
    assert _scope(project) == before


@pytest.mark.parametrize("stage", ["research", "solution"])
def test_before_the_baseline_freezes_change_requests_are_refused(stage: str) -> None:
    given = Given()
    given.walk_to(stage)
    error = refused(given.project(), Project.raise_change_request, "baseline_not_frozen", title="Coupons",
                    requested_by="client", kind="add", tier="value_added")
    assert "scope items directly" in error.message


def test_an_add_names_no_existing_item() -> None:
    given, ids = _frozen()
    invalid(given.project(), Project.raise_change_request, "scope_item_id", conflicting=True, title="Coupons",
            requested_by="client", kind="add", tier="value_added", scope_item_id=ids["login"])


@pytest.mark.parametrize("kind", ["modify", "remove"])
def test_a_modify_or_remove_needs_the_item(kind: str) -> None:
    given, _ = _frozen()
    project = given.project()
    invalid(project, Project.raise_change_request, "scope_item_id", conflicting=True, title="x", requested_by="client",
            kind=kind, tier="core")
    refused(project, Project.raise_change_request, "not_found", title="x", requested_by="client", kind=kind,
            tier="core", scope_item_id="S99")


def test_a_change_to_a_removed_item_is_refused() -> None:
    given, ids = _frozen()
    cr = _raise(given, title="Drop share", kind="remove", tier="touchpoint", scope_item_id=ids["share"])
    given(Project.approve_change_request, change_request_id=cr)
    refused(given.project(), Project.raise_change_request, "invalid_state", title="Share v2", requested_by="client",
            kind="modify", tier="core", scope_item_id=ids["share"])


@pytest.mark.parametrize(("overrides", "field"), [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"requested_by": "  "}, "requested_by"),
    ({"requested_by": "x" * 121}, "requested_by"),
    ({"kind": "rename"}, "kind"),
    ({"tier": "gold"}, "tier"),
    ({"schedule_days": 2.5}, "impact.schedule_days"),
    ({"schedule_days": True}, "impact.schedule_days"),
    ({"schedule_days": 3651}, "impact.schedule_days"),
    ({"schedule_days": -366}, "impact.schedule_days"),
    ({"cost": "12.345"}, "impact.cost"),
    ({"cost": "a lot"}, "impact.cost"),
    ({"cost": False}, "impact.cost"),
    ({"cost": None}, "impact.cost"),
    ({"cost": "NaN"}, "impact.cost"),
    ({"cost": 10**12}, "impact.cost"),
])
def test_bad_change_request_input_names_the_field(overrides: dict[str, Any], field: str) -> None:
    given, _ = _frozen()
    kwargs: dict[str, Any] = {"title": "Coupons", "requested_by": "client", "kind": "add", "tier": "value_added",
                              "schedule_days": 3, "cost": 1000}
    kwargs.update(overrides)
    invalid(given.project(), Project.raise_change_request, field, **kwargs)


@pytest.mark.parametrize(("cost", "stored"), [(0, Decimal("0.00")), (0.1, Decimal("0.10")),
                                               ("-250", Decimal("-250.00")), (Decimal("9.99"), Decimal("9.99"))])
def test_cost_is_kept_as_an_exact_amount(cost: object, stored: Decimal) -> None:
    given, _ = _frozen()
    cr = _raise(given, cost=cost)
    assert given.project().change_request(cr).cost == stored


# ------------------------------------------------------------------- approve


def test_an_approved_add_puts_a_new_item_in_scope_tied_to_the_request() -> None:
    given, _ = _frozen()
    cr = _raise(given)
    project = given.project()
    before = _scope(project)
    [event] = when(project, Project.approve_change_request, change_request_id=cr, reason="worth it", actor="lead")
    assert isinstance(event, Project.ChangeRequestApproved)
    assert (event.reason, event.new_item_id, event.actor) == ("worth it", "S4", "lead")
    assert _scope(project) == {**before, "S4": ("Coupons", "value_added", True)}
    assert project.scope_item("S4").change_request_id == cr
    request = project.change_request(cr)
    assert (request.status, request.scope_item_id, request.decision_reason, request.decided_by) == (
        "approved", "S4", "worth it", "lead"
    )


def test_an_approved_remove_takes_the_item_out_of_scope() -> None:
    given, ids = _frozen()
    cr = _raise(given, title="Drop points", kind="remove", tier="value_added", scope_item_id=ids["points"])
    project = given.project()
    before = _scope(project)
    when(project, Project.approve_change_request, change_request_id=cr)
    assert _scope(project) == {**before, ids["points"]: ("Points", "value_added", False)}


def test_an_approved_modify_moves_the_item_to_the_requested_tier() -> None:
    given, ids = _frozen()
    cr = _raise(given, title="Share is core", kind="modify", tier="core", scope_item_id=ids["share"])
    project = given.project()
    before = _scope(project)
    when(project, Project.approve_change_request, change_request_id=cr)
    assert _scope(project) == {**before, ids["share"]: ("Share", "core", True)}


def test_the_baseline_does_not_move_when_a_change_is_approved() -> None:
    given, _ = _frozen()
    baseline = list(given.project().baseline or [])
    cr = _raise(given)
    given(Project.approve_change_request, change_request_id=cr)
    assert given.project().baseline == baseline


def test_approving_an_add_whose_title_is_already_in_scope_is_refused() -> None:
    given, ids = _frozen()
    cr = _raise(given, title="login")
    error = refused(given.project(), Project.approve_change_request, "duplicate", change_request_id=cr)
    assert error.details["item_id"] == ids["login"]


def test_approving_a_change_to_an_item_removed_meanwhile_is_refused() -> None:
    given, ids = _frozen()
    modify = _raise(given, title="Points everywhere", kind="modify", tier="core", scope_item_id=ids["points"])
    remove = _raise(given, title="Drop points", kind="remove", tier="value_added", scope_item_id=ids["points"])
    given(Project.approve_change_request, change_request_id=remove)
    error = refused(given.project(), Project.approve_change_request, "invalid_state", change_request_id=modify)
    assert facts(error) == {"scope_item_id": ids["points"]}


# ------------------------------------------------- reject, withdraw, implement


def test_reject_with_a_reason_leaves_the_scope_alone() -> None:
    given, _ = _frozen()
    cr = _raise(given)
    project = given.project()
    before = _scope(project)
    [event] = when(project, Project.reject_change_request, change_request_id=cr, reason="out of budget")
    assert isinstance(event, Project.ChangeRequestRejected) and event.reason == "out of budget"
    assert project.change_request(cr).status == "rejected"
    assert _scope(project) == before


def test_rejecting_needs_a_reason() -> None:
    given, _ = _frozen()
    cr = _raise(given)
    invalid(given.project(), Project.reject_change_request, "reason", change_request_id=cr, reason=" ")


def test_withdraw_a_raised_request() -> None:
    given, _ = _frozen()
    cr = _raise(given)
    project = given.project()
    [event] = when(project, Project.withdraw_change_request, change_request_id=cr, actor="client")
    assert isinstance(event, Project.ChangeRequestWithdrawn) and event.actor == "client"
    assert project.change_request(cr).status == "withdrawn"
    assert "Coupons" not in [i.title for i in project.scope.values()]


def test_implement_an_approved_request() -> None:
    given, _ = _frozen()
    cr = _raise(given)
    given(Project.approve_change_request, change_request_id=cr)
    project = given.project()
    [event] = when(project, Project.implement_change_request, change_request_id=cr)
    assert isinstance(event, Project.ChangeRequestImplemented)
    assert project.change_request(cr).status == "implemented"
    refused(project, Project.implement_change_request, "invalid_state", change_request_id=cr)


@pytest.mark.parametrize("decided", ["approve", "reject", "withdraw"])
def test_a_decided_request_cannot_be_decided_again(decided: str) -> None:
    given, _ = _frozen()
    cr = _raise(given)
    if decided == "approve":
        given(Project.approve_change_request, change_request_id=cr)
    elif decided == "reject":
        given(Project.reject_change_request, change_request_id=cr, reason="no")
    else:
        given(Project.withdraw_change_request, change_request_id=cr)
    project = given.project()
    refused(project, Project.approve_change_request, "invalid_state", change_request_id=cr)
    refused(project, Project.reject_change_request, "invalid_state", change_request_id=cr, reason="no")
    error = refused(project, Project.withdraw_change_request, "invalid_state", change_request_id=cr)
    assert error.details["change_request_id"] == cr


@pytest.mark.parametrize("status", ["raised", "rejected", "withdrawn"])
def test_only_an_approved_request_can_be_implemented(status: str) -> None:
    given, _ = _frozen()
    cr = _raise(given)
    if status == "rejected":
        given(Project.reject_change_request, change_request_id=cr, reason="no")
    elif status == "withdrawn":
        given(Project.withdraw_change_request, change_request_id=cr)
    error = refused(given.project(), Project.implement_change_request, "invalid_state", change_request_id=cr)
    assert facts(error) == {"change_request_id": cr, "status": status}


def test_an_unknown_change_request_is_not_found() -> None:
    given, _ = _frozen()
    project = given.project()
    for command in (Project.approve_change_request, Project.withdraw_change_request,
                    Project.implement_change_request):
        error = refused(project, command, "not_found", change_request_id="CR7")
        assert facts(error) == {"kind": "change request", "id": "CR7"}
