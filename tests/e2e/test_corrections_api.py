"""Corrections over HTTP: each endpoint records its event (with the text it replaced), honours If-Match, and is
refused where a rule froze the text; the views and the portfolio follow."""

from __future__ import annotations

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_the_correction_endpoints_are_in_the_openapi_schema(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path in ("/api/v1/projects/{project_id}/rename",
                 "/api/v1/projects/{project_id}/scope-items/{item_id}/retitle",
                 "/api/v1/projects/{project_id}/milestones/{milestone_id}/retitle",
                 "/api/v1/projects/{project_id}/milestones/{milestone_id}/deliverables",
                 "/api/v1/projects/{project_id}/criteria/{criterion_id}/reword"):
        assert "post" in paths[path], path
        assert {"409", "412", "422"} <= set(paths[path]["post"]["responses"]), path


def test_corrections_record_events_and_every_view_follows(api: Api) -> None:
    pid = new_project(api, "Mall app")
    base = f"{V1}/projects/{pid}"
    api.ok("pm", "POST", f"{base}/scope-items", {"title": "Chekout", "tier": "core"}, status=201)
    api.ok("pm", "POST", f"{base}/milestones", {"title": "Protoype", "stage": "research", "due_on": "2026-12-20",
                                                "deliverables": ["Spec"]}, status=201)
    api.ok("pm", "POST", f"{base}/milestones/M1/criteria", {"text": "Client sings off"}, status=201)
    renamed = api.ok("pm", "POST", f"{base}/rename", {"name": "Mall mini-program"})
    stale = api.post("pm", f"{base}/scope-items/S1/retitle", {"title": "Checkout"},
                     headers={"If-Match": f'"{renamed["version"] - 1}"'})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "version_mismatch"
    api.post("pm", f"{base}/scope-items/S1/retitle", {"title": "Checkout"},
             headers={"If-Match": f'"{renamed["version"]}"'}).raise_for_status()
    api.ok("pm", "POST", f"{base}/milestones/M1/retitle", {"title": "Prototype"})
    api.ok("pm", "POST", f"{base}/milestones/M1/deliverables", {"deliverables": ["Spec", "Clickable prototype"]})
    api.ok("pm", "POST", f"{base}/criteria/AC1/reword", {"text": "Client signs off"})

    assert api.ok("pm", "GET", base)["name"] == "Mall mini-program"
    assert [i["title"] for i in api.ok("pm", "GET", base)["scope"]] == ["Checkout"]
    [milestone] = api.ok("pm", "GET", f"{base}/milestones")["items"]
    assert (milestone["title"], milestone["deliverables"]) == ("Prototype", ["Spec", "Clickable prototype"])
    checklist = api.ok("pm", "GET", f"{base}/checklist")
    assert checklist["stages"][0]["milestones"][0]["items"][0]["text"] == "Client signs off"
    [row] = api.ok("pm", "GET", f"{V1}/projects")["items"]
    assert (row["name"], row["next_milestone_title"]) == ("Mall mini-program", "Prototype")
    events = {e["type"]: e for e in api.ok("auditor", "GET", f"{base}/events")["items"]}
    assert events["ProjectRenamed"]["data"]["previous"] == "Mall app"
    assert events["ScopeItemRetitled"]["actor"] == "pm-test"
    assert {"MilestoneRetitled", "DeliverablesRevised", "CriterionReworded"} <= set(events)


def test_corrections_are_refused_where_the_rules_froze_the_text(api: Api) -> None:
    pid = new_project(api)
    base = f"{V1}/projects/{pid}"
    api.ok("pm", "POST", f"{base}/milestones", {"title": "Research", "stage": "research", "due_on": "2026-12-20"},
           status=201)
    api.ok("pm", "POST", f"{base}/milestones/M1/criteria", {"text": "Notes signed"}, status=201)
    api.ok("pm", "POST", f"{base}/criteria/AC1/verify", {"evidence": "PDF"})
    before = api.ok("pm", "GET", base)["version"]
    verified = api.post("pm", f"{base}/criteria/AC1/reword", {"text": "Other"})
    assert verified.status_code == 409 and verified.json()["error"]["code"] == "invalid_state"
    unchanged = api.post("pm", f"{base}/rename", {"name": "Mall mini-program"})
    assert unchanged.status_code == 409 and unchanged.json()["error"]["details"]["field"] == "name"
    blank = api.post("pm", f"{base}/milestones/M1/retitle", {"title": " "})
    assert blank.status_code == 422
    unknown = api.post("pm", f"{base}/milestones/M9/deliverables", {"deliverables": []})
    assert unknown.status_code == 404
    assert api.ok("pm", "GET", base)["version"] == before  # nothing recorded
    auditor = api.post("auditor", f"{base}/rename", {"name": "Other"})
    assert auditor.status_code == 403
