"""The demo scripts are well formed before any of them touches a store."""

from __future__ import annotations

import inspect
from typing import cast

import pytest

from delivery import validation as v
from delivery.application import DeliveryApplication
from delivery.demo import PORTFOLIO, ProjectScript, Ref, Step, at, command_count, load_demo, stage_done

SCRIPTS = {script.name: script for script in PORTFOLIO}


def refs(step: Step) -> list[str]:
    return [value.key for value in step.args.values() if isinstance(value, Ref)]


def test_the_portfolio_has_at_least_eight_distinct_projects_of_several_clients() -> None:
    assert len(SCRIPTS) == len(PORTFOLIO) >= 8
    assert len({s.client for s in PORTFOLIO}) >= 8
    assert command_count() == sum(1 + len(s.steps) for s in PORTFOLIO)


@pytest.mark.parametrize("script", PORTFOLIO, ids=lambda s: s.name)
def test_a_script_runs_forward_in_the_past(script: ProjectScript) -> None:
    days = [script.started, *(s.day for s in script.steps)]
    assert days == sorted(days)
    assert days[-1] < 0


@pytest.mark.parametrize("script", PORTFOLIO, ids=lambda s: s.name)
def test_a_script_calls_real_commands_and_refers_only_to_earlier_results(script: ProjectScript) -> None:
    known: set[str] = set()
    for step in script.steps:
        method = getattr(DeliveryApplication, step.command, None)
        assert callable(method), step.command
        parameters = inspect.signature(method).parameters
        assert set(step.args) <= set(parameters), (step.command, set(step.args) - set(parameters))
        missing = [key for key in refs(step) if key not in known]
        assert not missing, (step.command, missing)
        if step.key is not None:
            assert step.key not in known, f"key {step.key} is used twice"
            known.add(step.key)


@pytest.mark.parametrize("script", PORTFOLIO, ids=lambda s: s.name)
def test_project_texts_fit_the_validation_limits(script: ProjectScript) -> None:
    assert v.text("name", script.name) == script.name
    assert v.text("client", script.client, max_len=v.NAME_MAX) == script.client
    assert v.text("actor", script.pm, max_len=v.NAME_MAX) == script.pm
    assert v.optional_text("description", script.description) == script.description


def test_stage_done_closes_the_stage_and_moves_to_the_next() -> None:
    steps = stage_done("uat", "UAT", plan=-10, due=-5, done=-4, checks=[("Signed", "Form")])
    assert [s.command for s in steps] == [
        "plan_milestone", "add_criterion", "verify_criterion", "complete_milestone", "transition",
    ]
    assert steps[-1].args == {"to_stage": "trial"}
    assert [s.day for s in steps] == [-10, -10, -4, -4, -4]
    assert stage_done("launch", "Go live", plan=-3, due=-2, done=-1)[-1].command == "complete_milestone"


def test_a_step_today_or_later_is_refused_before_it_is_recorded() -> None:
    never_called = cast(DeliveryApplication, object())  # the check comes before the command runs
    today = ProjectScript(name="Now", client="Nobody", pm="pm", started=0, steps=[at(0, "transition")])
    with pytest.raises(ValueError, match="day 0"):
        load_demo(never_called, portfolio=[today])
