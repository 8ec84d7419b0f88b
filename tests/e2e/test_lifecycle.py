"""One project from research to launch, every step over HTTP, the views checked along the way."""

from __future__ import annotations

from datetime import datetime

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_research_to_launch(api: Api) -> None:
    pid = new_project(api)
    p = f"{V1}/projects/{pid}"
    core = api.ok("pm", "POST", f"{p}/scope-items", {"title": "Checkout", "tier": "core"}, 201)["id"]
    extra = api.ok("pm", "POST", f"{p}/scope-items", {"title": "Share card", "tier": "touchpoint"}, 201)["id"]
    api.ok("pm", "DELETE", f"{p}/scope-items/{extra}")
    api.ok("pm", "POST", f"{p}/funnel", {"steps": [
        {"name": "visit", "expected_rate": 100}, {"name": "cart", "expected_rate": 30},
        {"name": "pay", "expected_rate": 10}]})

    m1 = api.ok("pm", "POST", f"{p}/milestones",
                {"title": "Research done", "stage": "research", "due_on": "2030-01-10",
                 "deliverables": ["Interview notes"]}, 201)["id"]
    api.ok("pm", "POST", f"{p}/milestones/{m1}/reschedule", {"due_on": "2030-01-20", "reason": "Client holiday"})
    plain = api.ok("pm", "POST", f"{p}/milestones/{m1}/criteria", {"text": "Client signs off the notes"}, 201)["id"]
    measured = api.ok("pm", "POST", f"{p}/milestones/{m1}/criteria", {
        "text": "Prototype task success", "metric": {"name": "task_success", "comparator": ">=",
                                                     "threshold": 80, "unit": "%"}}, 201)["id"]

    refused = api.post("pm", f"{p}/transitions", {"to_stage": "solution"})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "gate_not_met"
    assert {u["kind"] for u in refused.json()["error"]["details"]["unmet"]} >= {"milestone_open"}
    skip = api.post("pm", f"{p}/transitions", {"to_stage": "planning"})
    assert skip.status_code == 409 and skip.json()["error"]["code"] == "stage_skip"

    low = api.post("pm", f"{p}/criteria/{measured}/verify", {"evidence": "usability test", "measured": 70})
    assert low.status_code == 409 and low.json()["error"]["code"] == "threshold_not_met"
    api.ok("pm", "POST", f"{p}/criteria/{measured}/reject", {"reason": "Below target"})
    api.ok("pm", "POST", f"{p}/criteria/{measured}/verify", {"evidence": "second round", "measured": 85})
    api.ok("pm", "POST", f"{p}/criteria/{plain}/waive", {"reason": "Signed off by phone"})
    api.ok("pm", "POST", f"{p}/milestones/{m1}/complete", {})

    checklist = api.ok("auditor", "GET", f"{p}/checklist")
    assert checklist["open_criteria"] == 0
    before_solution = datetime.now().astimezone().isoformat()

    summary = api.ok("pm", "POST", f"{p}/transitions", {"to_stage": "solution"})
    assert summary["stage"] == "solution"
    unplanned = api.post("pm", f"{p}/transitions", {"to_stage": "planning"})
    assert unplanned.status_code == 409 and unplanned.json()["error"]["details"]["unmet"][0]["kind"] == "no_plan"
    # The later stages are covered by the milestones of this test: the pm says so, once per stage.
    for stage in ("solution", "planning", "development", "integration_test", "uat", "trial", "launch"):
        api.ok("pm", "POST", f"{p}/stage-plan-waivers", {"stage": stage, "reason": "A short engagement"})
    summary = api.ok("pm", "POST", f"{p}/transitions", {"to_stage": "planning"})
    assert summary["baseline_frozen_at"] is not None
    frozen = api.post("pm", f"{p}/scope-items", {"title": "Coupons", "tier": "value_added"})
    assert frozen.status_code == 409 and frozen.json()["error"]["code"] == "scope_frozen"

    cr = api.ok("pm", "POST", f"{p}/change-requests", {
        "title": "Coupons", "requested_by": "Client PO", "kind": "add", "tier": "value_added",
        "impact": {"schedule_days": 3, "cost": 1500.5}}, 201)["id"]
    api.ok("pm", "POST", f"{p}/change-requests/{cr}/approve", {"reason": "Weekly review"})
    api.ok("pm", "POST", f"{p}/change-requests/{cr}/implement")
    dropped = api.ok("pm", "POST", f"{p}/change-requests", {
        "title": "Rename checkout", "requested_by": "Client PO", "kind": "modify", "tier": "core",
        "scope_item_id": core}, 201)["id"]
    api.ok("pm", "POST", f"{p}/change-requests/{dropped}/withdraw")
    log = api.ok("pm", "GET", f"{p}/change-requests")
    assert [e["status"] for e in log["entries"]] == ["implemented", "withdrawn"]
    assert log["drift"]["items_added"] == 1 and log["drift"]["schedule_days_added"] == 3

    for stage in ("development", "integration_test", "uat"):
        api.ok("pm", "POST", f"{p}/transitions", {"to_stage": stage})
    back = api.ok("pm", "POST", f"{p}/transitions", {"to_stage": "development", "reason": "UAT found defects"})
    assert back["stage_history"][-1]["direction"] == "returned"
    for stage in ("integration_test", "uat", "trial"):
        api.ok("pm", "POST", f"{p}/transitions", {"to_stage": stage})

    rel = api.ok("pm", "POST", f"{p}/releases", {
        "version": "1.0.0", "steps": [5, 50, 100],
        "health": [{"metric": "error_rate", "comparator": "<=", "threshold": 1}]}, 201)["id"]
    r = f"{p}/releases/{rel}"
    api.ok("pm", "POST", f"{r}/start")
    api.ok("pm", "POST", f"{r}/observations", {"metrics": {"error_rate": 2.5}})
    unhealthy = api.post("pm", f"{r}/advance")
    assert unhealthy.status_code == 409 and unhealthy.json()["error"]["code"] == "release_unhealthy"
    api.ok("pm", "POST", f"{r}/rollback", {"reason": "Crash on Android"})
    api.ok("pm", "POST", f"{r}/start")
    api.ok("pm", "POST", f"{r}/observations", {"metrics": {"error_rate": 0.2}})
    api.ok("pm", "POST", f"{r}/advance")
    api.ok("pm", "POST", f"{r}/pause", {"reason": "Weekend"})
    api.ok("pm", "POST", f"{r}/resume")
    api.ok("pm", "POST", f"{r}/observations", {"metrics": {"error_rate": 0.3}})
    api.ok("pm", "POST", f"{r}/advance")
    api.ok("pm", "POST", f"{r}/observations", {"metrics": {"error_rate": 0.1}})
    api.ok("pm", "POST", f"{r}/complete")
    releases = api.ok("pm", "GET", f"{p}/releases")
    assert releases["items"][0]["state"] == "completed" and len(releases["items"][0]["rollbacks"]) == 1

    assert api.ok("pm", "POST", f"{p}/transitions", {"to_stage": "launch"})["stage"] == "launch"
    api.ok("pm", "POST", f"{p}/launch/complete")
    api.ok("pm", "POST", f"{p}/funnel/actuals", {"rates": [100, 25, 9]})
    closed = api.post("pm", f"{p}/milestones", {"title": "More", "stage": "launch", "due_on": "2030-02-01"})
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "project_closed"

    final = api.get("auditor", p)
    assert final.json()["launched"] is True and final.json()["stage"] == "launch"
    assert final.headers["ETag"] == f'"{final.json()["version"]}"'
    assert [h["stage"] for h in final.json()["stage_history"]][:3] == ["research", "solution", "planning"]

    # The auditor sees the same project as it stood before it left research.
    then = api.get("auditor", p, params={"as_of": before_solution}).json()
    assert then["stage"] == "research"
    milestones_then = api.get("auditor", f"{p}/milestones", params={"as_of": before_solution}).json()
    assert [m["id"] for m in milestones_then["items"]] == ["M1"]

    # The audit log pages through every event, each with its actor.
    seen, cursor = [], None
    while True:
        params = {"limit": 7} | ({"cursor": cursor} if cursor else {})
        page = api.get("auditor", f"{p}/events", params=params).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == final.json()["version"]
    assert [e["version"] for e in seen] == list(range(1, len(seen) + 1))
    assert {e["actor"] for e in seen} == {"pm-test"}

    portfolio = api.get("auditor", f"{V1}/projects", params={"stage": "launch"}).json()
    assert [row["project_id"] for row in portfolio["items"]] == [pid]
