"""Core path first on the pages: non-core work requested while core items are open, research left without a
funnel; the change log names them in both languages and the portfolio counts them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from delivery.settings import Database
from tests.e2e.pages_helpers import Site, make_site


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def project_with_early_request(site: Site) -> tuple[str, str]:
    pid = site.project("Fresh grocery mini-program")
    app = site.services.app
    app.add_scope_item(pid, title="Checkout", tier="core", actor="setup")
    for stage, nxt in (("research", "solution"), ("solution", "planning")):
        app.waive_stage_plan(pid, stage=stage, reason="planned elsewhere", actor="setup")
        app.transition(pid, to_stage=nxt, actor="setup")
    cr = app.raise_change_request(pid, title="Member points", requested_by="Marketing", kind="add",
                                  tier="value_added", schedule_days=5, cost=2000, actor="setup").value
    site.services.reads.wait_for(site.services.app.recorder.max_notification_id())
    return pid, str(cr)


def test_the_change_log_names_early_requests_and_the_missing_funnel_in_both_languages(site: Site) -> None:
    pid, cr = project_with_early_request(site)
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    page = visitor.client.get(f"/pm/p/{pid}").text
    assert f"touchpoint or value-added work requested while core-path items are still open: {cr}" in page
    assert "the project left research without a conversion funnel" in page
    assert "requested before core was done" in page
    visitor.client.cookies.set("dt_lang", "zh-CN")
    page = visitor.client.get(f"/pm/p/{pid}").text
    assert f"核心路径功能尚未完成时申请了触点或增值功能：{cr}" in page
    assert "项目未建立转化漏斗就离开了需求调研" in page
    assert "核心完成前申请" in page
    portfolio = visitor.client.get("/portfolio").text
    assert "2 条核心路径预警" in portfolio


def test_non_core_work_scheduled_before_the_core_path_warns_until_its_milestone_is_done(site: Site) -> None:
    pid = site.project("Loyalty mini-program")
    app = site.services.app
    app.add_scope_item(pid, title="Checkout", tier="core", actor="setup")
    points = app.add_scope_item(pid, title="Member points", tier="value_added", actor="setup").value
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    page = visitor.post(f"/pm/p/{pid}", f"/pm/p/{pid}/do/plan_milestone", title="Points live", stage="research",
                        due_on="2031-01-15", deliverables="", **{f"deliver_{points}": "on"}, anchor="plan-milestone")
    assert page.status_code == 200 and "Milestone planned." in page.text
    assert f'data-delivers="{points}"' in page.text and "non-core work scheduled before the core path" in page.text
    assert "touchpoint or value-added work scheduled while core-path items are still open: M1" in page.text
    checklist_free = app.complete_milestone(pid, milestone_id="M1", actor="setup")
    site.services.reads.wait_for(checklist_free.position)
    page = visitor.client.get(f"/pm/p/{pid}").text
    assert "scheduled while core-path items are still open" not in page
    # A milestone delivering only core work never warns.
    app.plan_milestone(pid, title="Checkout live", stage="research", due_on="2031-02-01",
                       scope_item_ids=["S1"], actor="setup")
    site.services.reads.wait_for(app.recorder.max_notification_id())
    assert site.services.reads.change_log(pid).drift.scheduled_before_core == []
