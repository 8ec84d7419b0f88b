"""The audit page's event table: payloads shown escaped, filters by type and actor kept across pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from delivery import clock
from delivery.settings import Database
from tests.e2e.pages_helpers import Site, Visitor, make_site


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def auditor(site: Site) -> Visitor:
    v = site.visitor()
    v.sign_in(site.token("auditor"))
    return v


def positions(html: str) -> list[int]:
    return [int(p) for p in re.findall(r'<tr data-position="(\d+)"', html)]


def test_payloads_are_shown_as_fields_and_escaped(site: Site) -> None:
    pid = site.project("Payloads")
    app = site.services.app
    due = clock.today() + timedelta(days=30)
    recorded = app.plan_milestone(pid, title="<script>alert(1)</script> sign-off", stage="research", due_on=due,
                                  deliverables=["Prototype", "Notes"], actor="Li Lei")
    site.services.reads.wait_for(recorded.position)
    page = auditor(site).client.get(f"/audit/p/{pid}").text
    row = page[page.index(f'<tr data-position="{recorded.position}"'):]
    row = row[:row.index("</tr>")]
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; sign-off" in row
    assert ">title</dt>" in row and ">due date</dt><dd>" + f"{due:%b} {due.day}, {due.year}" in row
    assert "<li>Prototype</li><li>Notes</li>" in row and "Li Lei" in row
    assert "{" not in row.split('class="payload"')[1]  # fields, not JSON


def test_the_filters_narrow_the_table_and_the_next_page_keeps_them(site: Site) -> None:
    pid = site.project("Filtered")
    app = site.services.app
    last = None
    for i in range(205):
        last = app.add_scope_item(pid, title=f"Item {i}", tier="core", actor="Ann" if i % 2 else "Bob")
    app.plan_milestone(pid, title="M", stage="research", due_on=clock.today(), actor="Ann")
    assert last is not None
    site.services.reads.wait_for(app.recorder.max_notification_id())
    v = auditor(site)
    ann = v.client.get(f"/audit/p/{pid}", params={"actor": "Ann"}).text
    assert len(positions(ann)) == 103 and '<option value="Ann" selected>' in ann
    items = v.client.get(f"/audit/p/{pid}", params={"type": "ScopeItemAdded"}).text
    assert len(positions(items)) == 200
    (more,) = re.findall(r'<a href="([^"]+)" rel="next">', items)
    assert more.startswith(f"/audit/p/{pid}?type=ScopeItemAdded&amp;after=")
    rest = v.client.get(more.replace("&amp;", "&")).text
    assert len(positions(rest)) == 5 and positions(rest)[0] > positions(items)[-1]
    both = v.client.get(f"/audit/p/{pid}", params={"type": "MilestonePlanned", "actor": "Bob"}).text
    assert positions(both) == [] and "No event matches this filter." in both
    # The position picker still offers the whole log, whatever the filter.
    assert 'option value="1"' in both or re.search(r'<option value="\d+"[^>]*>#\d+ · Created', both)


def test_the_api_filters_the_same_way(site: Site) -> None:
    pid = site.project("API filter")
    app = site.services.app
    for i in range(3):
        app.add_scope_item(pid, title=f"Item {i}", tier="core", actor="Ann")
    app.plan_milestone(pid, title="M", stage="research", due_on=clock.today(), actor="Bob")
    site.services.reads.wait_for(app.recorder.max_notification_id())
    client = site.visitor().client
    headers = {"Authorization": f"Bearer {site.token('auditor')}"}
    found = client.get(f"/api/v1/projects/{pid}/events", params={"type": ["ScopeItemAdded", "Created"]},
                       headers=headers).json()
    assert [e["type"] for e in found["items"]] == ["Created", "ScopeItemAdded", "ScopeItemAdded", "ScopeItemAdded"]
    page = client.get(f"/api/v1/projects/{pid}/events", params={"actor": "Bob", "limit": 1}, headers=headers).json()
    assert [e["type"] for e in page["items"]] == ["MilestonePlanned"] and page["next_cursor"] is None
    bad = client.get(f"/api/v1/projects/{pid}/events", params={"type": "Nope"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "type.0"  # the first value
