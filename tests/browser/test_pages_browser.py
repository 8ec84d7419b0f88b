"""The issue's scenarios in a real browser: roles, share links, the gate refusal, the as-of picker,
the language switch, and the portal at phone width."""

from __future__ import annotations

import re
from typing import Any

import pytest

from delivery import clock
from delivery.stages import STAGES
from tests.browser.conftest import REQUIRE_BROWSER, sign_in
from tests.browser.server import Served

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - only on a machine without the dev dependencies
    if REQUIRE_BROWSER:
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)


def test_a_client_signs_in_and_sees_only_their_project(served: Served, context: Any) -> None:
    mine, other = served.project("Client portal project", "Acme"), served.project("Someone else's", "Globex")
    page = context.new_page()
    sign_in(page, served, served.token("client", [mine], name="Acme PO"))
    expect(page).to_have_url(f"{served.url}/p/{mine}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Client portal project")
    expect(page.locator("li.stage[aria-current=step]")).to_contain_text("Requirement research")
    page.goto(f"{served.url}/p/{other}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    page.goto(f"{served.url}/portfolio")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")


def test_a_share_link_opens_and_a_revoked_one_does_not(served: Served, browser: Any, context: Any) -> None:
    pid = served.project("Shared project")
    pm = context.new_page()
    sign_in(pm, served, served.token("pm"))
    pm.goto(f"{served.url}/pm/p/{pid}")
    pm.get_by_label("Valid for (days)").fill("3")
    pm.get_by_role("button", name="Create share link").click()
    link = pm.locator("#new-share-link").input_value()
    assert re.fullmatch(rf"{re.escape(served.url)}/s/[\w-]+", link)

    guest = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        page = guest.new_page()
        page.goto(link)
        expect(page.get_by_role("heading", level=1)).to_have_text("Shared project")
        expect(page.get_by_text("read-only link")).to_be_visible()
    finally:
        guest.close()

    pm.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(pm.locator("[data-link] .badge")).to_have_text("revoked")
    late = browser.new_context()
    try:
        page = late.new_page()
        page.goto(link)
        expect(page.get_by_role("alert")).to_contain_text("expired or revoked")
    finally:
        late.close()


def test_a_pm_sees_the_gate_refusal_then_advances_the_stage(served: Served, context: Any) -> None:
    pid = served.project("Gated project")
    served.services.app.plan_milestone(pid, title="Requirements signed off", stage="research",
                                       due_on=clock.today(), actor="setup")
    page = context.new_page()
    sign_in(page, served, served.token("pm"))
    page.goto(f"{served.url}/pm/p/{pid}")
    actions = page.locator("#stage-actions")
    expect(actions.locator("#gate-unmet")).to_contain_text("complete milestone M1")
    actions.get_by_role("button", name="Move to Product & solution confirmation").click()
    refusal = page.locator("#stage-actions [role=alert]")
    expect(refusal).to_contain_text("milestone M1 'Requirements signed off' is not completed")
    assert page.url.endswith("#stage-actions")

    page.locator("#ms-M1").get_by_role("button", name="Complete milestone").click()
    expect(page.locator("#ms-M1 [role=status]")).to_have_text("✓ Milestone completed.")
    page.locator("#stage-actions").get_by_role("button", name="Move to Product & solution confirmation").click()
    expect(page.locator("li.stage[aria-current=step]")).to_contain_text("Product & solution confirmation")


def test_a_pm_creates_a_project_from_a_template_picked_on_the_portfolio(served: Served, context: Any) -> None:
    page = context.new_page()
    sign_in(page, served, served.token("pm"))
    page.goto(f"{served.url}/portfolio")
    form = page.locator("section#create_project form")
    form.get_by_label("Name").fill("Inquiry website")
    form.get_by_label("Client").fill("Guangzhou Machinery")
    form.get_by_label("Stage template").select_option("website_inquiry")
    form.get_by_label("Start date").fill("2026-03-02")
    form.get_by_role("button", name="Create project").click()
    expect(page.locator("#plan-template")).to_contain_text("Website inquiry system")
    expect(page.locator("main")).to_contain_text("Inquiry loop and conversion funnel")
    expect(page.locator("main")).to_contain_text("Concurrent visitors sustained")


def test_the_portal_charts_the_funnel_expected_against_actual(served: Served, context: Any) -> None:
    pid = served.project("Funnel project")
    app = served.services.app
    app.define_funnel(pid, steps=[{"name": "Browse", "expected_rate": 60}, {"name": "Cart", "expected_rate": 35},
                                  {"name": "Pay", "expected_rate": 80}], actor="setup")
    for stage in STAGES[:-1]:
        app.waive_stage_plan(pid, stage=stage, reason="test", actor="setup")
        if stage.value == "trial":
            release = app.plan_release(pid, version="1.0", steps=[100], actor="setup").value
            app.start_release(pid, release_id=release, actor="setup")
            app.complete_release(pid, release_id=release, actor="setup")
        app.transition(pid, to_stage=stage.next, actor="setup")
    app.record_funnel_actuals(pid, rates=[58, 20, 82], actor="setup")
    page = context.new_page()
    sign_in(page, served, served.token("pm"))
    page.goto(f"{served.url}/p/{pid}")
    chart = page.locator("svg#funnel-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.expected")).to_have_count(3)
    expect(chart.locator("rect.actual")).to_have_count(3)
    expect(chart.locator("rect.actual.worst")).to_have_count(1)
    expect(page.locator("#funnel-worst")).to_contain_text("Cart")


def test_the_auditor_picker_shows_an_earlier_state(served: Served, context: Any) -> None:
    pid = served.project("Audited project")
    first = served.services.reads.audit_log(pid).items[0].position
    served.services.app.waive_stage_plan(pid, stage="research", reason="done in the tender", actor="setup")
    served.services.app.transition(pid, to_stage="solution", actor="setup")
    page = context.new_page()
    sign_in(page, served, served.token("auditor"))
    page.goto(f"{served.url}/audit/p/{pid}")
    expect(page.locator("li.stage[aria-current=step]")).to_contain_text("Product & solution")
    page.get_by_label("Or at event").select_option(str(first))
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#cut")).to_contain_text(f"event #{first}")
    expect(page.locator("li.stage[aria-current=step]")).to_contain_text("Requirement research")


def test_switching_language_is_remembered(served: Served, context: Any) -> None:
    pid = served.project("Language project")
    page = context.new_page()
    sign_in(page, served, served.token("client", [pid]))
    expect(page.get_by_role("heading", name="Stages")).to_be_visible()
    page.get_by_role("link", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_role("heading", name="交付阶段")).to_be_visible()
    expect(page.locator("li.stage[aria-current=step]")).to_contain_text("需求调研与沟通")
    page.reload()
    expect(page.get_by_role("heading", name="交付阶段")).to_be_visible()
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Stages")).to_be_visible()


def test_the_pages_fit_a_phone_without_horizontal_scroll(served: Served, browser: Any) -> None:
    pid = served.project("A project with a rather long name that must wrap on a phone", "Client")
    app = served.services.app
    app.plan_milestone(pid, title="Research", stage="research", due_on=clock.today(), actor="setup")
    phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        sign_in(page, served, served.token("pm"))
        for path in (f"/p/{pid}", f"/pm/p/{pid}", "/portfolio", f"/audit/p/{pid}"):
            page.goto(served.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, (path, width)
        page.goto(f"{served.url}/p/{pid}")
        expect(page.locator(".tl-list")).to_be_visible()  # the timeline as a list at phone width
        expect(page.locator("#milestone-timeline")).to_be_hidden()
        # Focus is visible: the first tab stop (the skip link) comes on screen with an outline.
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"
    finally:
        phone.close()


def test_the_forecast_shows_on_the_console_and_the_portal_in_both_languages(served: Served, context: Any) -> None:
    pid = served.project("Forecast project")
    app = served.services.app
    today = clock.today()
    first = app.plan_milestone(pid, title="Interviews held", stage="research", due_on=today, actor="setup").value
    app.plan_milestone(pid, title="Go live", stage="launch", due_on=today.replace(year=today.year + 1),
                       actor="setup")
    app.complete_milestone(pid, milestone_id=first, actor="setup")
    page = context.new_page()
    sign_in(page, served, served.token("pm"))
    for path in (f"/pm/p/{pid}", f"/p/{pid}"):
        page.goto(served.url + path)
        section = page.locator("section#forecast")
        expect(section.get_by_role("heading", name="Slip forecast")).to_be_visible()
        expect(page.locator("#forecast-basis")).to_contain_text("From milestones completed: 1 in this project")
        expect(section.locator("tr[data-milestone]")).to_have_count(1)
        expect(section.locator("tr[data-milestone]")).to_contain_text("Go live")
        expect(page.locator("#forecast-launch")).to_contain_text("four in five by")
    page.goto(f"{served.url}/lang/zh-CN?next=/p/{pid}")
    expect(page.locator("section#forecast").get_by_role("heading", name="延期预测")).to_be_visible()
    expect(page.locator("#forecast-basis")).to_contain_text("依据本项目已完成的 1 个里程碑")
