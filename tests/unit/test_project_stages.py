"""Creating a project, moving it through the eight stages, the stage gate and the launch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from delivery import clock
from delivery.errors import GateNotMet
from delivery.project import Project
from delivery.stages import STAGES, Stage
from tests.unit.domain_helpers import D0, PM, T0, Given, facts, invalid, names, refused, replay, state, when

# ------------------------------------------------------------------- create


def test_create_records_name_client_description_and_who_in_research() -> None:
    moment = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    with clock.frozen_at(moment):
        project = Project.create(name="  CRM rollout ", client="Acme", description="sales CRM", actor="lead")
    [created] = project.collect_events()
    assert isinstance(created, Project.Created)
    assert (created.name, created.client, created.description, created.actor) == (
        "CRM rollout", "Acme", "sales CRM", "lead"
    )
    assert created.timestamp == moment and project.created_on == moment
    assert created.originator_id == project.id and created.originator_version == 1
    assert project.stage is Stage.RESEARCH
    assert (project.name, project.client, project.created_by) == ("CRM rollout", "Acme", "lead")
    assert project.scope == {} and project.baseline is None and not project.launched


def test_each_project_gets_its_own_id_that_never_changes() -> None:
    given = Given()
    given.scope(("Login", "core"))
    given.walk_to("solution")
    other = Given()
    assert given.id != other.id
    assert {e.originator_id for e in given.events} == {given.id}
    assert given.project().id == given.id
    assert [e.originator_version for e in given.events] == list(range(1, len(given.events) + 1))


def test_a_project_records_its_events_in_time_order_even_when_the_clock_steps_back() -> None:
    project = Given().waive_plan().project()
    late = datetime(2026, 4, 2, 15, 30, tzinfo=UTC)
    [first] = when(project, Project.transition, to_stage="solution", reason="signed", actor="lead", at=late)
    [second] = when(project, Project.add_scope_item, title="Login", tier="core", actor="lead",
                    at=late - timedelta(hours=3))
    assert first.timestamp == late and second.timestamp == late
    [third] = when(project, Project.add_scope_item, title="Search", tier="core", actor="lead",
                   at=late + timedelta(minutes=1))
    assert third.timestamp == late + timedelta(minutes=1)


def test_description_is_optional() -> None:
    project = Project.create(name="Site", client="Acme", actor=PM)
    assert project.description == ""


# ------------------------------------------------------------------- advance


def test_advance_moves_to_the_next_stage_and_records_who_and_when() -> None:
    project = Given().waive_plan().project()
    moment = datetime(2026, 4, 2, 15, 30, tzinfo=UTC)
    [event] = when(project, Project.transition, to_stage="solution", reason="client signed", actor="lead", at=moment)
    assert isinstance(event, Project.StageAdvanced)
    assert (event.from_stage, event.to_stage, event.reason, event.actor) == ("research", "solution",
                                                                             "client signed", "lead")
    assert event.timestamp == moment
    assert project.stage is Stage.SOLUTION and project.modified_on == moment


def test_a_stage_with_no_plan_is_not_left_silently() -> None:
    project = Given().project()
    error = refused(project, Project.transition, "gate_not_met", to_stage="solution")
    assert error.details["unmet"] == [{
        "kind": "no_plan", "stage": "research",
        "message": "no plan for this stage: plan a milestone for it, or record a skip with a reason",
        "message_code": "gate_no_plan", "params": {},
    }]
    assert "no plan for this stage" in error.message


def test_a_project_with_no_milestones_walks_all_eight_stages_only_by_waiving_each_plan_with_a_reason() -> None:
    project = Given().project()
    for stage in STAGES[1:]:
        assert project.stage.next is stage
        waived = when(project, Project.waive_stage_plan, stage=project.stage.value, reason="a small change")
        assert names(waived) == ["StagePlanWaived"]
        assert (waived[0].stage, waived[0].reason) == (project.stage.value, "a small change")
        events = when(project, Project.transition, to_stage=stage.value)
        assert names(events)[-1] == "StageAdvanced"
        assert project.stage is stage
    # created, seven waivers, seven moves, and the baseline froze on leaving solution
    assert project.version == 1 + 7 + 7 + 1
    assert set(project.waived_plans) == {s.value for s in STAGES[:-1]}


def test_a_later_stages_plan_can_be_waived_ahead_and_then_it_passes() -> None:
    given = Given()
    given(Project.waive_stage_plan, stage="solution", reason="the solution was agreed in the tender")
    given.walk_to("solution")
    assert given.project().gate(Stage.SOLUTION) == []


def test_a_waivers_reason_may_run_over_several_lines_like_every_reason() -> None:
    project = Given().project()
    waived = when(project, Project.waive_stage_plan, stage="research", reason="Known already.\r\nSee the tender.")
    assert waived[0].reason == "Known already.\nSee the tender."


def test_waiving_a_plan_needs_a_reason_and_a_stage_without_milestones_not_behind() -> None:
    given = Given()
    given(Project.plan_milestone, title="Interviews", stage="research", due_on=D0)
    project = given.project()
    invalid(project, Project.waive_stage_plan, "reason", stage="solution", reason="  ")
    invalid(project, Project.waive_stage_plan, "stage", stage="qa", reason="why not")
    refused(project, Project.waive_stage_plan, "invalid_state", stage="research", reason="no time")
    given.walk_to("solution")
    refused(given.project(), Project.waive_stage_plan, "wrong_stage", stage="research", reason="late")
    given(Project.waive_stage_plan, stage="planning", reason="planned with the solution")
    refused(given.project(), Project.waive_stage_plan, "invalid_state", stage="planning", reason="again")


def test_stage_ids_are_read_case_insensitively() -> None:
    project = Given().waive_plan().project()
    when(project, Project.transition, to_stage=" Solution ")
    assert project.stage is Stage.SOLUTION


@pytest.mark.parametrize("target", ["planning", "development", "launch"])
def test_a_skip_is_refused_naming_the_next_stage(target: str) -> None:
    project = Given().project()
    error = refused(project, Project.transition, "stage_skip", to_stage=target)
    assert facts(error) == {"from": "research", "to": target, "next": "solution"}
    assert "solution" in error.message


def test_a_skip_is_refused_even_when_the_gate_holds_and_a_reason_is_given() -> None:
    given = Given()
    given.walk_to("development")
    refused(given.project(), Project.transition, "stage_skip", to_stage="uat", reason="in a hurry")


def test_moving_to_the_current_stage_is_refused() -> None:
    given = Given()
    given.walk_to("uat")
    error = refused(given.project(), Project.transition, "same_stage", to_stage="uat", reason="again")
    assert facts(error) == {"stage": "uat"}


def test_an_unknown_stage_is_bad_input_naming_to_stage() -> None:
    error = refused(Given().project(), Project.transition, "invalid_input", to_stage="qa")
    assert error.details["field"] == "to_stage"


# ---------------------------------------------------------------- move back


def test_moving_back_to_an_earlier_stage_needs_a_reason_and_records_it() -> None:
    given = Given()
    given.walk_to("uat")
    project = given.project()
    [event] = when(project, Project.transition, to_stage="development", reason="UAT found defects",
                   actor="lead")
    assert isinstance(event, Project.StageReturned)
    assert (event.from_stage, event.to_stage, event.reason, event.actor) == (
        "uat", "development", "UAT found defects", "lead"
    )
    assert project.stage is Stage.DEVELOPMENT


def test_moving_back_may_go_several_stages_at_once() -> None:
    given = Given()
    given.walk_to("trial")
    project = given.project()
    when(project, Project.transition, to_stage="research", reason="the client changed the business model")
    assert project.stage is Stage.RESEARCH


@pytest.mark.parametrize("reason", ["", "   "])
def test_moving_back_without_a_reason_is_refused(reason: str) -> None:
    given = Given()
    given.walk_to("uat")
    error = refused(given.project(), Project.transition, "conflicting_input", to_stage="development", reason=reason)
    assert error.details["field"] == "reason"


def test_moving_back_ignores_the_gate_of_the_stage_being_left() -> None:
    given = Given()
    given.walk_to("uat")
    given(Project.plan_milestone, title="UAT sign-off", stage="uat", due_on=D0)
    project = given.project()
    assert project.gate(Stage.UAT)
    when(project, Project.transition, to_stage="development", reason="defects")
    assert project.stage is Stage.DEVELOPMENT


# -------------------------------------------------------------------- gate


def test_the_gate_refuses_naming_exactly_the_open_milestones_and_criteria() -> None:
    given = Given()
    done = given(Project.plan_milestone, title="Kick-off", stage="research", due_on=D0)
    open_ms = given(Project.plan_milestone, title="Interviews", stage="research", due_on=D0)
    given(Project.plan_milestone, title="Prototype", stage="solution", due_on=D0)  # a later stage: not in the gate
    verified = given(Project.add_criterion, milestone_id=open_ms, text="Notes shared")
    waived = given(Project.add_criterion, milestone_id=open_ms, text="Survey sent")
    still_open = given(Project.add_criterion, milestone_id=open_ms, text="Client signs the notes")
    rejected = given(Project.add_criterion, milestone_id=open_ms, text="Funnel agreed")
    given(Project.complete_milestone, milestone_id=done)
    given(Project.verify_criterion, criterion_id=verified, evidence="notes.pdf")
    given(Project.waive_criterion, criterion_id=waived, reason="client declined the survey")
    given(Project.reject_criterion, criterion_id=rejected, reason="numbers missing")

    error = refused(given.project(), Project.transition, "gate_not_met", to_stage="solution")

    assert isinstance(error, GateNotMet)
    assert error.details["stage"] == "research"
    unmet = error.details["unmet"]
    assert [(u["kind"], u.get("milestone_id"), u.get("criterion_id"), u.get("state")) for u in unmet] == [
        ("milestone_open", open_ms, None, None),
        ("criterion_open", open_ms, still_open, "open"),
        ("criterion_open", open_ms, rejected, "rejected"),
    ]
    assert error.unmet == unmet
    for item in unmet:
        assert item["message"] in error.message


def test_the_gate_holds_once_milestones_are_done_and_criteria_verified_or_waived() -> None:
    given = Given()
    ms = given(Project.plan_milestone, title="Interviews", stage="research", due_on=D0)
    plain = given(Project.add_criterion, milestone_id=ms, text="Notes shared")
    measured = given(Project.add_criterion, milestone_id=ms, text="Conversion",
                     metric={"name": "conversion", "comparator": ">=", "threshold": 3, "unit": "%"})
    given(Project.verify_criterion, criterion_id=plain, evidence="notes.pdf")
    given(Project.waive_criterion, criterion_id=measured, reason="no data yet")
    given(Project.complete_milestone, milestone_id=ms)
    project = given.project()
    assert project.gate(Stage.RESEARCH) == []
    events = when(project, Project.transition, to_stage="solution")
    assert names(events) == ["StageAdvanced"]


def test_only_the_current_stages_gate_counts() -> None:
    given = Given()
    given(Project.plan_milestone, title="Go-live checklist", stage="launch", due_on=D0)
    project = given.waive_plan().project()
    when(project, Project.transition, to_stage="solution")
    assert project.stage is Stage.SOLUTION


def test_a_gate_blocks_again_after_returning_to_a_stage_with_new_work() -> None:
    given = Given()
    given.walk_to("development")
    given(Project.transition, to_stage="solution", reason="client changed the flow")
    ms = given(Project.plan_milestone, title="Prototype v2", stage="solution", due_on=D0)
    error = refused(given.project(), Project.transition, "gate_not_met", to_stage="planning")
    assert [u["milestone_id"] for u in error.details["unmet"]] == [ms]


# ------------------------------------------------------------------ launch


def _in_launch_with(completed_release: bool) -> Given:
    given = Given()
    given.walk_to("trial")
    release = given.ramping_release(steps=(100,), health=False)
    if completed_release:
        given(Project.complete_release, release_id=release)
    given.walk_to("launch")
    return given


def test_completing_the_launch_needs_a_completed_release() -> None:
    error = refused(_in_launch_with(completed_release=False).waive_plan().project(), Project.complete_launch,
                    "gate_not_met")
    assert [u["kind"] for u in error.details["unmet"]] == ["release_not_completed"]
    assert error.details["stage"] == "launch"


def test_completing_the_launch_also_needs_the_launch_milestones() -> None:
    given = _in_launch_with(completed_release=True)
    ms = given(Project.plan_milestone, title="Hand-over", stage="launch", due_on=D0)
    error = refused(given.project(), Project.complete_launch, "gate_not_met")
    assert [(u["kind"], u["milestone_id"]) for u in error.details["unmet"]] == [("milestone_open", ms)]


def test_completing_the_launch_closes_the_delivery_record() -> None:
    project = _in_launch_with(completed_release=True).waive_plan().project()
    [event] = when(project, Project.complete_launch, actor="lead")
    assert isinstance(event, Project.LaunchCompleted) and event.actor == "lead"
    assert project.launched
    refused(project, Project.transition, "project_closed", to_stage="trial", reason="oops")
    refused(project, Project.plan_milestone, "project_closed", title="More", stage="launch", due_on=D0)
    refused(project, Project.complete_launch, "project_closed")


def test_completing_the_launch_before_launch_is_refused() -> None:
    given = Given()
    given.walk_to("trial")
    error = refused(given.project(), Project.complete_launch, "wrong_stage")
    assert facts(error) == {"stage": "trial"}


# ------------------------------------------------------ every event: who and when


def test_every_event_records_the_actor_and_the_time_it_was_recorded() -> None:
    given = Given()
    given.scope(("Login", "core"), ("Share", "touchpoint"))
    ms = given(Project.plan_milestone, title="Interviews", stage="research", due_on=D0)
    given(Project.add_criterion, milestone_id=ms, text="Notes")
    given.walk_to("trial")
    release = given.ramping_release()
    given(Project.record_observation, release_id=release, metrics={"error_rate": 0.1})
    given(Project.pause_release, release_id=release, reason="holiday")
    assert len({type(e) for e in given.events}) >= 12
    assert given.recorded_at[0] == T0 and given.recorded_at[-1] > T0 + timedelta(hours=10)
    for event, moment in zip(given.events, given.recorded_at, strict=True):
        assert event.actor == PM, type(event).__name__
        assert event.timestamp == moment, type(event).__name__


def test_replaying_the_events_rebuilds_the_same_project() -> None:
    given = Given()
    given.scope(("Login", "core"))
    given.walk_to("uat")
    project = given.project()
    new = when(project, Project.transition, to_stage="development", reason="defects")
    assert state(replay([*given.events, *new])) == state(project)
