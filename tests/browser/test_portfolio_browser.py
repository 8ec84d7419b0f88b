"""The portfolio's search and the milestone timeline in Chromium: desktop chart, phone list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from delivery import clock
from tests.browser.conftest import REQUIRE_BROWSER, sign_in
from tests.browser.server import Served

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - only on a machine without the dev dependencies
    if REQUIRE_BROWSER:
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)


def test_the_search_finds_part_of_a_client_in_any_case_and_keeps_the_sort(served: Served, context: Any) -> None:
    served.project("Kiosk refresh", "Kestrel Outfitters")  # the served store is shared: a term no other test uses
    served.project("Loyalty app", "Old Guard Ltd")
    page = context.new_page()
    sign_in(page, served, served.token("pm"))
    page.goto(served.url + "/portfolio?sort=client")
    page.get_by_label("Search name or client").fill("KESTREL out")
    page.get_by_role("button", name="Filter").click()
    assert "q=KESTREL+out" in page.url and "sort=client" in page.url
    rows = page.locator("table.portfolio tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Kiosk refresh")
    expect(page.get_by_role("heading", name="1 matching project")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download these projects as CSV").click()
    with open(download.value.path(), encoding="utf-8") as saved:
        text = saved.read()
    assert "Kiosk refresh" in text and "Loyalty app" not in text


def _planned(served: Served) -> str:
    pid = served.project("Timeline project")
    app = served.services.app
    today = clock.today()
    app.plan_milestone(pid, title="Workshop notes", stage="research", due_on=today + timedelta(days=10), actor="pm")
    last = app.plan_milestone(pid, title="Prototype signed off", stage="solution", due_on=today + timedelta(days=40),
                              actor="pm")
    served.services.reads.wait_for(last.position)
    return pid


def test_the_timeline_is_a_chart_on_a_desktop_and_a_list_on_a_phone(served: Served, browser: Any,
                                                                    context: Any) -> None:
    pid = _planned(served)
    token = served.token("pm")
    page = context.new_page()
    sign_in(page, served, token)
    page.goto(f"{served.url}/p/{pid}")
    chart = page.locator("#milestone-timeline")
    expect(chart).to_be_visible()
    expect(page.locator(".tl-list")).to_be_hidden()
    expect(chart.locator("g.band")).to_have_count(2)
    box = chart.bounding_box()
    for label in chart.locator("text").all():  # nothing drawn past the chart's edges
        b = label.bounding_box()
        assert b is not None and box is not None
        assert b["x"] >= box["x"] - 1 and b["x"] + b["width"] <= box["x"] + box["width"] + 1, label.text_content()
    page.get_by_role("link", name="this quarter").click()
    assert "zoom=quarter" in page.url
    expect(page.locator("#timeline")).to_have_attribute("data-zoom", "quarter")

    phone = browser.new_context(viewport={"width": 375, "height": 740})
    try:
        small = phone.new_page()
        sign_in(small, served, token)
        small.goto(f"{served.url}/p/{pid}")
        expect(small.locator("#milestone-timeline")).to_be_hidden()
        expect(small.locator(".tl-list")).to_be_visible()
        expect(small.locator(".tl-list")).to_contain_text("Prototype signed off")
        assert small.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        phone.close()
