"""Stage templates: the built-in ones load and plan every stage; a broken file is refused line by line;
a project created from each can be driven to launch by its plan alone."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from delivery.errors import NotFound
from delivery.project import Project
from delivery.stages import STAGES, Stage
from delivery.templates import BUILT_IN, Catalog, Problem, TemplateInvalid, check, parse, plan_project
from tests.unit.domain_helpers import D0, Given, names

BUILT_IN_NAMES = ["crm_rollout", "generic", "mini_program", "website_inquiry"]

VALID = """\
title_en = "Tiny"
title_zh = "小项目"
{milestones}
"""


def _milestones(stages: list[str] | tuple[str, ...] = tuple(s.value for s in STAGES)) -> str:
    return "\n".join(
        f'[[milestones]]\nstage = "{s}"\ndue_days = {i * 5}\ntitle_en = "Step {i}"\ntitle_zh = "步骤 {i}"\n'
        for i, s in enumerate(stages)
    )


def test_the_built_in_templates_load_and_none_is_rejected() -> None:
    catalog = Catalog.load({})
    assert [t.name for t in catalog] == BUILT_IN_NAMES
    assert catalog.rejected == {}


@pytest.mark.parametrize("name", BUILT_IN_NAMES)
def test_each_built_in_template_plans_every_stage_with_criteria_in_both_languages(name: str) -> None:
    template = Catalog.load({}).get(name)
    for stage in STAGES:
        mine = template.of_stage(stage)
        assert mine, f"{name} plans nothing for {stage.value}"
        assert any(m.criteria for m in mine), f"{name} names no acceptance criterion for {stage.value}"
    for m in template.milestones:
        assert m.title.en and m.title.zh and m.deliverables
        assert all(c.text.en and c.text.zh for c in m.criteria)
    testing = [c.metric["name"] for m in template.of_stage(Stage.INTEGRATION_TEST) for c in m.criteria if c.metric]
    assert {"concurrent_users"} <= set(testing) and set(testing) & {"p95_load_ms", "p95_response_ms"}
    offsets = [m.due_days for m in template.milestones]
    assert offsets == sorted(offsets)  # planned in stage order, due dates never going back


def test_an_organisations_folder_adds_templates_and_a_broken_file_there_is_never_loaded(tmp_path: Path) -> None:
    (tmp_path / "kiosk.toml").write_text(VALID.format(milestones=_milestones()), encoding="utf-8")
    (tmp_path / "broken.toml").write_text(VALID.format(milestones=_milestones(["research"])), encoding="utf-8")
    catalog = Catalog.load({"DELIVERY_TEMPLATES_DIR": str(tmp_path)})
    assert "kiosk" in catalog.templates and "broken" not in catalog.templates
    assert catalog.templates["kiosk"].source == str(tmp_path / "kiosk.toml")
    [problems] = catalog.rejected.values()
    assert any("stage solution" in p.rule for p in problems)
    with pytest.raises(NotFound) as caught:
        catalog.get("broken")
    assert caught.value.details["kind"] == "template" and "kiosk" in caught.value.details["known"]


def test_check_reports_the_line_and_field_of_every_problem() -> None:
    text = """\
title_en = "Broken"
title_zh = ""

[[milestones]]
stage = "research"
due_days = 5
title_en = "Interviews"
title_zh = "访谈"
deliverables_en = ["Notes", "Personas"]
deliverables_zh = ["纪要"]

  [[milestones.criteria]]
  text_en = "p95 fast"
  text_zh = "p95 够快"
  metric = { name = "p95_ms", comparator = "=<", threshold = "fast" }

[[milestones]]
stage = "qa"
due_days = -3
title_en = "Testing"
title_zh = "测试"
colour = "red"
"""
    template, problems = check(text, name="broken")
    assert template is None
    found = {(p.line, p.field) for p in problems}
    assert found == {
        (2, "title_zh"),
        (10, "milestones[0].deliverables_zh"),
        (15, "milestones[0].criteria[0].metric.comparator"),
        (15, "milestones[0].criteria[0].metric.threshold"),
        (18, "milestones[1].stage"),
        (19, "milestones[1].due_days"),
        (22, "milestones[1].colour"),
    }
    rules = {p.field: p.rule for p in problems}
    assert rules["milestones[1].stage"].startswith("must be one of the stage ids")
    assert rules["milestones[0].criteria[0].metric.threshold"] == "must be a number"
    assert str(Problem(19, "milestones[1].due_days", "x")) == "line 19: milestones[1].due_days: x"


def test_a_file_that_is_not_toml_is_reported_with_its_line() -> None:
    template, [problem] = check('title_en = "a"\ntitle_zh = \n', name="bad")
    assert template is None and problem.line == 2 and "not valid TOML" in problem.rule


def test_a_template_must_plan_every_stage_in_stage_order() -> None:
    with pytest.raises(TemplateInvalid) as caught:
        parse(VALID.format(milestones=_milestones(["solution", "research", "planning"])), name="x")
    rules = [p.rule for p in caught.value.problems]
    assert any("stage development" in r for r in rules)
    assert any("list milestones in stage order" in r for r in rules)


# ------------------------------------------------------------ applying one


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_template_plan_is_recorded_as_ordinary_events_in_the_chosen_language(language: str) -> None:
    template = Catalog.load({}).get("website_inquiry")
    project = Project.create(name="Inquiry site", client="Acme", actor="pm")
    plan_project(project, template, start_on=D0, language=language, actor="pm")
    events = project.collect_events()
    kinds = names(events)
    assert kinds[:3] == ["Created", "TemplateApplied", "MilestonePlanned"]
    assert kinds.count("MilestonePlanned") == len(template.milestones)
    assert kinds.count("CriterionAdded") == sum(len(m.criteria) for m in template.milestones)
    assert {e.actor for e in events} == {"pm"}
    first = template.milestones[0]
    assert project.milestones["M1"].title == first.title.pick(language)
    assert project.milestones["M1"].due_on == D0 + timedelta(days=first.due_days)
    assert project.template == "website_inquiry"


def test_a_template_plans_only_a_project_without_milestones() -> None:
    given = Given()
    given(Project.plan_milestone, title="Own plan", stage="research", due_on=D0)
    project = given.project()
    with pytest.raises(Exception) as caught:
        plan_project(project, Catalog.load({}).get("generic"), start_on=D0, language="en", actor="pm")
    assert getattr(caught.value, "code", None) == "invalid_state"
    assert project.collect_events() == []


@pytest.mark.parametrize("name", BUILT_IN_NAMES)
def test_a_project_from_each_template_reaches_launch_by_its_plan_alone(name: str) -> None:
    """Verify each criterion (a measured value that meets each metric; the client signs off its UAT), complete
    each milestone, advance; in launch a release ramps to 100% and the launch completes. No waiver, no extra
    milestone."""
    given = Given()
    with_plan = given.project()
    plan_project(with_plan, Catalog.load({}).get(name), start_on=date(2026, 3, 2), language="zh", actor="pm")
    given.events.extend(with_plan.collect_events())
    while True:
        project = given.project()
        stage = project.stage
        for m in [m for m in project.milestones.values() if m.stage == stage]:
            for c in project.criteria_of(m.id):
                if c.client_signoff:  # the UAT sign-off: only the client closes it
                    given(Project.sign_off_criterion, criterion_id=c.id, verdict="verified", actor="client")
                    continue
                measured = None if c.metric is None else _meeting(c.metric.comparator, c.metric.threshold)
                given(Project.verify_criterion, criterion_id=c.id, evidence="report", measured=measured)
            if stage is Stage.LAUNCH:
                release = given(Project.plan_release, version="1.0", steps=[10, 100], health=[])
                given(Project.start_release, release_id=release)
                given(Project.advance_release, release_id=release)
                given(Project.complete_release, release_id=release)
            given(Project.complete_milestone, milestone_id=m.id)
        if stage is Stage.LAUNCH:
            break
        given(Project.transition, to_stage=stage.next)
    given(Project.complete_launch)
    project = given.project()
    assert project.launched and project.waived_plans == {}
    assert "StagePlanWaived" not in names(given.events)


def _meeting(comparator: str, threshold: float) -> float:
    return {"<=": threshold, ">=": threshold, "<": threshold - 1, ">": threshold + 1, "==": threshold}[comparator]


def test_the_built_in_folder_is_inside_the_package() -> None:
    assert BUILT_IN.is_dir() and BUILT_IN.parent.name == "delivery"
    assert sorted(p.stem for p in BUILT_IN.glob("*.toml")) == BUILT_IN_NAMES


def test_each_template_asks_the_client_to_sign_off_its_uat() -> None:
    for template in Catalog.load({}):
        uat = [c for m in template.of_stage(Stage.UAT) for c in m.criteria]
        assert any(c.client_signoff for c in uat), template.name
        project = Given().project()
        plan_project(project, template, start_on=date(2026, 3, 2), language="en", actor="pm")
        asked = [c for c in project.criteria.values() if c.client_signoff]
        assert asked and all(project.milestones[c.milestone_id].stage == "uat" for c in asked)


def test_client_signoff_in_a_template_is_checked() -> None:
    text = (Path(__file__).parents[2] / "delivery" / "stage_templates" / "generic.toml").read_text()
    template, problems = check(text.replace("client_signoff = true", 'client_signoff = "yes"'), name="bad")
    assert template is None
    assert [(p.field, p.rule) for p in problems if "client_signoff" in p.field] == [
        ("milestones[5].criteria[0].client_signoff", "must be true or false")]
