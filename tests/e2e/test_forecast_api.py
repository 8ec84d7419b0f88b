"""GET /api/v1/projects/{id}/forecast over HTTP: its shape, who may read it, as of a moment, and its schema."""

from __future__ import annotations

from datetime import date, timedelta

from delivery import clock
from projections.forecast import OWN_K
from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_the_forecast_of_a_project_that_finished_its_milestones_late(api: Api) -> None:
    pid = new_project(api)
    p = f"{V1}/projects/{pid}"
    today = clock.today()
    for n in range(6):
        due = today - timedelta(days=40 - n)
        mid = api.ok("pm", "POST", f"{p}/milestones", {"title": f"Workshop {n}", "stage": "research",
                                                      "due_on": due.isoformat()}, 201)["id"]
        api.ok("pm", "POST", f"{p}/milestones/{mid}/complete",
               {"completed_on": (due + timedelta(days=10)).isoformat()})
    plan = today + timedelta(days=90)
    api.ok("pm", "POST", f"{p}/milestones", {"title": "Go live", "stage": "launch", "due_on": plan.isoformat()}, 201)

    body = api.ok("pm", "GET", f"{p}/forecast")
    assert body["basis"] == {"template": None, "own_milestones": 6, "reference_milestones": 0,
                             "reference_projects": 0}
    [go_live] = body["milestones"]
    # Every earlier milestone finished exactly 10 days late: P50 is the plan plus 10 days.
    assert date.fromisoformat(go_live["p50_on"]) == plan + timedelta(days=10)
    assert go_live["p50_slip_days"] == 10 and go_live["own_weight"] == round(6 / (6 + OWN_K), 3)
    assert body["launch"]["planned_on"] == plan.isoformat()
    assert body["launch"]["at_risk"] is True

    api.add_token("acme", "client", [pid])
    assert api.ok("acme", "GET", f"{p}/forecast")["project_id"] == pid
    api.add_token("other", "client", [new_project(api, "Another", "Globex")])
    assert api.get("other", f"{p}/forecast").status_code == 404


def test_the_forecast_is_in_the_openapi_schema_with_its_model(api: Api) -> None:
    schema = api.get("pm", "/openapi.json").json()
    route = schema["paths"]["/api/v1/projects/{project_id}/forecast"]["get"]
    ref = route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ProjectForecast")
    assert {"p50_on", "p80_on"} <= set(schema["components"]["schemas"]["MilestoneForecast"]["properties"])
