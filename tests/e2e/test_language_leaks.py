"""Nothing leaks between the languages: every page, read by every role in Chinese over a store whose user
data is all Chinese, shows no Latin word that is not user data or an allowed name (units, ids, formats);
and in English over an all-English store, no Chinese. The failure lists every leak, grouped by page.

Set LEAK_REPORT=<file> to also write the full report there (each language appends its part).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from delivery.settings import Database
from tests.e2e.crawler import Crawler, Leak, leaks, report, user_data_pattern
from tests.e2e.language_store import Store, build_store
from tests.e2e.pages_helpers import Visitor

UNKNOWN_PROJECT = "00000000-0000-4000-8000-000000000000"
LANG_ATTR = re.compile(r'<html lang="([^"]+)"')


@pytest.fixture(scope="module", params=["zh", "en"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp(f"lang-{request.param}") / "delivery.sqlite3"
    yield from build_store(Database(f"sqlite:///{path}"), request.param)


def _visitor(store: Store, role: str | None) -> Crawler:
    client = TestClient(store.site.app, cookies={"dt_lang": store.page_lang})
    if role is not None:
        signed = Visitor(client).sign_in(store.tokens[role])
        assert signed.status_code < 400, (role, signed.status_code)
    return Crawler(client, role or "signed out", store.names["filler"])


def _moment(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def crawl(store: Store) -> list[Crawler]:
    """Every role's walk over the site, forms included; the crawlers keep what they read."""
    ids = store.ids
    late, release = ids["late"], ids["release"]
    projects = list(ids.values())

    anon = _visitor(store, None)
    anon.crawl(["/signin", "/", "/nope", f"/s/{'x' * 32}"])
    anon.visit("/signin", "POST", {"csrf": Visitor(anon.client).csrf("/signin"), "token": "dt_unknown", "next": ""})

    pm = _visitor(store, "pm")
    pm.crawl([
        "/", "/portfolio", "/pm/notifications",
        *(f"/pm/p/{p}" for p in projects), *(f"/audit/p/{p}" for p in projects),
        *(f"/audit/p/{p}/diff" for p in projects),
        f"/pm/p/{late}?zoom=quarter", f"/audit/p/{late}?as_of={_moment(-45)}",
        f"/audit/p/{release}?as_of={_moment(-30)}", f"/audit/p/{late}/diff?from={_moment(-60)}&to={_moment(-20)}",
        # the error pages: unknown, bad input, before the project existed
        "/nope", f"/pm/p/{UNKNOWN_PROJECT}", "/portfolio?stage=nowhere", "/portfolio?sort=nothing",
        f"/pm/p/{late}?zoom=decade", f"/audit/p/{late}?position=abc", f"/audit/p/{late}?as_of=2000-01-01T00:00",
        f"/audit/p/{late}?position=1", f"/audit/p/{late}/diff?from=yesterday",
    ], limit=160)
    pm.visit(f"/pm/p/{late}/do/add_scope_item", "POST", {"csrf": "forged", "title": store.names["filler"]})
    pm.visit(f"/pm/p/{late}/do/rename_project", "POST", {  # a form rendered before the others' changes: stale
        "csrf": Visitor(pm.client).csrf(f"/pm/p/{late}"), "name": store.names["filler"], "version": "2"})
    for page in (f"/pm/p/{late}", f"/pm/p/{release}", "/pm/notifications", "/portfolio"):
        pm.post_forms(page, limit=pm.posted.total() + 80)

    web = store.site.app.state.web
    secret, _link = web.create_link(late, days=7, created_by=store.names["pm"])
    shared = _visitor(store, None)
    shared.role = "share link"
    shared.crawl([f"/s/{secret}"], limit=20)

    client = _visitor(store, "client")
    client.crawl(["/", "/projects", f"/p/{late}", f"/p/{release}", f"/p/{ids['bare']}", "/portfolio",
                  f"/pm/p/{late}", f"/audit/p/{late}"], limit=40)
    client.post_forms(f"/p/{late}", limit=30)

    auditor = _visitor(store, "auditor")
    auditor.crawl(["/", "/portfolio", *(f"/audit/p/{p}" for p in projects), f"/audit/p/{late}/diff",
                   f"/pm/p/{late}", "/pm/notifications"], limit=80)
    return [anon, pm, shared, client, auditor]


def test_no_page_shows_a_word_of_the_other_language(store: Store) -> None:
    crawlers = crawl(store)
    user_data = user_data_pattern(store.user_text)
    found: list[Leak] = []
    for crawler in crawlers:
        for url, text in crawler.pages.items():
            found.extend(leaks(url, crawler.role, text, store.lang, user_data))
    pages = {url for c in crawlers for url in c.pages}
    statuses = {s for c in crawlers for s in c.statuses.values()}
    # The walk reached what it must read before its silence means anything.
    assert len(pages) > 150, sorted(pages)
    assert {200, 400, 403, 404} <= statuses, statuses
    assert any("/pm/p/" in u for u in pages) and any("/audit/p/" in u and "/diff" in u for u in pages)
    pm = crawlers[1]
    assert pm.posted["blank"] >= 20 and pm.posted["filled"] >= 20, pm.posted
    text = report(found, store.lang)
    target = os.environ.get("LEAK_REPORT")
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(f"\n# {store.lang}: {len(pages)} pages read\n\n{text}\n")
    assert not found, text


def test_the_language_switch_keeps_the_reader_on_the_page(store: Store) -> None:
    pm = _visitor(store, "pm")
    page = f"/pm/p/{store.ids['late']}"
    other = "en" if store.page_lang == "zh-CN" else "zh-CN"
    for code in (other, store.page_lang):
        here = pm.client.get(page)
        switch = re.search(rf'href="(/lang/{re.escape(code)}\?next=[^"]+)"', here.text)
        assert switch, (code, here.text[:2000])
        moved = pm.client.get(switch[1].replace("&amp;", "&"), follow_redirects=True)
        assert moved.status_code == 200 and moved.url.path == page, (switch[1], moved.url)
        assert LANG_ATTR.search(moved.text)[1] == code  # type: ignore[index]
