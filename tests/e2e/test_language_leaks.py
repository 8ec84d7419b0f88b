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
from tests.e2e.crawler import Crawler, Leak, VisibleText, leaks, report, user_data_pattern
from tests.e2e.language_store import CJK, LATIN_WORD, Store, build_store, read_scripts
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
        # each project's whole history (blank: from before it began to now), so what a diff shows does not
        # depend on the day the suite runs
        *(f"/audit/p/{p}/diff?from=&to=" for p in projects),
        f"/pm/p/{late}?zoom=quarter", f"/audit/p/{late}?as_of={_moment(-45)}",
        f"/audit/p/{release}?as_of={_moment(-30)}", f"/audit/p/{late}/diff?from={_moment(-60)}&to={_moment(-20)}",
        # the error pages: unknown, bad input, before the project existed
        "/nope", f"/pm/p/{UNKNOWN_PROJECT}", "/portfolio?stage=nowhere", "/portfolio?sort=nothing",
        f"/pm/p/{late}?zoom=decade", f"/audit/p/{late}?position=abc", f"/audit/p/{late}?as_of=2000-01-01T00:00",
        f"/audit/p/{late}?position=1", f"/audit/p/{late}/diff?from=yesterday",
    ], limit=160 + len(projects))  # the whole-history diffs come on top of what the walk read before
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
                   f"/pm/p/{late}", "/pm/notifications"], limit=40)
    return [anon, pm, shared, client, auditor]


# A message's placeholder shown as written: `%(name)s` (templates) or `{name}` (Python and the domain).
UNFILLED = re.compile(r"%\(\w+\)[sd]|\{[a-z_]+\}")


def test_no_page_shows_a_word_of_the_other_language(store: Store) -> None:
    crawlers = crawl(store)
    user_data = user_data_pattern(store.user_text)
    found: list[Leak] = []
    for crawler in crawlers:
        for url, text in crawler.pages.items():
            found.extend(leaks(url, crawler.role, text, store.lang, user_data))
    unfilled = sorted({f"{url} · {m[0]}" for c in crawlers for url, text in c.pages.items()
                       for m in UNFILLED.finditer(user_data.sub(" ", text))})
    assert not unfilled, "a placeholder left unfilled on a page:\n" + "\n".join(unfilled[:40])
    pages = [url for c in crawlers for url in c.pages]
    statuses = {s for c in crawlers for s in c.statuses.values()}
    # The walk reached what it must read before its silence means anything.
    assert len(pages) > 120 and len(crawlers[1].pages) > 60, sorted(pages)
    assert {200, 400, 403, 404} <= statuses, statuses
    assert any("/pm/p/" in u for u in pages) and any("/audit/p/" in u and "/diff" in u for u in pages)
    pm = crawlers[1]
    assert pm.posted["blank"] >= 15 and pm.posted["filled"] >= 20, pm.posted
    assert crawlers[3].posted["filled"] >= 3, crawlers[3].posted  # the client's sign-off, proposal, comment
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


def _read(html: str) -> str:
    parsed = VisibleText()
    parsed.feed(html)
    return parsed.text


def test_the_rule_finds_the_other_language_outside_user_data_and_the_allowed_names() -> None:
    user = user_data_pattern({"鲜果到家", "CRM 系统实施"})
    page = _read('<title>项目 · late</title><script>var hidden = "script";</script><style>.x{}</style>'
                 '<p title="Overview">鲜果到家 CRM 系统实施 M1 CR2 120 ms UTC CSV</p>'
                 '<svg><text>due</text></svg><input type="submit" value="Save"><input type="text" value="typed">'
                 '<select><option value="a">core</option></select><img alt="chart">'
                 '<p>sha256:ae93c1419bc1 634febd5-7d46-4aab-9c05-66a4e8f03b55 http://testserver/s/abc</p>')
    words = {leak.word for leak in leaks("/p", "pm", page, "zh", user)}
    assert words == {"late", "Overview", "due", "Save", "core", "chart"}, words
    english = _read('<p>Overview · 简体中文 · <span aria-label="延期">late</span> · Fresh（box）</p>')
    assert [leak.word for leak in leaks("/p", "pm", english, "en", user)] == ["延期", "（", "）"]


def test_the_report_names_each_leak_with_its_page_role_word_and_context() -> None:
    found = leaks(f"/pm/p/{UNKNOWN_PROJECT}", "pm", "里程碑 ¦ ⚠ late ¦ 已完成", "zh", user_data_pattern(set()))
    text = report(found, "zh")
    assert f"- /pm/p/{UNKNOWN_PROJECT} · pm · late · 里程碑 ¦ ⚠ late ¦ 已完成" in text
    assert "## /pm/p/{id} (1 words, 1 occurrences)" in text


def test_the_stores_user_text_is_all_in_its_language() -> None:
    # So the check blanks nothing that could hide a leak: no user text in Chinese holds a Latin word, and no
    # English one a CJK character (the stage templates' own texts aside: they are the product's data files).
    for lang, other in (("zh", LATIN_WORD), ("en", CJK)):
        _keys, _scripts, _names, picked = read_scripts(lang)
        assert len(picked) > 80
        assert not [text for text in picked if other.search(text)], lang
