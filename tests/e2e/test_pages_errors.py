"""Every page answers a page for bad input: in the visitor's language, naming the field, never JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from delivery import clock
from delivery.settings import Database
from tests.e2e.pages_helpers import Site, Visitor, make_site
from web.i18n import Translator


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def visitor(site: Site, lang: str) -> Visitor:
    v = site.visitor()
    v.sign_in(site.token("pm"))
    v.client.cookies.set("dt_lang", lang)
    return v


def heading(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found, html[:300]
    return found[1]


BAD_QUERIES = [
    ("/audit/p/{pid}?after=abc", "after", 400),
    ("/audit/p/{pid}?after=-1", "after", 400),
    ("/audit/p/{pid}?position=1e3", "position", 400),
    ("/audit/p/{pid}?as_of=yesterday", "as_of", 400),
    ("/audit/p/{pid}?type=no.such.Event", "type", 400),
    ("/audit/p/{pid}?actor=" + "x" * 121, "actor", 400),
    ("/audit/p/{pid}/diff?from=soon", "from", 422),
    ("/portfolio?stage=moon", "stage", 400),
    ("/portfolio?health=purple", "health", 400),
    ("/portfolio?sort=colour", "sort", 400),
    ("/portfolio.csv?q=" + "x" * 121, "q", 400),
    ("/p/{pid}?zoom=decade", "zoom", 400),
    ("/pm/p/{pid}?zoom=decade", "zoom", 400),
]
FIELD_SENTENCE = {"en": "The value given for “{field}” is not accepted.", "zh-CN": "参数「{field}」的值无效。"}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize(("path", "field", "status"), BAD_QUERIES)
def test_a_bad_query_value_answers_a_page_naming_the_field(site: Site, lang: str, path: str, field: str,
                                                           status: int) -> None:
    pid = site.project("Errors project")
    page = visitor(site, lang).client.get(path.format(pid=pid))
    assert page.status_code == status, page.text[:300]
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert f'<html lang="{lang}">' in page.text
    # The field by the name readers know it by; the machine name stays on the element.
    assert FIELD_SENTENCE[lang].format(field=Translator(lang).field_label(field)) in page.text
    assert f'data-field="{field}"' in page.text
    assert 'role="alert"' in page.text


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_unknown_address_outside_the_api_is_a_page_and_inside_it_json(site: Site, lang: str) -> None:
    v = visitor(site, lang)
    page = v.client.get("/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert heading(page.text) == {"en": "Not found", "zh-CN": "未找到"}[lang]
    api = v.client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_as_of_before_the_project_existed_says_so(site: Site, lang: str) -> None:
    pid = site.project("Young project")
    first = site.services.reads.audit_log(pid).items[0]
    v = visitor(site, lang)
    before = (first.recorded_at - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M")
    page = v.client.get(f"/audit/p/{pid}", params={"as_of": before})
    assert page.status_code == 404
    assert heading(page.text) == {"en": "Not recorded yet", "zh-CN": "当时尚无记录"}[lang]
    when = {"en": "The project did not exist yet at", "zh-CN": "时该项目尚不存在"}[lang]
    assert when in page.text and f'href="/audit/p/{pid}"' in page.text
    if first.position > 1:
        by_position = v.client.get(f"/audit/p/{pid}", params={"position": str(first.position - 1)})
        assert by_position.status_code == 404 and "#" + str(first.position) in by_position.text
    # At or after its first event, the replay shows.
    later = (clock.now() + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    assert v.client.get(f"/audit/p/{pid}", params={"as_of": later}).status_code == 200
