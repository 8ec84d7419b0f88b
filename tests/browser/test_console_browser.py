"""The PM console in Chromium: each inline action clicked where its item is, the result on screen after it,
two tabs on one project, and no request to another host."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import expect

from delivery import clock
from tests.browser.conftest import sign_in
from tests.browser.server import Served


def _on_screen(page: Any, selector: str) -> None:
    """The element is inside the viewport, after whatever scrolling the redirect did."""
    locator = page.locator(selector)
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    height = page.evaluate("window.innerHeight")
    assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box, height)


def _confirmed(page: Any, anchor: str, text: str) -> None:
    status = f"#{anchor} [role=status]"
    expect(page.locator(status)).to_have_text(f"✓ {text}")
    _on_screen(page, status)
    assert page.url.endswith(f"#{anchor}")


def _in_trial(served: Served, name: str) -> str:
    pid = served.project(name)
    app = served.services.app
    for stage in ("research", "solution", "planning", "development", "integration_test", "uat"):
        app.waive_stage_plan(pid, stage=stage, reason="not in this test", actor="setup")
        app.transition(pid, to_stage={"research": "solution", "solution": "planning", "planning": "development",
                                      "development": "integration_test", "integration_test": "uat",
                                      "uat": "trial"}[stage], actor="setup")
    return pid


def test_each_criterion_and_milestone_action_confirms_beside_its_item(served: Served, context: Any) -> None:
    pid = served.project("Inline criteria")
    app = served.services.app
    for i in range(1, 9):  # enough milestones that the last ones sit far down the page
        app.plan_milestone(pid, title=f"Milestone {i}", stage="research",
                           due_on=clock.today() + timedelta(days=10 + i), deliverables=["Spec"], actor="setup")
        app.add_criterion(pid, milestone_id=f"M{i}", text=f"Criterion {i}", actor="setup")
    app.add_criterion(pid, milestone_id="M8", text="p95 load", actor="setup",
                      metric={"name": "p95_ms", "comparator": "<=", "threshold": 1000, "unit": "ms"})
    served.services.reads.catch_up()
    page = context.new_page()
    sign_in(page, served, served.token("pm", name="Pat"))
    page.goto(f"{served.url}/pm/p/{pid}")

    crit = page.locator("#crit-AC8")
    crit.get_by_label("Evidence (to verify) or reason (to reject or waive)").fill("no sign-off yet")
    crit.get_by_role("button", name="Reject").click()
    _confirmed(page, "crit-AC8", "Rejected.")
    expect(page.locator("#crit-AC8 .badge")).to_have_text("rejected")

    page.locator("#crit-AC8").get_by_label("Evidence (to verify) or reason (to reject or waive)").fill("Signed PDF")
    page.locator("#crit-AC8").get_by_role("button", name="Verify").click()
    _confirmed(page, "crit-AC8", "Verified.")
    expect(page.locator("#crit-AC8 .decided")).to_contain_text("verified by Pat")

    measured = page.locator("#crit-AC9")
    measured.get_by_label("Measured p95_ms").fill("1400")
    measured.get_by_label("Evidence (to verify) or reason (to reject or waive)").fill("load test")
    measured.get_by_role("button", name="Verify").click()
    refusal = page.locator("#crit-AC9 [role=alert]")
    expect(refusal).to_contain_text("does not meet p95_ms <= 1,000 ms")
    _on_screen(page, "#crit-AC9 [role=alert]")
    expect(page.locator("#crit-AC9").get_by_label("Measured p95_ms")).to_have_value("1400")
    page.reload()  # a reload asks for the page, never re-sends the refused verify
    expect(page.locator("#crit-AC9 .badge")).to_have_text("open")
    page.locator("#crit-AC9").get_by_label("Evidence (to verify) or reason (to reject or waive)").fill("agreed")
    page.locator("#crit-AC9").get_by_role("button", name="Waive").click()
    _confirmed(page, "crit-AC9", "Waived.")

    page.locator("#crit-AC7 summary", has_text="Reword").click()
    page.locator("#crit-AC7").get_by_label("Text", exact=True).fill("Criterion seven, reworded")
    page.locator("#crit-AC7").get_by_role("button", name="Reword").click()
    _confirmed(page, "crit-AC7", "Criterion reworded.")
    expect(page.locator("#crit-AC7")).to_contain_text("Criterion seven, reworded")

    page.locator("#ms-M7 summary", has_text="Reschedule").click()
    page.locator("#ms-M7").get_by_label("Due on").fill((clock.today() + timedelta(days=40)).isoformat())
    page.locator("#ms-M7").get_by_label("Reason", exact=True).fill("Client workshop moved")
    page.locator("#ms-M7").get_by_role("button", name="Reschedule").click()
    _confirmed(page, "ms-M7", "Rescheduled.")
    expect(page.locator("#ms-M7")).to_contain_text("Client workshop moved")

    page.locator("#ms-M6 summary", has_text="Retitle").click()
    page.locator("#ms-M6").get_by_label("Title", exact=True).fill("Milestone six")
    page.locator("#ms-M6").get_by_role("button", name="Retitle").click()
    _confirmed(page, "ms-M6", "Milestone retitled.")

    page.locator("#ms-M8").get_by_role("button", name="Complete milestone").click()
    _confirmed(page, "ms-M8", "Milestone completed.")
    expect(page.locator("#ms-M8 .badge").first).to_have_text("done")


def test_change_request_and_release_actions_offer_only_what_the_state_allows(served: Served, context: Any) -> None:
    pid = _in_trial(served, "Inline changes and releases")
    app = served.services.app
    for title in ("Coupons", "Points", "Live chat"):
        app.raise_change_request(pid, title=title, requested_by="Client", kind="add", tier="value_added",
                                 actor="setup")
    app.plan_release(pid, version="1.0", steps=[10, 100],
                     health=[{"metric": "error_rate", "comparator": "<=", "threshold": 1}], actor="setup")
    served.services.reads.catch_up()
    page = context.new_page()
    sign_in(page, served, served.token("pm", name="Pat"))
    page.goto(f"{served.url}/pm/p/{pid}")

    page.locator("#cr-CR1").get_by_role("button", name="Approve").click()
    _confirmed(page, "cr-CR1", "Approved.")
    page.locator("#cr-CR1").get_by_role("button", name="Mark implemented").click()
    _confirmed(page, "cr-CR1", "Marked implemented.")
    expect(page.locator("#cr-CR1 button")).to_have_count(0)
    page.locator("#cr-CR2").get_by_label("Reason (required to reject)").fill("Core path first")
    page.locator("#cr-CR2").get_by_role("button", name="Reject").click()
    _confirmed(page, "cr-CR2", "Rejected.")
    expect(page.locator("#cr-CR2 .trail")).to_contain_text("rejected by Pat")
    page.locator("#cr-CR3").get_by_role("button", name="Withdraw").click()
    _confirmed(page, "cr-CR3", "Withdrawn.")

    release = page.locator("#rel-R1")
    expect(release.get_by_role("button")).to_have_text(["Start"])  # a planned release only starts
    release.get_by_role("button", name="Start").click()
    _confirmed(page, "rel-R1", "Release started.")
    page.locator("#rel-R1 summary", has_text="Record observation").click()
    page.locator("#rel-R1").get_by_label("Observed metrics").fill("error_rate = 3")
    page.locator("#rel-R1").get_by_role("button", name="Record observation").click()
    _confirmed(page, "rel-R1", "Observation recorded.")
    expect(page.locator("#rel-R1 table.observations")).to_contain_text("error_rate = 3 ✗ fail")
    page.locator("#rel-R1").get_by_role("button", name="Advance to 100%").click()
    expect(page.locator("#rel-R1 [role=alert]")).to_contain_text("unhealthy at 10%")
    _on_screen(page, "#rel-R1 [role=alert]")
    page.locator("#rel-R1 summary", has_text="Pause or roll back").click()
    page.locator("#rel-R1").get_by_label("Reason", exact=True).fill("error spike")
    page.locator("#rel-R1").get_by_role("button", name="Pause").click()
    _confirmed(page, "rel-R1", "Paused.")
    expect(page.locator("#rel-R1").get_by_role("button", name="Advance to 100%")).to_have_count(0)
    page.locator("#rel-R1").get_by_role("button", name="Resume").click()
    _confirmed(page, "rel-R1", "Resumed.")
    page.locator("#rel-R1 summary", has_text="Record observation").click()
    page.locator("#rel-R1").get_by_label("Observed metrics").fill("error_rate = 0.2")
    page.locator("#rel-R1").get_by_role("button", name="Record observation").click()
    page.locator("#rel-R1").get_by_role("button", name="Advance to 100%").click()
    _confirmed(page, "rel-R1", "Advanced to the next step.")
    page.locator("#rel-R1 summary", has_text="Record observation").click()
    page.locator("#rel-R1").get_by_label("Observed metrics").fill("error_rate = 0.1")
    page.locator("#rel-R1").get_by_role("button", name="Record observation").click()
    page.locator("#rel-R1").get_by_role("button", name="Complete").click()
    _confirmed(page, "rel-R1", "Release completed.")
    expect(page.locator("#rel-R1 .badge")).to_have_text("completed · 100%")


def test_two_tabs_on_one_project_the_stale_one_is_told_what_changed(served: Served, context: Any) -> None:
    pid = served.project("Two tabs")
    app = served.services.app
    app.add_scope_item(pid, title="Checkout", tier="core", actor="setup")
    app.add_scope_item(pid, title="Share card", tier="touchpoint", actor="setup")
    served.services.reads.catch_up()
    first = context.new_page()
    sign_in(first, served, served.token("pm", name="Ann"))
    first.goto(f"{served.url}/pm/p/{pid}")
    second = context.new_page()
    second.goto(f"{served.url}/pm/p/{pid}")
    second.locator("#scope-S1").get_by_role("button", name="Mark delivered").click()
    _confirmed(second, "scope-S1", "Marked delivered.")

    first.locator("#scope-S2 summary", has_text="Retitle").click()
    first.locator("#scope-S2").get_by_label("Title", exact=True).fill("Share poster")
    first.locator("#scope-S2").get_by_role("button", name="Retitle").click()
    stale = first.locator("#scope-S2 [role=alert]")
    expect(stale).to_contain_text("Not recorded: the project changed since you opened this page")
    expect(stale).to_contain_text("Ann marked scope item S1 delivered")
    _on_screen(first, "#scope-S2 [role=alert]")
    expect(first.locator("#scope-S2").get_by_label("Title", exact=True)).to_have_value("Share poster")
    first.locator("#scope-S2").get_by_role("button", name="Retitle").click()  # the retry, now current
    _confirmed(first, "scope-S2", "Scope item retitled.")
    expect(first.locator("#scope-S2")).to_contain_text("Share poster")


def test_the_console_asks_no_other_host_and_works_in_chinese(served: Served, browser: Any) -> None:
    pid = served.project("Offline console")
    served.services.app.plan_milestone(pid, title="调研", stage="research", due_on=clock.today(), actor="setup")
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    hosts: set[str] = set()
    ctx.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
    try:
        page = ctx.new_page()
        sign_in(page, served, served.token("pm", name="李雷"))
        ctx.add_cookies([{"name": "dt_lang", "value": "zh-CN", "url": served.url}])
        page.goto(f"{served.url}/pm/p/{pid}")
        expect(page.locator("nav.sections")).to_contain_text("里程碑与验收项")
        page.locator("#stage-actions").get_by_role("button", name="进入「产品与方案确认」").click()
        expect(page.locator("#stage-actions [role=alert]")).to_contain_text("当前阶段尚不能结束")
        page.locator("#ms-M1").get_by_role("button", name="完成里程碑").click()
        _confirmed(page, "ms-M1", "里程碑已完成。")
        expect(page.locator("#history")).to_contain_text("李雷 于")
    finally:
        ctx.close()
    assert hosts == {urlparse(served.url).netloc}, hosts
