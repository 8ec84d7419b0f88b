"""The demo scripts are well formed before any of them touches a store."""

from __future__ import annotations

import inspect
from typing import cast

import pytest

from delivery import validation as v
from delivery.application import DeliveryApplication
from delivery.demo import (
    MACROS,
    PORTFOLIO,
    ProjectScript,
    Ref,
    Step,
    at,
    close_stage,
    command,
    command_count,
    load_demo,
    read_portfolio,
)
from delivery.errors import InvalidInput
from delivery.project import Project
from delivery.stages import STAGES
from delivery.templates import Catalog, plan_project
from tests.unit.domain_helpers import D0, Given

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
    known = {f"plan:{s.value}" for s in STAGES} if script.template else set()
    for step in script.steps:
        method = command(step.command)
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


def test_the_portfolio_is_data_and_every_project_is_planned_from_a_known_template() -> None:
    assert read_portfolio() == PORTFOLIO
    catalog = Catalog.load({})
    assert {s.template for s in PORTFOLIO} == set(catalog.templates)  # every built-in template is shown
    assert {s.language for s in PORTFOLIO} == {"en", "zh"}


def test_close_stage_verifies_what_is_open_on_the_plan_then_completes_it() -> None:
    given = Given()
    project = given.project()
    plan_project(project, Catalog.load({}).get("generic"), start_on=D0, language="en", actor="pm")
    given.events.extend(project.collect_events())
    given(close_stage, evidence=["Loop v2", "Funnel v1"])
    project = given.project()
    research = [m for m in project.milestones.values() if m.stage == "research"]
    assert research and all(m.done for m in research)
    evidence = [c.evidence for m in research for c in project.criteria_of(m.id)]
    assert evidence[:2] == ["Loop v2", "Funnel v1"] and set(evidence[2:]) == {"Accepted as planned; records filed"}
    assert project.gate(project.stage) == []
    given.walk_to("integration_test")
    given(close_stage)  # measurable criteria get a value that meets them
    project = given.project()
    measured = [c for c in project.criteria.values() if c.metric is not None]
    assert measured and all(c.state == "verified" and c.metric.met_by(c.measured) for c in measured)


def test_a_step_names_a_project_command_or_a_macro() -> None:
    assert command("close_stage") is MACROS["close_stage"]
    assert command("transition") is Project.transition
    for bad in ("create", "_stage_advanced", "no_such_command"):
        with pytest.raises(InvalidInput):
            command(bad)


def test_a_step_today_or_later_is_refused_before_it_is_recorded() -> None:
    never_called = cast(DeliveryApplication, object())  # the check comes before the command runs
    today = ProjectScript(name="Now", client="Nobody", pm="pm", started=0, steps=[at(0, "transition")])
    with pytest.raises(ValueError, match="day 0"):
        load_demo(never_called, portfolio=[today])
