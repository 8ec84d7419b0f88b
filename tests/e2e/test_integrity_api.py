"""The auditors' endpoints over HTTP: integrity verdict, streamed export, diff, CSV and the .ics feed."""

from __future__ import annotations

import json

from icalendar import Calendar

from projections.export import check_export
from tests.e2e.conftest import Api, new_project
from tests.integration.test_audit_chain import Tamperer

BASE = "/api/v1/projects"


def _plan(api: Api, pid: str) -> None:
    api.ok("pm", "POST", f"{BASE}/{pid}/scope-items", {"title": "Checkout", "tier": "core"}, status=201)
    api.ok("pm", "POST", f"{BASE}/{pid}/milestones", {
        "title": "Research signed off", "stage": "research", "due_on": "2030-01-20", "deliverables": ["Notes"],
    }, status=201)


def test_integrity_export_and_diff_for_the_auditor(api: Api) -> None:
    pid = new_project(api)
    _plan(api, pid)
    verdict = api.ok("auditor", "GET", f"{BASE}/{pid}/integrity")
    assert verdict["valid"] is True and verdict["events"] == 3 and verdict["first_bad"] is None

    response = api.get("auditor", f"{BASE}/{pid}/export")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    lines = response.text.splitlines(keepends=True)
    header = json.loads(lines[0])
    assert header["events"] == 3 and header["head"] == verdict["head"]
    assert [json.loads(line)["event"]["type"] for line in lines[1:]] == [
        "Created", "ScopeItemAdded", "MilestonePlanned"]
    check_export(api.app.state.services.app, lines)

    created = json.loads(lines[1])["event"]["time"]
    response = api.get("pm", f"{BASE}/{pid}/diff", params={"from": created})
    assert response.status_code == 200, response.text
    diff = response.json()
    views = {v["view"]: v for v in diff["views"]}
    assert [i["id"] for i in views["scope"]["items"]] == ["S1"]
    assert [(i["id"], i["change"]) for i in views["milestones"]["items"]] == [("M1", "added")]
    assert len(diff["events"]) == 2 and diff["from"].startswith(created[:19])


def test_tampering_shows_in_the_verdict(api: Api) -> None:
    pid = new_project(api)
    _plan(api, pid)
    Tamperer(api.app.state.services.database).edit(2, title="Forged")
    verdict = api.ok("auditor", "GET", f"{BASE}/{pid}/integrity")
    assert verdict["valid"] is False
    assert (verdict["first_bad"]["problem"], verdict["first_bad"]["version"]) == ("altered", 2)
    assert verdict["events"] == 1


def test_csv_and_calendar_feed(api: Api) -> None:
    pid = new_project(api)
    _plan(api, pid)
    csv = api.get("pm", f"{BASE}/{pid}/export.csv", params={"view": "milestones"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.splitlines()
    assert rows[0].startswith("id,stage,title,due_on") and rows[1].startswith("M1,research,Research signed off")
    api.add_token("client-a", "client", [pid])
    ics = api.get("client-a", f"{BASE}/{pid}/milestones.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(ics.content).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Research signed off (research, in progress)"]
    assert events[0]["dtstart"].dt.isoformat() == "2030-01-20"


def test_roles_and_errors(api: Api) -> None:
    pid = new_project(api)
    api.add_token("client-a", "client", [pid])
    for path in ("integrity", "export", "export.csv", "diff?from=2026-01-01"):
        response = api.get("client-a", f"{BASE}/{pid}/{path}")
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden", path
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in ("integrity", "export", "diff?from=2026-01-01", "milestones.ics"):
        response = api.get("auditor", f"{BASE}/{unknown}/{path}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
    bad = api.get("auditor", f"{BASE}/{pid}/diff", params={"from": "yesterday"})
    assert bad.status_code == 422
    # Latest first is the same window, in order (a schema-valid request is never a 422).
    backwards = api.get("auditor", f"{BASE}/{pid}/diff", params={"from": "2030-01-02", "to": "2030-01-01"})
    assert backwards.status_code == 200
    assert (backwards.json()["from"], backwards.json()["to"]) == ("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z")
