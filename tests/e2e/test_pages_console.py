"""The console over HTTP (no browser): post/redirect/get, refusals that never re-submit, stale forms refused,
corrections, only the valid actions offered, and the history in words."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from delivery import clock
from delivery.settings import Database
from tests.e2e.pages_helpers import Site, Visitor, make_site
from web import flash


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def _pm(site: Site, name: str = "Pat") -> Visitor:
    visitor = site.visitor()
    visitor.sign_in(site.token("pm", name=name))
    return visitor


def _version(page_text: str) -> str:
    versions = set(re.findall(r'name="version" value="(\d+)"', page_text))
    assert len(versions) == 1, versions  # every form carries the one version the page was rendered from
    return str(versions.pop())


def _block(page: str, anchor: str) -> str:
    """The markup of one item: from its id to the next item, form card or section."""
    start = page.index(f'id="{anchor}"')
    ends = [i for i in (page.find(mark, start + 10) for mark in ('id="add-crit-', "</article>", "</section>",
                                                                 '<li class="item'))
            if i != -1]
    return page[start:min(ends)]


def _events(site: Site, pid: str) -> int:
    return int(site.services.app.get_project(pid).version)


def test_a_post_answers_a_redirect_to_the_item_and_the_result_shows_there_once(site: Site) -> None:
    pid = site.project()
    pm = _pm(site)
    console = f"/pm/p/{pid}"
    answer = pm.client.post(f"{console}/do/add_scope_item", follow_redirects=False, data={
        "csrf": pm.csrf(console), "title": "Checkout", "tier": "core", "anchor": "add-scope", "version": "1"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{console}#scope-S1"  # the new item, not the form
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{flash.COOKIE}="))
    assert f"Path={console}" in cookie and "HttpOnly" in cookie and "Max-Age=120" in cookie
    page = pm.client.get(console)
    assert "✓ Scope item added." in _block(page.text, "scope-S1")  # beside the item it made
    # Shown once: the reload shows the page as it is, and records nothing again.
    again = pm.client.get(console)
    assert "✓ Scope item added." not in again.text
    assert _events(site, pid) == 2


def test_a_refusal_redirects_keeps_the_input_and_a_reload_submits_nothing(site: Site) -> None:
    pid = site.project()
    pm = _pm(site)
    console = f"/pm/p/{pid}"
    site.services.app.add_scope_item(pid, title="Checkout", tier="core", actor="pm")
    version = _version(pm.client.get(console).text)
    answer = pm.client.post(f"{console}/do/add_scope_item", follow_redirects=False, data={
        "csrf": pm.csrf(console), "title": "checkout", "tier": "touchpoint", "anchor": "add-scope",
        "version": version})
    assert answer.status_code == 303 and answer.headers["location"] == f"{console}#add-scope"
    page = pm.client.get(console)
    card = re.search(r'<div class="card" id="add-scope">.*?</form>', page.text, re.S)
    assert card, page.text[-2000:]
    assert 'data-code="duplicate"' in card[0] and "already has the title" in card[0]
    assert re.search(r'id="add-scope-title"[^>]*value="checkout"[^>]*aria-invalid="true"', card[0])
    assert '<option value="touchpoint" selected' in card[0]
    # The browser sits on a GET: reloading it asks for the page again, never for the command.
    reloaded = pm.client.get(console)
    assert reloaded.status_code == 200 and "already has the title" not in reloaded.text
    assert _events(site, pid) == 2


def test_a_flash_from_another_session_or_project_is_ignored(site: Site) -> None:
    pid, other = site.project("One"), site.project("Two")
    pm = _pm(site)
    console = f"/pm/p/{pid}"
    pm.client.post(f"{console}/do/add_scope_item", follow_redirects=False, data={
        "csrf": pm.csrf(console), "title": "Checkout", "tier": "core", "anchor": "add-scope"})
    stolen = pm.client.cookies.get(flash.COOKIE)
    assert stolen
    thief = _pm(site, "Sam")
    thief.client.cookies.set(flash.COOKIE, stolen)
    assert "✓ Scope item added." not in thief.client.get(console).text  # signed with the other session's secret
    forged = stolen[:-4] + ("0000" if not stolen.endswith("0000") else "1111")
    pm.client.cookies.set(flash.COOKIE, forged)
    assert "✓" not in pm.client.get(console).text
    assert flash.unpack("secret", flash.pack("secret", {"pid": other, "anchor": "x"})) == {
        "pid": other, "anchor": "x", "values": {}}


def test_a_stale_form_is_refused_names_what_changed_and_the_retry_is_recorded(site: Site) -> None:
    pid = site.project()
    app = site.services.app
    app.plan_milestone(pid, title="Prototype", stage="research", due_on=clock.today() + timedelta(days=9),
                       actor="pm")
    app.add_criterion(pid, milestone_id="M1", text="Client signs off", actor="pm")
    site.services.reads.catch_up()
    console = f"/pm/p/{pid}"
    first, second = _pm(site, "Ann"), _pm(site, "Bo")
    seen_by_first = _version(first.client.get(console).text)
    # The other pm moves the project on from the same version.
    second.post(console, f"{console}/do/reword_criterion", criterion_id="AC1", text="Client signs off the prototype",
                anchor="crit-AC1", version=_version(second.client.get(console).text))
    before = _events(site, pid)
    page = first.post(console, f"{console}/do/verify_criterion", criterion_id="AC1", note="Signed PDF",
                      anchor="crit-AC1", version=seen_by_first)
    assert _events(site, pid) == before  # refused: nothing recorded
    item = _block(page.text, "crit-AC1")
    assert 'data-code="version_mismatch"' in item
    assert f"Your form was from version {seen_by_first}" in item
    assert "Bo reworded criterion AC1 from Client signs off to Client signs off the prototype" in item
    assert 'value="Signed PDF"' in item  # the pm's input is kept for the retry
    retry = first.post(console, f"{console}/do/verify_criterion", criterion_id="AC1", note="Signed PDF",
                       anchor="crit-AC1", version=_version(page.text))
    assert "✓ Verified." in retry.text
    assert site.services.reads.checklist(pid).stages[0].milestones[0].items[0].state == "verified"


def test_a_bad_version_field_is_refused_naming_it(site: Site) -> None:
    pid = site.project()
    pm = _pm(site)
    console = f"/pm/p/{pid}"
    page = pm.post(console, f"{console}/do/add_scope_item", title="Checkout", tier="core", anchor="add-scope",
                   version="seven")
    assert "version: must be the project version the form was rendered from" in page.text
    assert _events(site, pid) == 1


def test_corrections_on_the_console_and_in_the_history(site: Site) -> None:
    pid = site.project("Mall app")
    app = site.services.app
    app.add_scope_item(pid, title="Chekout", tier="core", actor="pm")
    app.plan_milestone(pid, title="Protoype", stage="research", due_on=clock.today() + timedelta(days=9),
                       deliverables=["Spec"], actor="pm")
    app.add_criterion(pid, milestone_id="M1", text="Client sings off", actor="pm")
    site.services.reads.catch_up()
    pm = _pm(site)
    console = f"/pm/p/{pid}"

    def do(command: str, anchor: str, **fields: str) -> str:
        page = pm.post(console, f"{console}/do/{command}", anchor=anchor,
                       version=_version(pm.client.get(console).text), **fields)
        assert 'class="ok flash"' in page.text, page.text[-3000:]
        return str(page.text)

    do("rename_project", "rename", name="Mall mini-program")
    do("retitle_scope_item", "scope-S1", item_id="S1", title="Checkout")
    do("retitle_milestone", "ms-M1", milestone_id="M1", title="Prototype")
    do("revise_deliverables", "ms-M1", milestone_id="M1", deliverables="Spec\nClickable prototype")
    page = do("reword_criterion", "crit-AC1", criterion_id="AC1", text="Client signs off")
    assert '<h1 id="project-name">Mall mini-program</h1>' in page
    assert "S1 · Checkout" in page and "M1 · Prototype" in page and "AC1 · Client signs off" in page
    assert "Spec · Clickable prototype" in page
    history = re.search(r'<section id="history".*?</section>', page, re.S)
    assert history
    for sentence in ("Pat renamed the project from Mall app to Mall mini-program",
                     "Pat retitled scope item S1 from Chekout to Checkout",
                     "Pat retitled milestone M1 from Protoype to Prototype",
                     "Pat revised the deliverables of M1: Spec and Clickable prototype (were: Spec)",
                     "Pat reworded criterion AC1 from Client sings off to Client signs off"):
        assert sentence in history[0]
    row = site.services.reads.portfolio(now=clock.now(), limit=10).items[0]
    assert row.name == "Mall mini-program"
    # A verified criterion's text is frozen: the console offers no reword, and a forged post is refused.
    pm.post(console, f"{console}/do/verify_criterion", criterion_id="AC1", note="Signed", anchor="crit-AC1")
    page = pm.client.get(console).text
    assert "/do/reword_criterion" not in _block(page, "crit-AC1")
    refused = pm.post(console, f"{console}/do/reword_criterion", criterion_id="AC1", text="Other", anchor="crit-AC1")
    assert 'data-code="invalid_state"' in refused.text and "its text is what was signed off" in refused.text


def test_only_the_actions_an_item_allows_are_offered(site: Site) -> None:
    pid = site.project()
    pm = _pm(site)
    console = f"/pm/p/{pid}"
    empty = pm.client.get(console).text
    # A new project: no dropdown of nothing, and each empty section says what to do first.
    assert "<option" not in re.search(r'<section id="changes".*?</section>', empty, re.S)[0]  # type: ignore[index]
    assert "Change requests start once the baseline freezes" in empty
    assert "No milestones yet: plan the first one below" in empty
    assert "Releases run in trial and launch; the project is in Requirement research" in empty
    assert "/do/plan_release" not in empty and "/do/raise_change_request" not in empty
    app = site.services.app
    app.plan_milestone(pid, title="Research", stage="research", due_on=clock.today(), actor="pm")
    app.add_criterion(pid, milestone_id="M1", text="Notes signed", actor="pm")
    app.verify_criterion(pid, criterion_id="AC1", evidence="PDF", actor="pm")
    site.services.reads.catch_up()
    page = pm.client.get(console).text
    buttons = re.findall(r"<button[^>]*>([^<]+)</button>", _block(page, "crit-AC1"))
    assert buttons == ["Reject"]  # verified: no verify, no waive, no reword
    assert "Move to Product &amp; solution confirmation" in page
    assert "/do/complete_launch" not in page


def test_the_console_shows_the_decision_trails(site: Site) -> None:
    pid = site.project()
    app = site.services.app
    app.add_scope_item(pid, title="Checkout", tier="core", actor="pm")
    app.plan_milestone(pid, title="Research", stage="research", due_on=clock.today() + timedelta(days=20),
                       actor="pm")
    app.add_criterion(pid, milestone_id="M1", text="Notes signed", actor="pm")
    app.reject_criterion(pid, criterion_id="AC1", reason="Unsigned draft", actor="Lee")
    app.verify_criterion(pid, criterion_id="AC1", evidence="Signed PDF", actor="Kim")
    app.reschedule_milestone(pid, milestone_id="M1", due_on=clock.today() + timedelta(days=30),
                             reason="Workshop moved", actor="Lee")
    app.complete_milestone(pid, milestone_id="M1", actor="pm")
    app.waive_stage_plan(pid, stage="solution", reason="In the tender", actor="pm")
    app.transition(pid, to_stage="solution", actor="pm")
    app.transition(pid, to_stage="planning", actor="pm")
    cr = app.raise_change_request(pid, title="Coupons", requested_by="Client", kind="add", tier="value_added",
                                  actor="pm").value
    app.reject_change_request(pid, change_request_id=cr, reason="Core path first", actor="Kim")
    site.services.reads.catch_up()
    page = _pm(site).client.get(f"/pm/p/{pid}").text
    crit = _block(page, "crit-AC1")
    assert "verified by Kim" in crit and "rejected by Lee" in crit and "Unsigned draft" in crit
    milestone = re.search(r'id="ms-M1".*?</article>', page, re.S)
    assert milestone and "Workshop moved" in milestone[0] and "Originally due" in milestone[0]
    change = _block(page, "cr-CR1")
    assert re.search(r"raised by pm, .*\(Milestones &amp; detailed planning\)", change)
    assert "rejected by Kim" in change and "Core path first" in change
    assert "/do/approve_change_request" not in change  # decided: nothing left to do on it


def test_the_currency_is_set_on_the_console_and_costs_are_shown_in_it(site: Site) -> None:
    pid = site.project("Mall app")
    app = site.services.app
    app.add_scope_item(pid, title="Checkout", tier="core", actor="pm")
    app.plan_milestone(pid, title="Research", stage="research", due_on=clock.today() + timedelta(days=20),
                       actor="pm")
    app.complete_milestone(pid, milestone_id="M1", actor="pm")
    app.waive_stage_plan(pid, stage="solution", reason="In the tender", actor="pm")
    app.transition(pid, to_stage="solution", actor="pm")
    app.transition(pid, to_stage="planning", actor="pm")
    app.raise_change_request(pid, title="Coupons", kind="add", tier="touchpoint", requested_by="Client",
                             schedule_days=3, cost="1500", actor="pm")
    site.services.reads.catch_up()
    pm = _pm(site)
    console = f"/pm/p/{pid}"
    assert "CNY\u00a01,500" in pm.client.get(console).text  # the default, named
    refused = pm.post(console, f"{console}/do/set_currency", anchor="currency", currency="DOLLARS",
                      version=_version(pm.client.get(console).text))
    assert "currency: must be an ISO 4217 currency code" in refused.text
    page = pm.post(console, f"{console}/do/set_currency", anchor="currency", currency="usd",
                   version=_version(pm.client.get(console).text))
    assert 'class="ok flash"' in page.text, page.text[-3000:]
    assert "USD\u00a01,500" in page.text and "CNY\u00a01,500" not in page.text
    zh = pm.client.get(console, cookies={"dt_lang": "zh-CN"}).text
    assert "US$1,500" in zh  # the locale's symbol for the project's currency
    assert app.get_project(pid).currency == "USD"
