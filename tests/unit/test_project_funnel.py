"""The conversion funnel: 3 to 5 steps expected in research and solution, actual numbers after launch."""

from __future__ import annotations

from typing import Any

import pytest

from delivery.funnel import FunnelStep
from delivery.project import Project
from tests.unit.domain_helpers import Given, facts, invalid, refused, when

LOOP = [
    {"name": "Visit", "expected_rate": 100},
    {"name": "Add to cart", "expected_rate": 30},
    {"name": "Pay", "expected_rate": 12.5},
]


def _launched_with_funnel(*, complete_launch: bool = False) -> Given:
    given = Given()
    given(Project.define_funnel, steps=LOOP)
    given.walk_to("trial")
    release = given.ramping_release(steps=(100,), health=False)
    given(Project.complete_release, release_id=release)
    given.walk_to("launch")
    if complete_launch:
        given.waive_plan()
        given.waive_plan()
        given(Project.complete_launch)
    return given


@pytest.mark.parametrize("stage", ["research", "solution"])
def test_define_the_business_loop_before_the_baseline_freezes(stage: str) -> None:
    given = Given()
    given.walk_to(stage)
    project = given.project()
    [event] = when(project, Project.define_funnel, steps=LOOP, actor="lead")
    assert isinstance(event, Project.FunnelDefined) and event.actor == "lead"
    assert event.steps == [{"name": "Visit", "expected_rate": 100.0}, {"name": "Add to cart", "expected_rate": 30.0},
                           {"name": "Pay", "expected_rate": 12.5}]
    assert project.funnel == [FunnelStep("Visit", 100.0), FunnelStep("Add to cart", 30.0), FunnelStep("Pay", 12.5)]


def test_redefining_the_funnel_replaces_it() -> None:
    given = Given()
    given(Project.define_funnel, steps=LOOP)
    project = given.project()
    when(project, Project.define_funnel, steps=[*LOOP, {"name": "Repeat order", "expected_rate": 20}])
    assert [s.name for s in project.funnel] == ["Visit", "Add to cart", "Pay", "Repeat order"]


def test_after_the_baseline_freezes_the_funnel_is_settled() -> None:
    given = Given()
    given.walk_to("planning")
    refused(given.project(), Project.define_funnel, "wrong_stage", steps=LOOP)


@pytest.mark.parametrize(("steps", "field"), [
    (LOOP[:2], "steps"),
    (LOOP * 2, "steps"),
    ("Visit, Pay, Repeat", "steps"),
    ([*LOOP[:2], "Pay"], "steps[2]"),
    ([*LOOP[:2], {"name": "Pay", "expected_rate": 0}], "steps[2].expected_rate"),
    ([*LOOP[:2], {"name": "Pay", "expected_rate": 100.1}], "steps[2].expected_rate"),
    ([*LOOP[:2], {"name": "Pay", "expected_rate": True}], "steps[2].expected_rate"),
    ([*LOOP[:2], {"name": "Pay"}], "steps[2].expected_rate"),
    ([*LOOP[:2], {"name": " ", "expected_rate": 5}], "steps[2].name"),
    ([*LOOP[:2], {"name": "x" * 81, "expected_rate": 5}], "steps[2].name"),
])
def test_a_malformed_funnel_is_bad_input(steps: Any, field: str) -> None:
    invalid(Given().project(), Project.define_funnel, field, steps=steps)


def test_actual_conversion_is_recorded_in_launch_next_to_the_expected() -> None:
    project = _launched_with_funnel().project()
    [event] = when(project, Project.record_funnel_actuals, rates=[100, 18, 4.5])
    assert isinstance(event, Project.FunnelActualsRecorded) and event.rates == [100.0, 18.0, 4.5]
    assert [(s.expected_rate, s.actual_rate) for s in project.funnel] == [(100, 100), (30, 18), (12.5, 4.5)]


def test_actuals_may_arrive_after_the_launch_completed() -> None:
    project = _launched_with_funnel(complete_launch=True).project()
    when(project, Project.record_funnel_actuals, rates=[100, 18, 4.5])
    assert project.funnel[2].actual_rate == 4.5


def test_actuals_before_launch_are_refused() -> None:
    given = Given()
    given(Project.define_funnel, steps=LOOP)
    given.walk_to("trial")
    error = refused(given.project(), Project.record_funnel_actuals, "wrong_stage", rates=[100, 18, 4.5])
    assert facts(error) == {"stage": "trial"}


def test_actuals_without_a_funnel_are_refused() -> None:
    given = Given()
    given.walk_to("trial")
    release = given.ramping_release(steps=(100,), health=False)
    given(Project.complete_release, release_id=release)
    given.walk_to("launch")
    refused(given.project(), Project.record_funnel_actuals, "invalid_state", rates=[1, 2, 3])


@pytest.mark.parametrize(("rates", "field"), [
    ([100, 18], "rates"),
    ([100, 18, 4, 1], "rates"),
    ("100,18,4", "rates"),
    ([100, "18", 4], "rates[1]"),
    ([100, 18, False], "rates[2]"),
    ([100, 18, -1], "rates[2]"),
    ([100, 180, 4], "rates[1]"),
])
def test_malformed_actuals_are_bad_input(rates: Any, field: str) -> None:
    # A list of the wrong length is fine alone: refused for this project's funnel.
    conflicting = field == "rates" and isinstance(rates, list)
    invalid(_launched_with_funnel().project(), Project.record_funnel_actuals, field, conflicting=conflicting,
            rates=rates)


def test_rates_written_as_fractions_are_refused_naming_the_unit() -> None:
    fractions = [{"name": "Visit", "expected_rate": 0.6}, {"name": "Cart", "expected_rate": 0.3},
                 {"name": "Pay", "expected_rate": 1}]
    error = invalid(Given().project(), Project.define_funnel, "steps", conflicting=True, steps=fractions)
    assert "percentages from 0 to 100" in error.details["rule"] and "expected_rate" in error.details["rule"]
    # One rate above 1 shows the funnel is in percent: small steps such as 0.5% are then fine.
    when(Given().project(), Project.define_funnel, steps=[*fractions[:2], {"name": "Pay", "expected_rate": 40}])


def test_actual_rates_written_as_fractions_are_refused_but_no_conversion_at_all_is_not() -> None:
    error = invalid(_launched_with_funnel().project(), Project.record_funnel_actuals, "rates", conflicting=True,
                    rates=[0.5, 0.2, 0.1])
    assert "write 30, not 0.3" in error.details["rule"]
    when(_launched_with_funnel().project(), Project.record_funnel_actuals, rates=[0, 0, 0])
    when(_launched_with_funnel().project(), Project.record_funnel_actuals, rates=[55, 0.5, 0.2])
