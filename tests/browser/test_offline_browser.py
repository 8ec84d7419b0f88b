"""Nothing from another host: `/docs`, `/redoc` and every page load only from the server that answers them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import REQUIRE_BROWSER, sign_in
from tests.browser.server import Served

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - only on a machine without the dev dependencies
    if REQUIRE_BROWSER:
        raise
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)


def block_other_hosts(context: Any, served: Served) -> list[str]:
    """Abort every request to a host other than the served one; the list fills with what was asked for."""
    own = urlsplit(served.url).netloc
    foreign: list[str] = []

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own:
            foreign.append(url)
            request_route.abort()
        else:
            request_route.continue_()

    context.route("**/*", route)
    return foreign


def test_swagger_ui_lists_the_operations_with_no_other_host(served: Served, context: Any) -> None:
    foreign = block_other_hosts(context, served)
    page = context.new_page()
    page.goto(served.url + "/docs", timeout=20000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible(timeout=15000)
    path = "/api/v1/projects/{project_id}/milestones"
    milestones = page.locator(".opblock-summary-path").get_by_text(path, exact=True)
    expect(milestones.first).to_be_visible()  # GET the list, POST a new one
    assert foreign == []


def test_redoc_lists_the_operations_with_no_other_host(served: Served, context: Any) -> None:
    foreign = block_other_hosts(context, served)
    page = context.new_page()
    page.goto(served.url + "/redoc", timeout=20000)
    expect(page.get_by_text("Delivery tracker API").first).to_be_visible(timeout=15000)
    expect(page.get_by_text("/api/v1/projects/{project_id}/milestones").first).to_be_attached(timeout=15000)
    assert foreign == []


def test_no_page_asks_another_host(served: Served, context: Any) -> None:
    foreign = block_other_hosts(context, served)
    pid = served.project("Offline pages", "Newcomer Retail")
    page = context.new_page()
    sign_in(page, served, served.token("pm"))
    paths = ["/portfolio", "/portfolio?q=newcomer", f"/p/{pid}", f"/pm/p/{pid}", f"/audit/p/{pid}",
             f"/audit/p/{pid}/diff", f"/audit/p/{pid}?after=abc", f"/p/{pid}?zoom=quarter", "/no-such-page",
             "/docs", "/redoc", "/signin"]
    for path in paths:
        page.goto(served.url + path, timeout=20000)  # /docs and /redoc load 1–1.5 MB of script
        expect(page.locator("h1").first).to_be_visible(timeout=15000)
    for lang in ("zh-CN",):
        page.goto(f"{served.url}/lang/{lang}?next=/portfolio")
        expect(page.locator("h1").first).to_be_visible()
    assert foreign == []
