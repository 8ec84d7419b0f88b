"""Stage templates over HTTP and on the command line: list, create a planned project, waive a plan, no-plan health."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import main
from delivery.application import DeliveryApplication
from delivery.settings import Database
from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_the_templates_are_listed_with_their_plans(api: Api) -> None:
    templates = api.ok("auditor", "GET", f"{V1}/templates")
    assert [t["name"] for t in templates] == ["crm_rollout", "generic", "mini_program", "website_inquiry"]
    mini = api.ok("pm", "GET", f"{V1}/templates/mini_program")
    assert mini["title_zh"] == "电商小程序"
    assert {m["stage"] for m in mini["milestones"]} == {
        "research", "solution", "planning", "development", "integration_test", "uat", "trial", "launch"}
    missing = api.get("pm", f"{V1}/templates/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_a_project_created_from_a_template_has_its_plan_recorded_by_the_pm(api: Api) -> None:
    summary = api.ok("pm", "POST", f"{V1}/projects", {
        "name": "优购生鲜小程序", "client": "优购生鲜", "template": "mini_program", "start_on": "2026-03-02",
        "language": "zh"}, status=201)
    pid = summary["id"]
    assert summary["template"] == "mini_program" and summary["stage"] == "research"
    milestones = api.ok("pm", "GET", f"{V1}/projects/{pid}/milestones")["items"]
    assert len(milestones) == 9
    assert milestones[0]["title"] == "业务闭环、用户画像与转化漏斗" and milestones[0]["due_on"] == "2026-03-12"
    assert {m["planned_by"] for m in milestones} == {"pm-test"}
    checklist = api.ok("pm", "GET", f"{V1}/projects/{pid}/checklist")
    testing = next(s for s in checklist["stages"] if s["stage"] == "integration_test")
    metrics = {i["metric"]["name"] for m in testing["milestones"] for i in m["items"] if i["metric"]}
    assert {"p95_load_ms", "concurrent_users"} <= metrics
    # One save: the project's version is its whole plan, and the history lists it after the creation.
    history = api.ok("auditor", "GET", f"{V1}/projects/{pid}/events?limit=500")["items"]
    assert [e["type"] for e in history[:3]] == ["Created", "TemplateApplied", "MilestonePlanned"]
    assert len(history) == summary["version"] == 1 + 1 + 9 + 19
    assert history[1]["data"]["start_on"] == "2026-03-02" and history[1]["data"]["language"] == "zh"


def test_an_unknown_template_is_not_found_and_records_nothing(api: Api) -> None:
    before = api.ok("pm", "GET", f"{V1}/projects")["items"]
    response = api.post("pm", f"{V1}/projects", {"name": "X", "client": "Y", "template": "no_such_template"})
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "not_found" and error["details"]["kind"] == "template"
    assert "generic" in error["details"]["known"]
    assert api.ok("pm", "GET", f"{V1}/projects")["items"] == before


@pytest.mark.parametrize(("body", "field"), [({"template": "Mini Program"}, "template")])
def test_a_template_name_out_of_its_pattern_is_bad_input(api: Api, body: dict[str, str], field: str) -> None:
    response = api.post("pm", f"{V1}/projects", {"name": "X", "client": "Y", **body})
    assert response.status_code == 422 and field in response.text


def test_a_start_date_without_a_template_is_refused_and_records_nothing(api: Api) -> None:
    before = api.ok("pm", "GET", f"{V1}/projects")["items"]
    response = api.post("pm", f"{V1}/projects", {"name": "X", "client": "Y", "start_on": "2026-03-02"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflicting_input"
    assert response.json()["error"]["details"]["field"] == "start_on"
    assert api.ok("pm", "GET", f"{V1}/projects")["items"] == before


@pytest.mark.parametrize(("body", "field"), [
    ({"template": "generic", "start_on": "02/03/2026"}, "start_on"),
    ({"template": "generic", "language": "fr"}, "language"),
])
def test_bad_template_input_is_refused_naming_the_field_and_records_nothing(
    api: Api, body: dict[str, str], field: str,
) -> None:
    before = api.ok("pm", "GET", f"{V1}/projects")["items"]
    response = api.post("pm", f"{V1}/projects", {"name": "X", "client": "Y", **body})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid_input", "validation_error")
    assert field in str(error["details"]), error
    assert api.ok("pm", "GET", f"{V1}/projects")["items"] == before


def test_an_unplanned_stage_is_refused_until_its_plan_is_waived_with_a_reason(api: Api) -> None:
    pid = new_project(api)
    p = f"{V1}/projects/{pid}"
    refused = api.post("pm", f"{p}/transitions", {"to_stage": "solution"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "gate_not_met" and "no plan for this stage" in error["message"]
    assert [u["kind"] for u in error["details"]["unmet"]] == ["no_plan"]
    blank = api.post("pm", f"{p}/stage-plan-waivers", {"stage": "research", "reason": " "})
    assert blank.status_code == 422
    api.ok("pm", "POST", f"{p}/stage-plan-waivers", {"stage": "research", "reason": "Research done in the tender"})
    summary = api.ok("pm", "POST", f"{p}/transitions", {"to_stage": "solution"})
    assert summary["stage"] == "solution"
    assert [(w["stage"], w["reason"], w["by"]) for w in summary["plan_waivers"]] == [
        ("research", "Research done in the tender", "pm-test")]
    audit = api.ok("auditor", "GET", f"{V1}/projects/{pid}/events")["items"]
    [waiver] = [e for e in audit if e["type"] == "StagePlanWaived"]
    assert waiver["data"]["reason"] == "Research done in the tender" and waiver["actor"] == "pm-test"


def test_a_project_without_a_plan_shows_no_plan_yet_never_green(api: Api) -> None:
    empty = new_project(api, name="Empty")
    planned = api.ok("pm", "POST", f"{V1}/projects", {"name": "Planned", "client": "Acme", "template": "generic"},
                     status=201)["id"]
    rows = {r["project_id"]: r for r in api.ok("pm", "GET", f"{V1}/projects")["items"]}
    assert (rows[empty]["health"], rows[empty]["health_reason"]) == ("no_plan", "no_plan")
    assert rows[empty]["health_reason_text"].startswith("no plan yet")
    assert rows[planned]["health"] != "no_plan"
    only = api.ok("pm", "GET", f"{V1}/projects?health=no_plan")["items"]
    assert [r["project_id"] for r in only] == [empty]


def test_the_cli_creates_a_planned_project_and_checks_template_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DELIVERY_DATABASE_URL", url)
    assert main(["create", "Inquiry site", "--client", "穗工机电", "--template", "website_inquiry",
                 "--start-on", "2026-03-02", "--language", "zh", "--pm", "陈浩"]) == 0
    pid = capsys.readouterr().out.strip()
    app = DeliveryApplication(Database(url))
    try:
        project = app.get_project(pid)
        assert project.template == "website_inquiry" and len(project.milestones) == 8
    finally:
        app.close()
    assert main(["create", "X", "--client", "Y", "--template", "nope"]) == 2
    assert "template" in capsys.readouterr().err

    broken = tmp_path / "broken.toml"
    broken.write_text('title_en = "B"\ntitle_zh = "乙"\n[[milestones]]\nstage = "qa"\ndue_days = 1\n'
                      'title_en = "T"\ntitle_zh = "T"\n', encoding="utf-8")
    assert main(["templates", "check", str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{broken}:4: milestones[0].stage:" in out
    assert main(["templates", "check", "delivery/stage_templates/generic.toml"]) == 0
    assert main(["templates", "list"]) == 0
    assert "mini_program" in capsys.readouterr().out
