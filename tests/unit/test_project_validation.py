"""Bad input names its field; every domain error has a stable code and a sentence to act on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from delivery import errors
from delivery.errors import DeliveryError, InvalidInput, NotFound
from delivery.project import Project
from tests.unit.domain_helpers import D0, MEASURABLE, Given, facts, invalid, refused, when

# ------------------------------------------------------------------ create


@pytest.mark.parametrize(("kwargs", "field", "rule"), [
    ({"name": ""}, "name", "must not be empty"),
    ({"name": "   "}, "name", "must not be empty"),
    ({"name": "x" * 201}, "name", "must be at most 200 characters"),
    ({"name": None}, "name", "must be a string"),
    ({"name": 42}, "name", "must be a string"),
    ({"name": True}, "name", "must be a string"),
    ({"client": ""}, "client", "must not be empty"),
    ({"client": "x" * 121}, "client", "must be at most 120 characters"),
    ({"client": ["Acme"]}, "client", "must be a string"),
    ({"description": "x" * 2001}, "description", "must be at most 2000 characters"),
    ({"description": 3}, "description", "must be a string"),
    ({"actor": ""}, "actor", "must not be empty"),
    ({"actor": None}, "actor", "must be a string"),
    # What no store can keep (PostgreSQL refuses NUL in text) or no calendar can show.
    ({"name": "Mall\u0000app"}, "name", "must not contain control characters or lone surrogates (found U+0000)"),
    ({"client": "Acme\u0001"}, "client", "must not contain control characters or lone surrogates (found U+0001)"),
    ({"description": "a\u007fb"}, "description",
     "must not contain control characters or lone surrogates (found U+007F)"),
    ({"name": "x\ud800"}, "name", "must not contain control characters or lone surrogates (found U+D800)"),
])
def test_create_refuses_bad_input_naming_the_field(kwargs: dict[str, Any], field: str, rule: str) -> None:
    args: dict[str, Any] = {"name": "Mini-program", "client": "Acme", "description": "", "actor": "pm"}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as caught:
        Project.create(**args)
    assert (caught.value.code, caught.value.field, caught.value.rule) == ("invalid_input", field, rule)
    assert facts(caught.value) == {"field": field, "rule": rule}
    assert str(caught.value) == f"{field}: {rule}."


def test_limits_are_inclusive_and_surrounding_blanks_do_not_count() -> None:
    project = Project.create(name=" " + "n" * 200 + " ", client="c" * 120, description="d" * 2000, actor="pm")
    assert (len(project.name), len(project.client), len(project.description)) == (200, 120, 2000)


def test_tabs_and_line_breaks_are_ordinary_input() -> None:
    project = Project.create(name="Mall app", client="Acme", description="line one\n\tline two\r\n", actor="pm")
    assert project.description == "line one\n\tline two"


def test_chinese_text_is_ordinary_input() -> None:
    project = Project.create(name="企业官网改版", client="华东某制造企业", actor="项目经理")
    [event] = project.collect_events()
    assert (event.name, event.client, event.actor) == ("企业官网改版", "华东某制造企业", "项目经理")


# ------------------------------------------------------- across the commands


def _in_planning() -> Given:
    given = Given()
    given.scope(("Login", "core"))
    given(Project.plan_milestone, title="Plan", stage="planning", due_on=D0)
    given.walk_to("planning")
    return given


def _with_measurable() -> Given:
    given = Given()
    ms = given(Project.plan_milestone, title="Perf", stage="research", due_on=D0)
    given(Project.add_criterion, milestone_id=ms, text="p95", metric=MEASURABLE)
    return given


def _in_trial_ramping() -> Given:
    given = Given()
    given.walk_to("trial")
    given.ramping_release()
    return given


Case = tuple[Callable[[], Given], Callable[..., Any], dict[str, Any], str]

# (history, command, arguments, the field the refusal must name): empty, blank, too long, wrong type,
# booleans where numbers belong; one row per rule and command family.
BAD_INPUT: dict[str, Case] = {
    "scope title empty": (Given, Project.add_scope_item, {"title": "", "tier": "core"}, "title"),
    "scope title too long": (Given, Project.add_scope_item, {"title": "t" * 201, "tier": "core"}, "title"),
    "scope title not text": (Given, Project.add_scope_item, {"title": 7, "tier": "core"}, "title"),
    "milestone title blank": (Given, Project.plan_milestone, {"title": "  ", "stage": "research", "due_on": D0},
                              "title"),
    "milestone due is a datetime string": (Given, Project.plan_milestone,
                                           {"title": "M", "stage": "research", "due_on": "2026-05-01T10:00"},
                                           "due_on"),
    "criterion text too long": (_in_planning, Project.add_criterion, {"milestone_id": "M1", "text": "c" * 501},
                                "text"),
    "criterion threshold a boolean": (_in_planning, Project.add_criterion,
                                      {"milestone_id": "M1", "text": "c",
                                       "metric": {**MEASURABLE, "threshold": True}}, "metric.threshold"),
    "measured a boolean": (_with_measurable, Project.verify_criterion,
                           {"criterion_id": "AC1", "evidence": "e", "measured": False}, "measured"),
    "reschedule reason too long": (_in_planning, Project.reschedule_milestone,
                                   {"milestone_id": "M1", "due_on": date(2027, 1, 1), "reason": "r" * 2001},
                                   "reason"),
    "transition reason not text": (Given, Project.transition, {"to_stage": "solution", "reason": 5}, "reason"),
    "stage not text": (Given, Project.transition, {"to_stage": 2}, "to_stage"),
    "change title empty": (_in_planning, Project.raise_change_request,
                           {"title": "", "requested_by": "c", "kind": "add", "tier": "core"}, "title"),
    "schedule days a boolean": (_in_planning, Project.raise_change_request,
                                {"title": "t", "requested_by": "c", "kind": "add", "tier": "core",
                                 "schedule_days": True}, "impact.schedule_days"),
    "cost a boolean": (_in_planning, Project.raise_change_request,
                       {"title": "t", "requested_by": "c", "kind": "add", "tier": "core", "cost": True},
                       "impact.cost"),
    "approve reason too long": (_in_planning, Project.approve_change_request,
                                {"change_request_id": "CR1", "reason": "r" * 2001}, "reason"),
    "release version too long": (_in_trial_ramping, Project.plan_release, {"version": "v" * 51, "steps": [100]},
                                 "version"),
    "release step a boolean": (_in_trial_ramping, Project.plan_release, {"version": "2", "steps": [True, 100]},
                               "steps[0]"),
    "observation value a boolean": (_in_trial_ramping, Project.record_observation,
                                    {"release_id": "R1", "metrics": {"error_rate": True}}, "metrics.error_rate"),
    "pause reason blank": (_in_trial_ramping, Project.pause_release, {"release_id": "R1", "reason": " "}, "reason"),
    "rollback reason not text": (_in_trial_ramping, Project.roll_back_release, {"release_id": "R1", "reason": 1},
                                 "reason"),
}


@pytest.mark.parametrize("case", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_refused_naming_the_field_and_recording_nothing(case: Case) -> None:
    history, command, kwargs, field = case
    given = history()
    if command is Project.approve_change_request:
        given(Project.raise_change_request, title="Coupons", requested_by="client", kind="add", tier="core")
    invalid(given.project(), command, field, **kwargs)


Unknown = tuple[Callable[..., Any], dict[str, Any], str]

UNKNOWN_IDS: dict[str, Unknown] = {
    "scope item": (Project.deliver_scope_item, {"item_id": "S404"}, "scope item"),
    "milestone": (Project.complete_milestone, {"milestone_id": "M404"}, "milestone"),
    "milestone of a criterion": (Project.add_criterion, {"milestone_id": "M404", "text": "c"}, "milestone"),
    "criterion": (Project.waive_criterion, {"criterion_id": "AC404", "reason": "r"}, "acceptance criterion"),
    "change request": (Project.withdraw_change_request, {"change_request_id": "CR404"}, "change request"),
    "release": (Project.pause_release, {"release_id": "R404", "reason": "r"}, "release"),
    "id of a wrong type": (Project.complete_milestone, {"milestone_id": {"id": "M1"}}, "milestone"),
}


@pytest.mark.parametrize("case", UNKNOWN_IDS.values(), ids=UNKNOWN_IDS.keys())
def test_an_unknown_id_is_not_found_naming_the_kind_and_id(case: Unknown) -> None:
    command, kwargs, kind = case
    given = _in_planning()
    ident = next(v for k, v in kwargs.items() if k.endswith("_id"))
    error = refused(given.project(), command, "not_found", **kwargs)
    assert isinstance(error, NotFound)
    assert facts(error) == {"kind": kind, "id": str(ident)}
    assert error.message == f"No {kind} with id {ident!s}."


def test_text_input_is_stored_without_surrounding_blanks() -> None:
    project = Given().project()
    events = when(project, Project.plan_milestone, title="  Kick-off\u3000", stage="research", due_on=D0,
                  deliverables=["  agenda  "])
    assert (events[0].title, events[0].deliverables) == ("Kick-off", ["agenda"])


@pytest.mark.parametrize("title", ["\tKick-off", "Kick-off\n", "Kick\r\noff", "Kick\u0085off", "Kick\u009b2Joff"])
def test_single_line_text_refuses_tabs_line_breaks_and_c1_controls(title: str) -> None:
    project = Given().project()
    with pytest.raises(InvalidInput) as caught:
        project.plan_milestone(title=title, stage="research", due_on=D0, actor="pm")
    assert caught.value.field == "title"
    assert caught.value.rule.startswith("must not contain control characters")


def test_multi_line_text_keeps_tabs_and_line_breaks_as_lf() -> None:
    project = Given().project()
    when(project, Project.plan_milestone, title="Kick-off", stage="research", due_on=D0)
    events = when(project, Project.reschedule_milestone, milestone_id="M1", due_on=date(2030, 1, 1),
                  reason="Client asked:\r\n\tmove it\rplease")
    assert events[0].reason == "Client asked:\n\tmove it\nplease"
    with pytest.raises(InvalidInput):
        project.reschedule_milestone(milestone_id="M1", due_on=date(2030, 2, 1), reason="a\u001b[2Jb", actor="pm")


@pytest.mark.parametrize(("day", "ok"), [
    (date(1970, 1, 1), True), (date(2199, 12, 31), True), ("2026-02-28", True),
    (date(1969, 12, 31), False), (date(2200, 1, 1), False), (date(1, 1, 1), False), ("9999-12-31", False),
])
def test_dates_are_bounded_to_1970_through_2199(day: date | str, ok: bool) -> None:
    project = Given().project()
    if ok:
        when(project, Project.plan_milestone, title="Kick-off", stage="research", due_on=day)
        return
    with pytest.raises(InvalidInput) as caught:
        project.plan_milestone(title="Kick-off", stage="research", due_on=day, actor="pm")
    assert (caught.value.field, caught.value.rule) == ("due_on", "must be between 1970-01-01 and 2199-12-31")


# ------------------------------------------------------------------- errors

CODES = {
    "DeliveryError": "delivery_error", "InvalidInput": "invalid_input", "NotFound": "not_found",
    "ConflictingInput": "conflicting_input", "KeyReused": "idempotency_key_reused", "UnknownCursor": "not_found",
    "RuleViolation": "rule_violation", "InvalidState": "invalid_state", "GateNotMet": "gate_not_met",
    "StageSkip": "stage_skip", "SameStage": "same_stage", "WrongStage": "wrong_stage",
    "ScopeFrozen": "scope_frozen", "BaselineNotFrozen": "baseline_not_frozen",
    "ThresholdNotMet": "threshold_not_met", "ReleaseUnhealthy": "release_unhealthy",
    "ReleaseInProgress": "release_in_progress", "VersionConflict": "version_conflict",
    "VersionMismatch": "version_mismatch", "Duplicate": "duplicate", "CriteriaOpen": "criteria_open",
    "ProjectClosed": "project_closed", "ClientSignOffRequired": "client_signoff_required",
    "NotASignOff": "signoff_not_required",
}


def test_every_error_class_keeps_its_stable_code() -> None:
    found = {
        name: cls.code for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, DeliveryError)
    }
    assert found == CODES


def test_rule_violations_and_bad_input_are_told_apart() -> None:
    assert issubclass(errors.GateNotMet, errors.RuleViolation)
    assert issubclass(errors.ScopeFrozen, errors.RuleViolation)
    assert not issubclass(errors.InvalidInput, errors.RuleViolation)
    assert not issubclass(errors.NotFound, errors.RuleViolation)


def test_version_mismatch_says_what_to_do() -> None:
    error = errors.VersionMismatch(3, 5)
    assert facts(error) == {"expected": 3, "actual": 5}
    assert "reload it and try again" in error.message
