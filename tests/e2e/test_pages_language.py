"""Every word in the reader's language: a crawler signs in as pm, client and auditor in Chinese over a store whose
user data is all Chinese, reads every page, and fails on a visible Latin word that is neither user data nor in a
short allowed list (units, UTC, CSV, JSON, iCal, API...)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from delivery import clock
from delivery.settings import Database
from tests.e2e.pages_helpers import Site, Visitor, make_site

PM, CLIENT, AUDITOR = "王经理", "李客户", "赵审计"
# Latin words a Chinese page may show: units, time zones, file formats, the product's own names for ids.
ALLOWED = {"UTC", "CSV", "JSON", "Lines", "iCal", "ics", "API", "PEM", "SHA", "URL", "English", "CRM", "UAT", "Slack",
           "Webhook", "webhook", "ms", "P50", "P80", "SVG"}
HIDDEN = re.compile(r"<(script|style|code|pre|textarea)\b.*?</\1>", re.S | re.I)
SHOWN_ATTRIBUTES = re.compile(r'\s(?:title|placeholder|aria-label|alt)="([^"]*)"')
TAG = re.compile(r"<[^>]+>")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z_]{2,}")


@pytest.fixture
def site(sqlite_url: str) -> Iterator[Site]:
    yield from make_site(Database(sqlite_url))


def visible_text(page: str) -> str:
    """What a reader sees or hears: text nodes and the attributes read out (title, placeholder, aria-label)."""
    body = page.split("<body", 1)[-1]
    body = HIDDEN.sub(" ", body)
    attributes = " ".join(SHOWN_ATTRIBUTES.findall(body))
    return html.unescape(TAG.sub(" ", body) + " " + attributes)


def leaks(page: str, user_data: list[str]) -> list[str]:
    text = visible_text(page)
    for value in sorted(user_data, key=len, reverse=True):
        text = text.replace(value, " ")
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", " ", text)  # project ids
    text = re.sub(r"\b[0-9a-f]{12,}\b", " ", text)  # hashes
    text = re.sub(r"\bdt_\w*", " ", text)  # the token prefix the sign-in page names
    return sorted({w for w in LATIN_WORD.findall(text) if w not in ALLOWED})


def _chinese_project(site: Site) -> tuple[str, list[str]]:
    """A project in development with every section filled, all its words Chinese."""
    app = site.services.app
    today = clock.today()
    pid = app.create_project(name="商城小程序", client="极客公司", description="线上商城与会员积分", actor=PM).value
    last: list[int] = []

    def run(command: str, **kw: Any) -> Any:
        recorded = getattr(app, command)(pid, actor=PM, **kw)
        last.append(recorded.position)
        return recorded.value

    run("add_scope_item", title="登录", tier="core")
    run("add_scope_item", title="购物车", tier="core")
    run("add_scope_item", title="分享卡片", tier="touchpoint")
    run("define_funnel", steps=[{"name": "浏览", "expected_rate": 60}, {"name": "加购", "expected_rate": 35},
                                {"name": "支付", "expected_rate": 80}])
    m1 = run("plan_milestone", title="调研确认", stage="research", due_on=today - timedelta(days=20),
             deliverables=["访谈记录", "漏斗模型"])
    c1 = run("add_criterion", milestone_id=m1, text="客户确认调研结论")
    run("reschedule_milestone", milestone_id=m1, due_on=today - timedelta(days=15), reason="客户研讨会改期")
    run("verify_criterion", criterion_id=c1, evidence="签字版记录")
    run("complete_milestone", milestone_id=m1)
    run("transition", to_stage="solution")
    run("waive_stage_plan", stage="solution", reason="方案已在投标中确定")
    run("transition", to_stage="planning")
    run("waive_stage_plan", stage="planning", reason="计划随方案确定")
    run("transition", to_stage="development")
    cr1 = run("raise_change_request", title="优惠券", requested_by="市场部", kind="add", tier="value_added",
              schedule_days=3, cost="1200.50")
    run("approve_change_request", change_request_id=cr1, reason="预算已批")
    run("raise_change_request", title="直播带货", requested_by="市场部", kind="add", tier="value_added",
        schedule_days=20, cost=30000)
    m2 = run("plan_milestone", title="开发完成", stage="development", due_on=today - timedelta(days=1))
    c2 = run("add_criterion", milestone_id=m2, text="列表页加载时间",
             metric={"name": "列表加载", "comparator": "<=", "threshold": 1500, "unit": "ms"})
    run("reject_criterion", criterion_id=c2, reason="弱网下超时")
    run("add_criterion", milestone_id=m2, text="支付回调幂等")
    run("add_comment", target_kind="milestone", target_id=m2, text="请尽快确认")
    site.services.reads.wait_for(last[-1])
    user_data = [PM, CLIENT, AUDITOR, "商城小程序", "极客公司", "线上商城与会员积分", "列表加载", "登录", "购物车",
                 "分享卡片", "浏览", "加购", "支付", "调研确认", "客户确认调研结论", "客户研讨会改期", "签字版记录",
                 "方案已在投标中确定", "计划随方案确定", "优惠券", "市场部", "预算已批", "直播带货", "开发完成",
                 "列表页加载时间", "弱网下超时", "支付回调幂等", "请尽快确认", "访谈记录", "漏斗模型"]
    return str(pid), user_data


def _visitor(site: Site, role: str, name: str, pid: str, lang: str = "zh-CN") -> Visitor:
    visitor = site.visitor()
    visitor.client.cookies.set("dt_lang", lang)
    visitor.sign_in(site.token(role, [pid] if role == "client" else [], name=name))
    return visitor


def _pages(pid: str) -> dict[str, list[str]]:
    return {
        "pm": ["/portfolio", f"/pm/p/{pid}", f"/p/{pid}", "/pm/notifications", "/no-such-page"],
        "client": [f"/p/{pid}", "/projects"],
        "auditor": ["/portfolio", f"/audit/p/{pid}", f"/audit/p/{pid}/diff?from=2000-01-01T00:00&to=2100-01-01T00:00",
                    f"/audit/p/{pid}?as_of=yesterday"],
    }


def test_a_chinese_reader_sees_no_english_word_on_any_page(site: Site) -> None:
    pid, user_data = _chinese_project(site)
    found: dict[str, list[str]] = {}
    for role, name in (("pm", PM), ("client", CLIENT), ("auditor", AUDITOR)):
        visitor = _visitor(site, role, name, pid)
        for path in _pages(pid)[role]:
            page = visitor.client.get(path)
            assert page.status_code in (200, 400, 404), (path, page.status_code, page.text[:300])
            assert not re.search(r"%\(\w+\)|\{\w*\}", visible_text(page.text)), (path, "a placeholder left unfilled")
            # An address's query parameter is named as written in the address (the reader typed it).
            typed = [part.split("=")[0] for part in path.partition("?")[2].split("&") if part]
            if words := leaks(page.text, user_data + typed):
                found[f"{role} {path}"] = words
    assert not found, found


def test_an_english_reader_sees_no_chinese_but_the_user_data(site: Site) -> None:
    pid, user_data = _chinese_project(site)
    found: dict[str, list[str]] = {}
    for role, name in (("pm", PM), ("client", CLIENT), ("auditor", AUDITOR)):
        visitor = _visitor(site, role, name, pid, lang="en")
        for path in _pages(pid)[role]:
            text = visible_text(visitor.client.get(path).text)
            assert not re.search(r"%\(\w+\)|\{\w*\}", text), (path, "a placeholder left unfilled")
            for value in sorted(user_data, key=len, reverse=True):
                text = text.replace(value, " ")
            text = text.replace("中文", " ")  # the language switch names Chinese in Chinese
            if chinese := re.findall(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+", text):
                found[f"{role} {path}"] = sorted(set(chinese))
    assert not found, found
