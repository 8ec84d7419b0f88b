"""The auditors' tools on the pages over HTTP: the integrity badge, the export button, the diff view,
and the milestones feed through a client's share link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from icalendar import Calendar

from delivery import clock
from delivery.settings import Database
from projections.export import export_lines
from projections.integrity import Verifier
from tests.e2e.pages_helpers import Site, Visitor, make_site
from tests.integration.test_audit_chain import Tamperer

T0 = datetime(2030, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def _planned(site: Site) -> str:
    """A project with a scope item and a milestone, recorded an hour apart from T0."""
    app = site.services.app
    with clock.frozen_at(T0):
        pid = str(app.create_project(name="Mall mini-program", client="Acme", actor="setup").project_id)
    with clock.frozen_at(T0 + timedelta(hours=1)):
        app.add_scope_item(pid, title="Checkout", tier="core", actor="pat")
    with clock.frozen_at(T0 + timedelta(hours=2)):
        recorded = app.plan_milestone(pid, title="Research signed off", stage="research",
                                      due_on=date(2030, 4, 1), actor="pat")
    site.services.reads.wait_for(recorded.position)
    return pid


def _signed_in(site: Site, role: str, projects: list[str] | None = None) -> Visitor:
    visitor = site.visitor()
    visitor.sign_in(site.token(role, projects))
    return visitor


def _badge(html: str) -> str:
    found = re.search(r'<p class="integrity [^"]*"[^>]*>.*?</p>', html, re.S)
    assert found, html[-3000:]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found[0])).strip()


def test_the_badge_says_valid_on_an_untouched_store_and_where_it_breaks_after_an_edit(site: Site) -> None:
    pid = _planned(site)
    auditor = _signed_in(site, "auditor")
    page = auditor.client.get(f"/audit/p/{pid}")
    assert page.status_code == 200
    verdict = Verifier(site.services.app, site.services.reads.store).project_chain(pid)  # as the API computes it
    assert 'data-valid="true"' in page.text
    badge = _badge(page.text)
    assert "History intact" in badge and "3 events verified" in badge and f"head {verdict.head[:12]}…" in badge
    assert f'title="{verdict.head}"' in page.text

    Tamperer(site.services.database).edit(2, title="Forged")
    broken = auditor.client.get(f"/audit/p/{pid}")
    assert broken.status_code == 200 and 'data-valid="false"' in broken.text
    badge = _badge(broken.text)
    assert "History broken at event #2 (altered)" in badge and "1 event verified" in badge
    # The pm's console shows the same verdict; in Chinese too.
    pm = _signed_in(site, "pm")
    pm.client.cookies.set("dt_lang", "zh-CN")
    console = pm.client.get(f"/pm/p/{pid}")
    assert console.status_code == 200
    assert "历史在事件 #2 处断裂（被修改）" in _badge(console.text)


def test_the_export_button_downloads_the_same_bytes_as_export_lines(site: Site) -> None:
    pid = _planned(site)
    expected = "".join(export_lines(site.services.app, site.services.reads.store, pid)).encode("utf-8")
    for role in ("auditor", "pm"):
        visitor = _signed_in(site, role)
        page = visitor.client.get(f"/audit/p/{pid}")
        assert f'href="/audit/p/{pid}/export" download' in page.text
        response = visitor.client.get(f"/audit/p/{pid}/export")
        assert response.status_code == 200, role
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["content-disposition"] == f'attachment; filename="project-{pid}.jsonl"'
        assert response.content == expected
    unknown = _signed_in(site, "auditor").client.get("/audit/p/00000000-0000-4000-8000-000000000000/export")
    assert unknown.status_code == 404


def test_the_diff_view_shows_a_known_change_with_the_events_that_did_it(site: Site) -> None:
    pid = _planned(site)
    app = site.services.app
    with clock.frozen_at(T0 + timedelta(days=1)):
        recorded = app.reschedule_milestone(pid, milestone_id="M1", due_on=date(2030, 4, 8),
                                            reason="client review", actor="pat")
    site.services.reads.wait_for(recorded.position)
    auditor = _signed_in(site, "auditor")
    assert 'action="/audit/p/' in auditor.client.get(f"/audit/p/{pid}").text  # the form is on the replay page
    page = auditor.client.get(f"/audit/p/{pid}/diff", params={"from": "2030-03-02T10:30", "to": "2030-03-03T12:00"})
    assert page.status_code == 200, page.text[-2000:]
    text = page.text
    assert 'value="2030-03-02T10:30"' in text and 'value="2030-03-03T12:00"' in text  # the moments are kept
    assert "2 events." in text  # the milestone planned at 11:00, the reschedule the next day
    milestones = re.search(r'data-view="milestones">.*?</section>', text, re.S)
    assert milestones and '<article class="diff-item" data-item="M1" data-change="added">' in milestones[0]
    assert "Milestone M1 “Research signed off” was added." in milestones[0]
    assert f'#{recorded.position} <span data-type="MilestoneRescheduled">milestone rescheduled</span>' in milestones[0]
    scope = re.search(r'data-view="scope">.*?</section>', text, re.S)
    assert scope and 'class="diff-item"' not in scope[0]  # the scope item was added before the window

    later = auditor.client.get(f"/audit/p/{pid}/diff", params={"from": "2030-03-02T12:00:00", "to": "2030-03-04"})
    m1 = re.search(r'<article class="diff-item" data-item="M1" data-change="changed">.*?</article>', later.text, re.S)
    assert m1, later.text[-3000:]
    # A sentence and a table of what changed, dates written as the page writes them: no raw JSON.
    assert re.search(r'<tr data-field="due_on"><th scope="row"[^>]*>due date</th>\s*'
                     r'<td[^>]*><del>Apr 1, 2030</del></td><td[^>]*><ins>Apr 8, 2030</ins></td></tr>', m1[0])
    assert "{" not in m1[0] and "changed:" in m1[0]
    assert f'href="/audit/p/{pid}?position={recorded.position}"' in m1[0]

    zh = auditor.client.get(f"/audit/p/{pid}/diff", params={"from": "2030-03-02T12:00:00", "to": "2030-03-04"},
                            headers={"Accept-Language": "zh-CN"})
    assert "变更对比" in zh.text and "里程碑" in zh.text and ">修改</span>" in zh.text

    bad = auditor.client.get(f"/audit/p/{pid}/diff", params={"from": "yesterday"})
    assert bad.status_code == 422 and re.search(r'id="diff-from"[^>]*aria-invalid="true"', bad.text)
    assert 'value="yesterday"' in bad.text and 'role="alert"' in bad.text
    # Latest first is the same window (as in the API).
    backwards = auditor.client.get(f"/audit/p/{pid}/diff", params={"from": "2030-03-04", "to": "2030-03-03"})
    assert backwards.status_code == 200 and 'aria-invalid="true"' not in backwards.text


def test_the_calendar_feed_through_a_share_link_stops_when_revoked(site: Site) -> None:
    pid = _planned(site)
    pm = _signed_in(site, "pm")
    created = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share", days="7")
    feed = re.search(r'value="http://testserver(/share/[\w-]+/milestones\.ics)" id="new-share-feed"', created.text)
    assert feed, created.text[-2000:]
    secret = feed[1].split("/")[2]

    calendar_app = site.visitor()  # no cookie: a calendar subscribing to the address
    response = calendar_app.client.get(feed[1])
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    # In the reader's language (English here): the stage by its name, the status as a word.
    assert [str(e["summary"]) for e in events] == [
        "Research signed off (Requirement research & communication, in progress)"]

    # The portal opened by the link gives the feed's address.
    guest = site.visitor()
    portal = guest.client.get(f"/s/{secret}")
    assert portal.url.path == f"/p/{pid}"
    assert f'value="http://testserver{feed[1]}?lang=en" id="feed-url"' in portal.text
    assert "data-valid" not in portal.text and "/export" not in portal.text and "diff-form" not in portal.text

    (link_id,) = re.findall(r'data-link="(\w+)"', created.text)
    pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share/{link_id}/revoke")
    refused = calendar_app.client.get(feed[1])
    assert refused.status_code == 404 and "BEGIN:VCALENDAR" not in refused.text
    assert site.visitor().client.get("/share/not-a-secret/milestones.ics").status_code == 404


def test_the_feed_stops_when_the_link_expires(site: Site) -> None:
    pid = _planned(site)
    secret, _ = site.app.state.web.create_link(pid, days=1, created_by="pm")
    calendar_app = site.visitor()
    assert calendar_app.client.get(f"/share/{secret}/milestones.ics").status_code == 200
    with clock.frozen_at(clock.now() + timedelta(days=1, seconds=1)):
        assert site.app.state.web.live_link(secret) is None
        assert calendar_app.client.get(f"/share/{secret}/milestones.ics").status_code == 404


def test_a_client_sees_no_badge_export_or_diff(site: Site) -> None:
    pid = _planned(site)
    client = _signed_in(site, "client", [pid])
    portal = client.client.get(f"/p/{pid}")
    assert portal.status_code == 200
    assert "data-valid" not in portal.text and "/export" not in portal.text and "diff-form" not in portal.text
    assert f'href="/p/{pid}/milestones.ics?lang=en"' in portal.text  # signed in with a token: a download
    assert client.client.get(f"/p/{pid}/milestones.ics").status_code == 200
    for path in ("", "/export", "/diff", "/diff?from=2030-03-02"):
        assert client.client.get(f"/audit/p/{pid}{path}").status_code == 403, path
    assert client.client.get(f"/pm/p/{pid}").status_code == 403
    other = site.project("Other", "Globex")
    assert client.client.get(f"/p/{other}/milestones.ics").status_code == 404
