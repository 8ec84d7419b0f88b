"""The portfolio page: search, totals, the sort kept on every link, the CSV download, launched and unplanned rows."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape

import pytest

from delivery import clock
from delivery.demo import PORTFOLIO, load_demo
from delivery.settings import Database
from tests.e2e.pages_helpers import Site, Visitor, make_site
from web.i18n import Translator


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def pm(site: Site) -> Visitor:
    visitor = site.visitor()
    visitor.sign_in(site.token("pm"))
    return visitor


def names(html: str) -> list[str]:
    return [unescape(n) for n in re.findall(r'<tr data-project="[^"]+">\s*<td[^>]*><a href="[^"]+">([^<]+)</a>', html)]


def links(html: str, rel: str) -> list[str]:
    return [unescape(h) for h in re.findall(rf'<a href="([^"]+)"[^>]*rel="{rel}"', html)]


def test_search_ignores_case_and_matches_part_of_the_name_or_the_client(site: Site) -> None:
    site.project("Mall app", "Newcomer Retail")
    site.project("Store NEWCOMER kiosk", "Acme")
    site.project("CRM 100%_done", "Globex")
    visitor = pm(site)
    found = names(visitor.client.get("/portfolio", params={"q": "newcomer"}).text)
    assert found == ["Mall app", "Store NEWCOMER kiosk"]
    assert names(visitor.client.get("/portfolio", params={"q": "  RETAIL "}).text) == ["Mall app"]
    # LIKE's wildcards are text like any other.
    assert names(visitor.client.get("/portfolio", params={"q": "%_"}).text) == ["CRM 100%_done"]
    assert names(visitor.client.get("/portfolio", params={"q": "_"}).text) == ["CRM 100%_done"]
    nothing = visitor.client.get("/portfolio", params={"q": "nowhere"})
    assert nothing.status_code == 200 and "No project matches." in nothing.text
    # The term does not span name and client.
    assert names(visitor.client.get("/portfolio", params={"q": "app newcomer"}).text) == []


def test_totals_count_the_filtered_set_per_health_and_stage(site: Site) -> None:
    planned = site.project("Planned site", "Acme")
    site.services.app.plan_milestone(planned, title="Kick-off", stage="research",
                                     due_on=clock.today().replace(year=clock.today().year + 1), actor="pm")
    site.project("Empty site", "Acme")
    site.project("Other", "Globex")
    site.services.reads.wait_for(site.services.app.recorder.max_notification_id())
    page = pm(site).client.get("/portfolio", params={"q": "site"}).text
    assert "2 matching projects" in page
    totals = page[page.index('class="totals"'):page.index("</section>", page.index('class="totals"'))]
    counts = dict(re.findall(r'<span class="health (\w+)">.*?</span> <strong>(\d+)</strong>', totals))
    assert counts == {"red": "0", "amber": "0", "no_plan": "1", "green": "1"}
    assert re.search(r"Requirement research[^<]*<strong>2</strong>", totals)


def test_an_unplanned_project_says_no_plan_yet_never_green(site: Site) -> None:
    site.project("Fresh project", "Acme")
    page = pm(site).client.get("/portfolio").text
    row = page[page.index('<tr data-project'):page.index("</tr>", page.index('<tr data-project'))]
    assert "no plan yet" in row and 'class="health no_plan"' in row and "green" not in row


def test_the_sort_is_kept_across_filters_pages_and_the_first_page(site: Site) -> None:
    for i in range(23):
        site.project(f"Project {i:02}", "Newcomer Retail" if i % 2 else "Acme")
    visitor = pm(site)
    first = visitor.client.get("/portfolio", params={"sort": "client"}).text
    assert '<input type="hidden" name="sort" value="client">' in first  # the filter form keeps it
    (nxt,) = links(first, "next")
    assert "sort=client" in nxt
    second = visitor.client.get(nxt).text
    (back,) = links(second, "first")
    assert back == "/portfolio?sort=client"
    assert names(visitor.client.get(back).text) == names(first)
    searched = visitor.client.get("/portfolio", params={"q": "project", "sort": "client"}).text
    column = re.findall(r'<a href="(/portfolio\?[^"]*sort=health)"', searched)
    assert column == ["/portfolio?q=project&amp;sort=health"]
    assert names(searched)[:11] == [f"Project {i:02}" for i in range(0, 23, 2)][:11]  # Acme's first


def test_the_csv_download_holds_the_whole_filtered_view_in_its_order(site: Site) -> None:
    for i in range(25):
        site.project(f"Shop {i:02}", "=HYPERLINK(1)" if i == 3 else "Newcomer Retail")
    site.project("Unrelated", "Acme")
    visitor = pm(site)
    page = visitor.client.get("/portfolio", params={"q": "shop", "sort": "client"}).text
    (href,) = re.findall(r'<a href="(/portfolio\.csv[^"]*)" download>', page)
    assert unescape(href) == "/portfolio.csv?q=shop&sort=client"
    answer = visitor.client.get(unescape(href))
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="portfolio.csv"'
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 25 and "Unrelated" not in answer.text  # all pages, nothing outside the filter
    assert rows[0]["client"] == "'=HYPERLINK(1)"  # a formula is never run by a spreadsheet
    assert [r["name"] for r in rows[1:]] == [f"Shop {i:02}" for i in range(25) if i != 3]
    assert {r["health"] for r in rows} == {"no_plan"}


def test_a_launched_project_shows_as_launched_and_closed(site: Site) -> None:
    script = next(s for s in PORTFOLIO if any(step.command == "complete_launch" for step in s.steps))
    (pid,) = load_demo(site.services.app, portfolio=[script])
    site.services.reads.wait_for(site.services.app.recorder.max_notification_id())
    page = pm(site).client.get("/portfolio").text
    row = page[page.index(f'<tr data-project="{pid}"'):]
    row = row[:row.index("</tr>")]
    assert "launched · closed" in row and 'class="health' not in row
    assert '<span class="badge launched">launched</span> <strong>1</strong>' in page


@pytest.mark.parametrize(("query", "field"), [
    ({"stage": "moon"}, "stage"), ({"health": "purple"}, "health"), ({"sort": "colour"}, "sort"),
    ({"q": "x" * 121}, "q"),
])
def test_a_bad_filter_answers_a_page_naming_the_field_in_both_languages(site: Site, query: dict[str, str],
                                                                          field: str) -> None:
    visitor = pm(site)
    for path in ("/portfolio", "/portfolio.csv"):
        page = visitor.client.get(path, params=query)
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
        assert f"{Translator('en').field_label(field)}:" in page.text and f'data-field="{field}"' in page.text
    visitor.client.cookies.set("dt_lang", "zh-CN")
    page = visitor.client.get("/portfolio", params=query)
    assert page.status_code == 400 and f"参数「{Translator('zh-CN').field_label(field)}」的值无效" in page.text


def test_the_calendar_feed_reads_in_the_language_its_address_names(site: Site) -> None:
    pid = site.project("Mall app")
    app = site.services.app
    app.plan_milestone(pid, title="调研", stage="research", due_on=clock.today() + timedelta(days=5),
                       deliverables=["访谈纪要"], actor="pm")
    site.services.reads.catch_up()
    visitor = pm(site)
    zh = visitor.client.get(f"/p/{pid}/milestones.ics?lang=zh-CN").text
    assert "里程碑" in zh and "状态：" in zh and "需求调研" in zh and "Status:" not in zh
    en = visitor.client.get(f"/p/{pid}/milestones.ics?lang=en").text
    assert "Status: " in en and "— milestones" in en
