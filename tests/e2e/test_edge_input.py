"""Hostile input at the edge: dates out of range, control characters, unreadable query parameters,
and stored text that must not break a calendar, a spreadsheet or a terminal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from api.cli import main
from delivery.project import Project
from delivery.settings import Database
from tests.e2e.conftest import Api, new_project
from tests.e2e.pages_helpers import Site, Visitor, make_site
from web.i18n import Translator

FIRST, LAST = "1970-01-01", "2199-12-31"


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def _version(api: Api, pid: str) -> int:
    return int(api.ok("pm", "GET", f"/api/v1/projects/{pid}")["version"])


def _refused(response: Any, field: str, rule: str) -> None:
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert (details["field"], details["rule"]) == (field, rule), details


# ------------------------------------------------------------------ dates


@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31", "2200-01-01", "9999-12-31"])
def test_a_date_out_of_range_is_refused_naming_the_field_and_recording_nothing(api: Api, day: str) -> None:
    pid = new_project(api)
    before = _version(api, pid)
    planned = api.post("pm", f"/api/v1/projects/{pid}/milestones",
                       {"title": "Go live", "stage": "research", "due_on": day})
    _refused(planned, "due_on", f"must be between {FIRST} and {LAST}")
    api.ok("pm", "POST", f"/api/v1/projects/{pid}/milestones",
           {"title": "Go live", "stage": "research", "due_on": "2030-01-01"}, status=201)
    rescheduled = api.post("pm", f"/api/v1/projects/{pid}/milestones/M1/reschedule",
                           {"due_on": day, "reason": "typo"})
    _refused(rescheduled, "due_on", f"must be between {FIRST} and {LAST}")
    completed = api.post("pm", f"/api/v1/projects/{pid}/milestones/M1/complete", {"completed_on": day})
    assert completed.status_code == 422 and completed.json()["error"]["details"]["field"] == "completed_on"
    assert _version(api, pid) == before + 1  # only the good milestone


def test_the_domain_refuses_what_the_schema_refuses(api: Api) -> None:
    """The CLI, the forms and the demo call the application: the same rule holds there."""
    services = api.app.state.services
    pid = new_project(api)
    with pytest.raises(Exception, match="due_on: must be between 1970-01-01 and 2199-12-31") as caught:
        services.app.plan_milestone(pid, title="Old", stage="research", due_on=date(1, 1, 1), actor="pm")
    assert type(caught.value).__name__ == "InvalidInput"
    assert services.app.get_project(pid).version == 1


def test_the_schema_states_the_date_range_in_standard_keywords(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    due_on = schemas["MilestoneIn"]["properties"]["due_on"]
    assert due_on["type"] == "string" and due_on["format"] == "date"
    pattern = re.compile(due_on["pattern"])
    assert pattern.search(FIRST) and pattern.search(LAST) and pattern.search("2026-02-28")
    for outside in ("1969-12-31", "2200-01-01", "0001-01-01", "9999-12-31", "2026-13-01", "2026-01-32"):
        assert not pattern.search(outside), outside


# -------------------------------------------------------------- control characters


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/projects", {"name": "Mall\napp", "client": "Acme"}, "name"),
    ("/api/v1/projects", {"name": "Mall", "client": "Acme\u0001"}, "client"),
    ("/api/v1/projects", {"name": "Mall\t", "client": "Acme"}, "name"),
    ("/api/v1/projects", {"name": "Mall\u009b31m", "client": "Acme"}, "name"),
    ("/api/v1/projects", {"name": "Mall", "client": "Acme", "description": "a\u0007b"}, "description"),
    ("{pid}/scope-items", {"title": "Check\rout", "tier": "core"}, "title"),
    ("{pid}/milestones", {"title": "Go", "stage": "research", "due_on": "2030-01-01",
                          "deliverables": ["a\u007f"]}, "deliverables.0"),
])
def test_control_characters_are_refused_where_the_text_is_one_line(
    api: Api, path: str, body: dict[str, Any], field: str,
) -> None:
    pid = new_project(api)
    before = _version(api, pid)
    response = api.post("pm", path.replace("{pid}", f"/api/v1/projects/{pid}"), body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert "control characters" in response.json()["error"]["details"]["rule"]
    assert _version(api, pid) == before
    assert len(api.ok("pm", "GET", "/api/v1/projects")["items"]) == 1


def test_multi_line_text_keeps_line_breaks_and_tabs(api: Api) -> None:
    created = api.ok("pm", "POST", "/api/v1/projects",
                     {"name": "Mall", "client": "Acme", "description": "Phase 1:\r\n\tcoupons\rPhase 2"}, status=201)
    assert created["description"] == "Phase 1:\n\tcoupons\nPhase 2"
    pid = created["id"]
    api.ok("pm", "POST", f"/api/v1/projects/{pid}/milestones",
           {"title": "Go", "stage": "research", "due_on": "2030-01-01"}, status=201)
    api.ok("pm", "POST", f"/api/v1/projects/{pid}/milestones/M1/reschedule",
           {"due_on": "2030-02-01", "reason": "Client review\nmoved a month"})
    _refused(api.post("pm", f"/api/v1/projects/{pid}/milestones/M1/reschedule",
                      {"due_on": "2030-03-01", "reason": "esc \u001b[31m"}),
             "reason", "must be text, not blank, without control characters other than tab and line breaks")


# ------------------------------------------------------------------ pages


def _pm(site: Site) -> Visitor:
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    return visitor


def test_pages_render_for_the_extremes_of_the_date_range(site: Site) -> None:
    pid = site.project()
    app = site.services.app
    app.plan_milestone(pid, title="Earliest", stage="research", due_on=FIRST, actor="pm")
    app.complete_milestone(pid, milestone_id="M1", completed_on=FIRST, actor="pm")
    recorded = app.plan_milestone(pid, title="Latest", stage="launch", due_on=LAST, actor="pm")
    site.services.reads.wait_for(recorded.position)
    pm = _pm(site)
    for path in (f"/p/{pid}", f"/pm/p/{pid}", f"/audit/p/{pid}", f"/audit/p/{pid}?position=2",
                 f"/audit/p/{pid}/diff", "/portfolio"):
        page = pm.client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert "Earliest" in page.text or path.endswith(("/portfolio", "/diff"))
    feed = Calendar.from_ical(pm.client.get(f"/p/{pid}/milestones.ics").content)
    assert sorted(str(e.decoded("dtstart")) for e in feed.walk("VEVENT")) == [FIRST, LAST]


def test_pages_render_for_dates_recorded_before_the_range_was_enforced(site: Site) -> None:
    """A store may hold 0001-01-01 and 9999-12-31 from before: the pages and the feed still answer."""
    project = Project(name="Legacy", client="Acme", description="", actor="before-the-rules")
    for number, day in ((1, date.min), (2, date.max)):
        project._milestone_planned(milestone_id=f"M{number}", stage="research", title=f"Odd {number}", due_on=day,
                                   deliverables=[], actor="before-the-rules")
    recordings = site.services.app.save(project)
    site.services.reads.wait_for(recordings[-1].notification.id)
    pm = _pm(site)
    for path in (f"/p/{project.id}", f"/pm/p/{project.id}", f"/audit/p/{project.id}", "/portfolio"):
        assert pm.client.get(path).status_code == 200, path
    feed = Calendar.from_ical(pm.client.get(f"/p/{project.id}/milestones.ics").content)
    assert sorted(e.decoded("dtstart") for e in feed.walk("VEVENT")) == [date.min, date.max]


def test_the_console_form_refuses_a_date_out_of_range_and_records_nothing(site: Site) -> None:
    pid = site.project()
    pm = _pm(site)
    console = pm.client.get(f"/pm/p/{pid}").text
    assert 'min="1970-01-01" max="2199-12-31"' in console
    refused = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/plan_milestone",
                      title="Go live", stage="research", due_on="9999-12-31", anchor="plan-milestone")
    assert refused.status_code == 200 and refused.history[0].status_code == 303  # post/redirect/get
    t = Translator("en")  # the field by its name, the dates as the page writes dates
    assert (f"{t.field_label('due_on')}: must be between {t.date(date(1970, 1, 1))} and {t.date(date(2199, 12, 31))}"
            in refused.text)
    assert site.services.app.get_project(pid).version == 1


@pytest.mark.parametrize(("query", "field"), [
    ("position=²", "position"), ("position=١٢", "position"), (f"position={2**63}", "position"),
    (f"position={2**70}", "position"), ("position=-1", "position"), ("after=abc", "after"),
    (f"after={2**64}", "after"), ("after=1e3", "after"),
])
def test_an_unreadable_audit_query_is_a_400_page_naming_the_field(site: Site, query: str, field: str) -> None:
    pid = site.project()
    page = _pm(site).client.get(f"/audit/p/{pid}?{query}")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert f"{field}: must be a whole number between 0 and {2**63 - 1:,}" in page.text


def test_the_largest_position_is_read(site: Site) -> None:
    pid = site.project()
    page = _pm(site).client.get(f"/audit/p/{pid}?position={2**63 - 1}&after={2**63 - 1}")
    assert page.status_code == 200


# ------------------------------------------------------- stored text in exports

# Names recorded before the rules above (or imported): the exports must still carry them safely.
HOSTILE = "Mall; app, \\ line\nbreak\u0001 \u001b[31mred\u001b[0m — " + "长" * 40


def _legacy_project(site: Site, name: str = HOSTILE, title: str = "=HYPERLINK(\"http://x\")") -> str:
    project = Project(name=name, client="Acme", description="", actor="before-the-rules")
    project._milestone_planned(milestone_id="M1", stage="research", title=title, due_on=date(2030, 1, 1),
                               deliverables=[], actor="before-the-rules")
    recordings = site.services.app.save(project)
    site.services.reads.wait_for(recordings[-1].notification.id)
    return str(project.id)


def _check_ics(body: bytes, name: str) -> None:
    assert all(len(line) <= 75 for line in body.split(b"\r\n")), "lines are folded at 75 octets"
    assert b"\x01" not in body and b"\x1b" not in body
    text = body.decode()
    assert "X-WR-CALNAME:Mall\\; app\\, \\\\ line\\nbreak" in text
    calendar = Calendar.from_ical(body)
    (event,) = calendar.walk("VEVENT")
    assert str(event["summary"]).startswith("=HYPERLINK")


def test_the_calendar_feed_escapes_and_folds_stored_text(site: Site, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pid = _legacy_project(site)
    feed = _pm(site).client.get(f"/p/{pid}/milestones.ics")
    assert feed.status_code == 200
    _check_ics(feed.content, HOSTILE)
    monkeypatch.setenv("DELIVERY_DATABASE_URL", site.services.database.url)
    out = tmp_path / "m.ics"
    assert main(["export", "--format", "ics", "--project", pid, "--out", str(out)]) == 0
    _check_ics(out.read_bytes(), HOSTILE)


@pytest.mark.parametrize("title", ["=1+2", "+1", "-1", "@SUM(A1)", "\tTab", "\rCR"])
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, title: str,
) -> None:
    pid = _legacy_project(site, name="Mall", title=title)
    monkeypatch.setenv("DELIVERY_DATABASE_URL", site.services.database.url)
    out = tmp_path / "m.csv"
    assert main(["export", "--format", "csv", "--view", "milestones", "--project", pid, "--out", str(out)]) == 0
    import csv

    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["title"] == "'" + title
    assert rows[0]["slip_days"] == "0"  # numbers stay numbers


def test_delivery_status_prints_no_escape_sequences(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _legacy_project(site)
    monkeypatch.setenv("DELIVERY_DATABASE_URL", site.services.database.url)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Mall; app" in out and "red" in out
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", out), repr(out)
