"""The pages over HTTP (no browser): sign-in, roles, CSRF, forms that call the commands, share links, language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from delivery import clock
from delivery.settings import Database
from delivery.stages import STAGES
from tests.e2e.pages_helpers import Site, make_site
from web.commands import COMMANDS


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def test_pages_ask_to_sign_in_and_refuse_a_bad_token(site: Site) -> None:
    visitor = site.visitor()
    page = visitor.client.get("/portfolio", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/signin?next=/portfolio"
    refused = visitor.sign_in("dt_not-a-token")
    assert refused.status_code == 401 and "unknown or has been revoked" in refused.text


def test_session_cookie_is_httponly_lax_and_secure_over_https(site: Site) -> None:
    token = site.token("pm")
    plain = site.visitor().sign_in(token)
    cookie = next(h for h in plain.history[0].headers.get_list("set-cookie") if h.startswith("dt_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    secure = site.visitor(base_url="https://testserver").sign_in(token)
    cookie = next(h for h in secure.history[0].headers.get_list("set-cookie") if h.startswith("dt_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_a_client_sees_only_its_own_project(site: Site) -> None:
    mine, other = site.project("Mine", "Acme"), site.project("Other", "Globex")
    visitor = site.visitor()
    landed = visitor.sign_in(site.token("client", [mine]))
    assert landed.url.path == f"/p/{mine}" and "Mine" in landed.text
    assert visitor.client.get(f"/p/{other}").status_code == 404
    assert visitor.client.get("/portfolio").status_code == 403
    assert visitor.client.get(f"/pm/p/{mine}").status_code == 403
    assert visitor.client.get(f"/audit/p/{mine}").status_code == 403
    # A client's page names nobody who recorded anything.
    assert "setup" not in visitor.client.get(f"/p/{mine}").text


def test_a_form_without_its_csrf_token_is_refused_and_records_nothing(site: Site) -> None:
    pid = site.project()
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    refused = visitor.client.post(f"/pm/p/{pid}/do/add_scope_item", data={"title": "Checkout", "tier": "core"})
    assert refused.status_code == 403
    forged = visitor.client.post(f"/pm/p/{pid}/do/add_scope_item",
                                 data={"csrf": "guess", "title": "Checkout", "tier": "core"})
    assert forged.status_code == 403
    assert site.services.reads.summary(pid).scope == []


def test_the_gate_refusal_shows_beside_the_form_then_the_move_succeeds(site: Site) -> None:
    pid = site.project()
    app = site.services.app
    app.plan_milestone(pid, title="Research signed off", stage="research", due_on=clock.today(), actor="pm")
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    console = f"/pm/p/{pid}"
    refused = visitor.post(console, f"{console}/do/transition", to_stage="solution", anchor="stage-actions")
    # Post/redirect/get, refusals included: the console at the form, the refusal beside it.
    assert [r.status_code for r in refused.history] == [303] and refused.status_code == 200
    assert refused.history[0].headers["location"] == f"{console}#stage-actions"
    assert re.search(r'id="stage-actions-error" data-code="gate_not_met"', refused.text)
    assert "M1 &#39;Research signed off&#39; is not completed" in refused.text
    visitor.post(console, f"{console}/do/complete_milestone", milestone_id="M1")
    moved = visitor.post(console, f"{console}/do/transition", to_stage="solution", reason="")
    assert moved.status_code == 200 and moved.url.path == console
    assert site.services.reads.summary(pid).stage == "solution"


def test_invalid_input_names_the_field_and_keeps_the_values(site: Site) -> None:
    pid = site.project()
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    console = f"/pm/p/{pid}"
    page = visitor.post(console, f"{console}/do/plan_milestone", title="Prototype", stage="research",
                        due_on="2026-02-31", deliverables="Spec\nDemo", anchor="plan-milestone")
    assert page.status_code == 200 and page.history[0].status_code == 303
    assert re.search(r'id="plan-milestone-error" data-code="invalid_input"', page.text)
    assert 'value="Prototype"' in page.text and ">Spec\nDemo</textarea>" in page.text  # what was typed is kept
    assert re.search(r'id="plan-milestone-due_on"[^>]*value="2026-02-31"[^>]*aria-invalid="true"', page.text)
    assert site.services.reads.milestones(pid, now=clock.now()).items == []


def test_every_command_has_a_form_on_the_console(site: Site) -> None:
    folder = Path(__file__).parents[2] / "web" / "templates"
    template = (folder / "console.html").read_text()
    template += "".join((folder / name).read_text() for name in re.findall(r'{% include "([\w.]+)" %}', template))
    posted = set(re.findall(r'/do/(\w+)"', template)) | set(re.findall(r'c\.form\("(\w+)"', template))
    assert posted == set(COMMANDS)


def test_the_console_drives_a_project_through_the_commands(site: Site) -> None:
    pid = site.project()
    visitor = site.visitor()
    visitor.sign_in(site.token("pm", name="Pat"))
    console = f"/pm/p/{pid}"

    def do(command: str, **fields: str) -> None:
        page = visitor.post(console, f"{console}/do/{command}", **fields)
        done = f'class="ok flash" role="status" id="flash" data-command="{command}"'
        assert page.status_code == 200 and done in page.text, (command, page.text[-3000:])

    do("add_scope_item", title="Checkout", tier="core")
    do("plan_milestone", title="Prototype", stage="research", due_on=str(clock.today() + timedelta(days=3)),
       deliverables="Clickable prototype\nSpec")
    do("add_criterion", milestone_id="M1", text="p95 load within a second", metric_name="p95_ms",
       comparator="<=", threshold="1000", unit="ms")
    do("reject_criterion", criterion_id="AC1", reason="no Android figures")
    do("verify_criterion", criterion_id="AC1", evidence="load test", measured="850")
    do("reschedule_milestone", milestone_id="M1", due_on=str(clock.today() + timedelta(days=5)), reason="review")
    do("complete_milestone", milestone_id="M1")
    do("transition", to_stage="solution")
    page = visitor.post(console, f"{console}/do/transition", to_stage="planning")
    assert page.status_code == 200 and "no plan for this stage" in page.text  # no gate passes silently
    do("waive_stage_plan", stage="solution", reason="agreed in the kick-off")
    assert "agreed in the kick-off" in visitor.client.get(console).text
    do("transition", to_stage="planning")  # freezes the baseline: scope now changes by request only
    do("raise_change_request", title="Coupons", requested_by="Client PO", kind="add", tier="value_added",
       schedule_days="3", cost="1500")
    do("approve_change_request", change_request_id="CR1", reason="weekly review")
    summary = site.services.reads.summary(pid)
    assert next((i.title, i.tier) for i in summary.scope) == ("Checkout", "core")
    checklist = site.services.reads.checklist(pid)
    assert checklist.stages[0].milestones[0].items[0].state == "verified"
    log = site.services.reads.change_log(pid)
    assert log.entries[0].status == "approved" and log.entries[0].raised_by == "Pat"


def test_share_links_open_one_project_and_stop_when_revoked(site: Site) -> None:
    pid, other = site.project("Shared"), site.project("Private")
    pm = site.visitor()
    pm.sign_in(site.token("pm"))
    created = pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share", days="7")
    link = re.search(r'value="http://testserver(/s/[\w-]+)" id="new-share-link"', created.text)
    assert link, created.text[-2000:]
    guest = site.visitor()
    opened = guest.client.get(link[1])
    assert opened.url.path == f"/p/{pid}" and "read-only link" in opened.text
    assert guest.client.get(f"/p/{other}").status_code == 404
    (link_id,) = re.findall(r'data-link="(\w+)"', created.text)
    pm.post(f"/pm/p/{pid}", f"/pm/p/{pid}/share/{link_id}/revoke")
    assert guest.client.get(f"/p/{pid}", follow_redirects=False).status_code == 303  # its session ended
    again = site.visitor().client.get(link[1])
    assert again.status_code == 404 and "revoked" in again.text


def test_a_share_link_expires(site: Site) -> None:
    pid = site.project()
    store = site.app.state.web
    secret, _ = store.create_link(pid, days=1, created_by="pm")
    session_id = store.open_for_share(secret)
    assert store.session(session_id) is not None
    with clock.frozen_at(clock.now() + timedelta(days=1, seconds=1)):
        assert store.open_for_share(secret) is None
        assert store.session(session_id) is None


def test_language_from_accept_language_then_the_remembered_switch(site: Site) -> None:
    visitor = site.visitor()
    zh = visitor.client.get("/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-CN">' in zh.text and "访问令牌" in zh.text
    switched = visitor.client.get("/lang/en?next=/signin", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in switched.text and "Access token" in switched.text
    assert "Access token" in visitor.client.get("/signin", headers={"Accept-Language": "zh-CN"}).text
    away = visitor.client.get("/lang/zh-CN?next=//evil.example/", follow_redirects=False)
    assert away.headers["location"] == "/"


def test_refusals_read_in_chinese(site: Site) -> None:
    pid = site.project()
    site.services.app.plan_milestone(pid, title="调研", stage="research", due_on=clock.today(), actor="pm")
    visitor = site.visitor()
    visitor.client.cookies.set("dt_lang", "zh-CN")
    visitor.sign_in(site.token("pm"))
    page = visitor.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/transition", to_stage="solution")
    assert "当前阶段尚不能结束" in page.text and "里程碑 M1「调研」尚未完成" in page.text


def test_a_stage_without_a_plan_is_named_in_chinese(site: Site) -> None:
    pid = site.project()
    visitor = site.visitor()
    visitor.client.cookies.set("dt_lang", "zh-CN")
    visitor.sign_in(site.token("pm"))
    page = visitor.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/transition", to_stage="solution")
    assert page.status_code == 200 and "此阶段尚无计划：请为其计划里程碑，或记录跳过原因" in page.text


def test_the_auditor_sees_an_earlier_state(site: Site) -> None:
    pid = site.project()
    first = site.services.reads.audit_log(pid).items[0]
    site.services.app.add_scope_item(pid, title="Checkout", tier="core", actor="pm")
    site.services.app.waive_stage_plan(pid, stage="research", reason="done in the tender", actor="pm")
    site.services.app.transition(pid, to_stage="solution", actor="pm")
    auditor = site.visitor()
    auditor.sign_in(site.token("auditor"))
    now = auditor.client.get(f"/audit/p/{pid}")
    assert re.search(r'class="stage current" aria-current="step" data-stage="solution"', now.text)
    then = auditor.client.get(f"/audit/p/{pid}", params={"position": first.position})
    assert 'data-stage="research"' in then.text and f"event #{first.position}" in then.text
    assert re.search(r'class="stage current" aria-current="step" data-stage="research"', then.text)
    bad = auditor.client.get(f"/audit/p/{pid}", params={"as_of": "yesterday"})
    assert bad.status_code == 400 and "2026-11-01T12:00" in bad.text


def test_portfolio_columns_sort_the_whole_portfolio_across_pages(sqlite_url: str) -> None:
    """A column header orders every project (server-side), and the next page keeps that order."""
    import re

    from fastapi.testclient import TestClient

    from api.app import create_app
    from delivery.settings import Database
    from delivery.stages import Stage

    app = create_app(Database(sqlite_url))
    services = app.state.services
    pm_token = services.tokens.create(role="pm", name="pm")[0]
    stages = ("research", "solution", "planning")
    for i in range(25):
        pid = services.app.create_project(name=f"P{i:02d}", client="C", actor="pm").value
        for stage in stages[1:1 + (i * 7) % 3]:
            services.app.waive_stage_plan(pid, stage=Stage(stage).previous, reason="small job", actor="pm")
            services.app.transition(pid, to_stage=stage, actor="pm")
    expected = sorted((f"P{i:02d}" for i in range(25)), key=lambda n: ((int(n[1:]) * 7) % 3, n))
    row = re.compile(r'<tr data-project="[^"]+">\s*<td[^>]*><a [^>]*>(P\d\d)</a>')
    with TestClient(app) as client:
        signin = client.get("/signin")
        csrf = re.search(r'name="csrf" value="([^"]+)"', signin.text)
        client.post("/signin", data={"token": pm_token, **({"csrf": csrf.group(1)} if csrf else {})})
        first = client.get("/portfolio", params={"sort": "stage"})
        assert first.status_code == 200, first.text
        nxt = re.search(r'href="(/portfolio\?[^"]*)" rel="next"', first.text)
        assert nxt is not None
        second = client.get(nxt.group(1).replace("&amp;", "&"))
        assert row.findall(first.text) + row.findall(second.text) == expected


def test_the_create_form_plans_from_a_template_or_names_the_bad_field(site: Site) -> None:
    visitor = site.visitor()
    visitor.sign_in(site.token("pm", name="Pat"))
    before = len(site.services.reads.portfolio(now=clock.now(), limit=500).items)
    refused = visitor.post("/portfolio", "/portfolio/projects", name="Site", client="Acme", template="",
                           start_on="2026-03-02")
    assert [r.status_code for r in refused.history] == [303] and refused.url.path == "/portfolio"  # PRG
    assert refused.status_code == 200 and 'id="create_project-start_on"' in refused.text
    assert 'value="Site"' in refused.text  # the input comes back with the refusal
    assert re.search(r'id="create_project-start_on"[^>]*aria-invalid="true"', refused.text)
    assert len(site.services.reads.portfolio(now=clock.now(), limit=500).items) == before
    made = visitor.post("/portfolio", "/portfolio/projects", name="Site", client="Acme",
                        template="website_inquiry", start_on="2026-03-02")
    assert made.status_code == 200 and "/pm/p/" in made.url.path
    pid = made.url.path.rsplit("/", 1)[-1]
    project = site.services.app.get_project(pid)
    assert project.template == "website_inquiry" and len(project.milestones) == 8
    assert {e.actor for e in site.services.app.events.get(project.id)} == {"Pat"}


def _to_launch(site: Site, pid: str) -> None:
    """Every stage's plan waived, a release ramped to 100%: the project in launch."""
    app = site.services.app
    for stage in STAGES[:-1]:
        app.waive_stage_plan(pid, stage=stage, reason="test", actor="setup")
        if stage.value == "trial":
            release = app.plan_release(pid, version="1.0", steps=[100], actor="setup").value
            app.start_release(pid, release_id=release, actor="setup")
            app.complete_release(pid, release_id=release, actor="setup")
        app.transition(pid, to_stage=stage.next, actor="setup")


def test_the_funnel_is_defined_and_measured_on_the_console_and_shown_on_the_portal(site: Site) -> None:
    pid = site.project()
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    console = f"/pm/p/{pid}"
    bad = visitor.post(console, f"{console}/do/define_funnel", steps="Browse = 60\nCart thirty", anchor="define-funnel")
    assert bad.status_code == 200 and "steps [2]: must read like" in bad.text
    assert re.search(r'id="define-funnel-steps"[^>]*aria-invalid="true"', bad.text)
    too_high = visitor.post(console, f"{console}/do/define_funnel", steps="Browse = 60\nCart = 130%\nPay = 80")
    assert too_high.status_code == 200 and "steps [2] · " in too_high.text
    ok = visitor.post(console, f"{console}/do/define_funnel", steps="Browse = 60\nCart: 35%\n下单：80")
    assert ok.status_code == 200 and "✓ Funnel defined." in ok.text
    assert [(s.name, s.expected_rate) for s in site.services.reads.summary(pid).funnel] == [
        ("Browse", 60.0), ("Cart", 35.0), ("下单", 80.0)]

    _to_launch(site, pid)
    site.services.reads.catch_up()
    measured = visitor.post(console, f"{console}/do/record_funnel_actuals", rates="58, 20%, 82")
    assert measured.status_code == 200 and "✓ Actual conversion recorded." in measured.text
    portal = visitor.client.get(f"/p/{pid}").text
    assert 'id="funnel-chart"' in portal and "Biggest shortfall: Cart" in portal
    assert re.search(r'<tr data-step="2" class="worst"><td>Cart</td><td>35%</td>\s*<td>20%</td>\s*<td>-15.0</td>',
                     portal)
