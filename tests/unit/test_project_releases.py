"""Gradual releases (灰度发布): planned in trial or launch, ramped with health checks, completed at 100%."""

from __future__ import annotations

from typing import Any

import pytest

from delivery.errors import DeliveryError
from delivery.project import Project
from delivery.releases import HealthCheck
from tests.unit.domain_helpers import Given, facts, invalid, names, refused, when

CHECK = {"metric": "error_rate", "comparator": "<=", "threshold": 1.0}


def _in(stage: str = "trial") -> Given:
    given = Given()
    given.walk_to(stage)
    return given


def _ramping(steps: tuple[int, ...] = (5, 50, 100), health: bool = True) -> tuple[Given, str]:
    given = _in()
    return given, given.ramping_release(steps=steps, health=health)


def _observe(given: Given, release: str, error_rate: float) -> None:
    given(Project.record_observation, release_id=release, metrics={"error_rate": error_rate})


# ---------------------------------------------------------------------- plan


@pytest.mark.parametrize("stage", ["trial", "launch"])
def test_plan_a_release_in_trial_or_launch(stage: str) -> None:
    project = _in(stage).project()
    [event] = when(project, Project.plan_release, version=" 1.0 ", steps=[1, 5, 20, 50, 100],
                   health=[{"metric": "error_rate", "comparator": "<=", "threshold": 0.5},
                           {"metric": "conversion", "comparator": ">=", "threshold": 3}], actor="lead")
    assert isinstance(event, Project.ReleasePlanned)
    assert (event.release_id, event.version, event.steps, event.actor) == ("R1", "1.0", [1, 5, 20, 50, 100], "lead")
    r = project.release("R1")
    assert (r.state, r.percent, r.steps) == ("planned", 0, [1, 5, 20, 50, 100])
    assert r.checks == [HealthCheck("error_rate", "<=", 0.5), HealthCheck("conversion", ">=", 3.0)]


@pytest.mark.parametrize("stage", ["research", "development", "uat"])
def test_a_release_before_trial_is_refused(stage: str) -> None:
    error = refused(_in(stage).project(), Project.plan_release, "wrong_stage", version="1.0", steps=[100])
    assert facts(error) == {"stage": stage}


@pytest.mark.parametrize(("steps", "field"), [
    ([], "steps"),
    ("5,50,100", "steps"),
    ([5, 50], "steps"),
    ([5, 5, 100], "steps"),
    ([50, 5, 100], "steps"),
    ([0, 100], "steps[0]"),
    ([5, 101], "steps[1]"),
    ([5.0, 100], "steps[0]"),
    ([True, 100], "steps[0]"),
    ([*range(1, 11), 100], "steps"),
])
def test_a_ramp_must_rise_strictly_to_100(steps: object, field: str) -> None:
    # A ramp of the right shape that does not rise to 100 is refused by the rule of releases (409), not the schema.
    conflicting = field == "steps" and isinstance(steps, list) and 1 <= len(steps) <= 10
    invalid(_in().project(), Project.plan_release, field, conflicting=conflicting, version="1.0", steps=steps)


@pytest.mark.parametrize(("health", "field"), [
    ("error_rate <= 1", "health"),
    ([CHECK] * 11, "health"),
    (["error_rate"], "health[0]"),
    ([CHECK, {"metric": "", "comparator": "<=", "threshold": 1}], "health[1].metric"),
    ([{"metric": "error_rate", "comparator": "~", "threshold": 1}], "health[0].comparator"),
    ([{"metric": "error_rate", "comparator": "<=", "threshold": False}], "health[0].threshold"),
])
def test_malformed_health_checks_are_bad_input(health: object, field: str) -> None:
    invalid(_in().project(), Project.plan_release, field, version="1.0", steps=[100], health=health)


def test_a_version_is_planned_once() -> None:
    given = _in()
    given(Project.plan_release, version="1.0", steps=[100])
    error = refused(given.project(), Project.plan_release, "duplicate", version="1.0", steps=[50, 100])
    assert facts(error) == {"field": "version"}


# ---------------------------------------------------------------- start


def test_start_puts_the_release_at_its_first_step() -> None:
    given = _in()
    release = given(Project.plan_release, version="1.0", steps=[5, 100])
    project = given.project()
    [event] = when(project, Project.start_release, release_id=release)
    assert isinstance(event, Project.ReleaseStarted)
    assert (project.release(release).state, project.release(release).percent) == ("ramping", 5)
    assert project.active_release() is project.release(release)


def test_only_one_release_ramps_at_a_time() -> None:
    given, first = _ramping()
    second = given(Project.plan_release, version="2.0", steps=[100])
    error = refused(given.project(), Project.start_release, "release_in_progress", release_id=second)
    assert facts(error) == {"release_id": first}


def test_starting_a_ramping_release_again_is_refused() -> None:
    given, release = _ramping()
    refused(given.project(), Project.start_release, "invalid_state", release_id=release)


def test_a_planned_release_cannot_start_after_moving_back_before_trial() -> None:
    given = _in()
    release = given(Project.plan_release, version="1.0", steps=[100])
    given(Project.transition, to_stage="uat", reason="defects")
    refused(given.project(), Project.start_release, "wrong_stage", release_id=release)


# -------------------------------------------------------- observe and advance


def test_observations_are_recorded_per_step_with_the_checks_they_fail() -> None:
    given, release = _ramping()
    project = given.project()
    [event] = when(project, Project.record_observation, release_id=release,
                   metrics={"error_rate": 2.5, "conversion": 3.1}, actor="sre")
    assert isinstance(event, Project.ReleaseObserved)
    assert (event.percent, event.ramp, event.metrics, event.actor) == (5, 0, {"error_rate": 2.5,
                                                                             "conversion": 3.1}, "sre")
    assert event.failures == ["error_rate <= 1 (observed 2.5)"]
    assert not project.release(release).observations[-1].healthy


@pytest.mark.parametrize(("metrics", "field"), [
    ({}, "metrics"),
    ("error_rate=1", "metrics"),
    ({"error_rate": True}, "metrics.error_rate"),
    ({"error_rate": "0.1"}, "metrics.error_rate"),
    ({"": 1}, "metrics"),
    ({f"m{i}": 1 for i in range(21)}, "metrics"),
])
def test_malformed_observations_are_bad_input(metrics: Any, field: str) -> None:
    given, release = _ramping()
    invalid(given.project(), Project.record_observation, field, release_id=release, metrics=metrics)


def test_a_planned_release_cannot_be_observed() -> None:
    given = _in()
    release = given(Project.plan_release, version="1.0", steps=[100])
    refused(given.project(), Project.record_observation, "invalid_state", release_id=release,
            metrics={"error_rate": 0})


def test_advance_moves_to_the_next_step_after_a_healthy_observation() -> None:
    given, release = _ramping()
    _observe(given, release, 0.4)
    project = given.project()
    [event] = when(project, Project.advance_release, release_id=release, actor="sre")
    assert isinstance(event, Project.ReleaseAdvanced)
    assert (event.from_percent, event.to_percent, event.actor) == (5, 50, "sre")
    assert project.release(release).percent == 50


def test_advancing_past_a_failing_observation_is_refused() -> None:
    given, release = _ramping()
    _observe(given, release, 0.2)
    _observe(given, release, 3.0)
    error = refused(given.project(), Project.advance_release, "release_unhealthy", release_id=release)
    assert facts(error) == {"release_id": release, "percent": 5, "failures": ["error_rate <= 1 (observed 3)"]}
    assert "roll back" in error.message


def test_a_healthy_observation_after_a_failing_one_lets_the_ramp_go_on() -> None:
    given, release = _ramping()
    _observe(given, release, 3.0)
    _observe(given, release, 0.5)
    project = given.project()
    when(project, Project.advance_release, release_id=release)
    assert project.release(release).percent == 50


def test_with_health_checks_each_step_needs_its_own_observation() -> None:
    given, release = _ramping()
    error = refused(given.project(), Project.advance_release, "release_unhealthy", release_id=release)
    assert facts(error) == {"release_id": release, "percent": 5, "failures": []}
    _observe(given, release, 0.1)
    given(Project.advance_release, release_id=release)
    # The healthy observation at 5% says nothing about 50%.
    refused(given.project(), Project.advance_release, "release_unhealthy", release_id=release)


def test_an_observation_that_does_not_measure_a_checked_metric_does_not_count_as_healthy() -> None:
    given, release = _ramping()
    given(Project.record_observation, release_id=release, metrics={"conversion": 4.2})
    error = refused(given.project(), Project.advance_release, "release_unhealthy", release_id=release)
    assert error.details["unmeasured"] == ["error_rate"]
    assert "error_rate" in error.message
    _observe(given, release, 0.3)
    when(given.project(), Project.advance_release, release_id=release)


def test_without_health_checks_the_ramp_needs_no_observation() -> None:
    given, release = _ramping(health=False)
    project = given.project()
    when(project, Project.advance_release, release_id=release)
    when(project, Project.advance_release, release_id=release)
    assert project.release(release).percent == 100


def test_advancing_at_the_last_step_is_refused() -> None:
    given, release = _ramping(steps=(100,), health=False)
    error = refused(given.project(), Project.advance_release, "invalid_state", release_id=release)
    assert "complete it" in error.message


def test_advancing_after_moving_back_before_trial_is_refused() -> None:
    given, release = _ramping(health=False)
    given(Project.transition, to_stage="uat", reason="defects")
    refused(given.project(), Project.advance_release, "wrong_stage", release_id=release)


# ------------------------------------------------------------ pause, resume


def test_pause_with_a_reason_and_resume_at_the_same_step() -> None:
    given, release = _ramping(health=False)
    given(Project.advance_release, release_id=release)
    project = given.project()
    [paused] = when(project, Project.pause_release, release_id=release, reason="error spike", actor="sre")
    assert isinstance(paused, Project.ReleasePaused) and (paused.percent, paused.reason) == (50, "error spike")
    assert project.release(release).state == "paused"
    refused(project, Project.advance_release, "invalid_state", release_id=release)
    refused(project, Project.complete_release, "invalid_state", release_id=release)
    refused(project, Project.pause_release, "invalid_state", release_id=release, reason="again")
    [resumed] = when(project, Project.resume_release, release_id=release)
    assert isinstance(resumed, Project.ReleaseResumed) and resumed.percent == 50
    assert (project.release(release).state, project.release(release).percent) == ("ramping", 50)


def test_pausing_needs_a_reason() -> None:
    given, release = _ramping()
    invalid(given.project(), Project.pause_release, "reason", release_id=release, reason="")


def test_only_a_paused_release_can_be_resumed() -> None:
    given, release = _ramping()
    refused(given.project(), Project.resume_release, "invalid_state", release_id=release)


# ------------------------------------------------------------------ roll back


@pytest.mark.parametrize("paused", [False, True])
def test_roll_back_with_a_reason_takes_the_audience_to_zero(paused: bool) -> None:
    given, release = _ramping(health=False)
    given(Project.advance_release, release_id=release)
    if paused:
        given(Project.pause_release, release_id=release, reason="crash")
    project = given.project()
    [event] = when(project, Project.roll_back_release, release_id=release, reason="crash on pay", actor="sre")
    assert isinstance(event, Project.ReleaseRolledBack)
    assert (event.from_percent, event.reason, event.actor) == (50, "crash on pay", "sre")
    r = project.release(release)
    assert (r.state, r.percent, r.rollbacks, r.active) == ("rolled_back", 0, 1, False)


def test_rolling_back_needs_a_reason() -> None:
    given, release = _ramping()
    invalid(given.project(), Project.roll_back_release, "reason", release_id=release, reason=None)


def test_a_rolled_back_release_restarts_from_its_first_step_without_old_observations() -> None:
    given, release = _ramping()
    _observe(given, release, 0.1)
    given(Project.roll_back_release, release_id=release, reason="crash on pay")
    project = given.project()
    when(project, Project.start_release, release_id=release)
    r = project.release(release)
    assert (r.state, r.percent, r.rollbacks) == ("ramping", 5, 1)
    # The healthy observation at 5% belonged to the first ramp.
    refused(project, Project.advance_release, "release_unhealthy", release_id=release)


def test_a_planned_release_cannot_be_rolled_back() -> None:
    given = _in()
    release = given(Project.plan_release, version="1.0", steps=[100])
    refused(given.project(), Project.roll_back_release, "invalid_state", release_id=release, reason="x")


# ------------------------------------------------------------------- complete


def test_complete_at_100_percent_after_a_healthy_observation() -> None:
    given, release = _ramping(steps=(50, 100))
    _observe(given, release, 0.1)
    given(Project.advance_release, release_id=release)
    _observe(given, release, 0.2)
    given.waive_plan()
    project = given.project()
    assert project.gate(project.stage) == []
    [event] = when(project, Project.complete_release, release_id=release, actor="lead")
    assert isinstance(event, Project.ReleaseCompleted) and event.actor == "lead"
    assert (project.release(release).state, project.release(release).percent) == ("completed", 100)
    assert project.active_release() is None
    refused(project, Project.roll_back_release, "invalid_state", release_id=release, reason="too late")


def test_completing_below_100_percent_is_refused() -> None:
    given, release = _ramping(health=False)
    error = refused(given.project(), Project.complete_release, "invalid_state", release_id=release)
    assert facts(error) == {"release_id": release, "percent": 5}


def test_completing_on_a_failing_observation_is_refused() -> None:
    given, release = _ramping(steps=(100,))
    _observe(given, release, 7.0)
    refused(given.project(), Project.complete_release, "release_unhealthy", release_id=release)


def test_a_completed_release_satisfies_the_launch_gate() -> None:
    given, release = _ramping(steps=(100,), health=False)
    given(Project.complete_release, release_id=release)
    given.walk_to("launch")
    given.waive_plan()
    project = given.project()
    assert project.gate(project.stage) == []
    assert names(when(project, Project.complete_launch)) == ["LaunchCompleted"]


@pytest.mark.parametrize("command", ["start", "observe", "advance", "pause", "resume", "roll_back", "complete"])
def test_an_unknown_release_is_not_found(command: str) -> None:
    calls: dict[str, tuple[Any, dict[str, Any]]] = {
        "start": (Project.start_release, {}),
        "observe": (Project.record_observation, {"metrics": {"error_rate": 0}}),
        "advance": (Project.advance_release, {}),
        "pause": (Project.pause_release, {"reason": "x"}),
        "resume": (Project.resume_release, {}),
        "roll_back": (Project.roll_back_release, {"reason": "x"}),
        "complete": (Project.complete_release, {}),
    }
    method, kwargs = calls[command]
    error = refused(_in().project(), method, "not_found", release_id="R5", **kwargs)
    assert facts(error) == {"kind": "release", "id": "R5"}


def test_a_release_cannot_complete_after_the_project_moved_back_before_trial() -> None:
    given, release = _ramping(steps=(100,), health=False)
    try:
        given(Project.transition, to_stage="uat", reason="defects")
    except DeliveryError:
        return  # refusing to leave trial with a release on air is an equally good fix
    refused(given.project(), Project.complete_release, "wrong_stage", release_id=release)
