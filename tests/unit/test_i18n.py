"""The pages' Translator: gettext per language, Babel's formatting per locale, domain messages from their English
template and parameters, and a catalog that works before anyone compiled it."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
import pytest

from web import i18n
from web.i18n import Translator, negotiate

EN, ZH = Translator("en"), Translator("zh-CN")


def test_the_language_comes_from_the_cookie_then_the_browser_then_english() -> None:
    assert negotiate("zh-CN", "en") == "zh-CN"
    assert negotiate(None, "fr;q=0.9, zh-TW;q=0.8, en;q=0.5") == "zh-CN"
    assert negotiate("xx", "de") == "en"


def test_money_always_names_its_currency() -> None:
    assert EN.money(1500) == "CNY\u00a01,500"
    assert EN.money(1500.5) == "CNY\u00a01,500.50"
    assert ZH.money(1500) == "¥1,500"
    assert EN.money(20, currency="EUR") == "EUR\u00a020"
    assert ZH.money(20, currency="USD") == "US$20"


def test_percentages_have_one_rule_and_units_a_space() -> None:
    assert EN.percent(42.857, 1) == "42.9%" and ZH.percent(42.857, 1) == "42.9%"
    assert EN.percent(50) == "50%" and EN.percent(4.2, 1, signed=True) == "+4.2%"
    assert EN.measure(1500, "ms") == "1,500\u00a0ms" and ZH.measure(1500, "ms") == "1,500\u00a0ms"
    assert EN.measure(0.5, "%") == "0.50%"
    assert EN.comparator("<=") == "≤"


def test_dates_follow_the_locale() -> None:
    assert EN.date(date(2030, 4, 1)) == "Apr 1, 2030"
    assert ZH.date(date(2030, 4, 1)) == "2030年4月1日"
    assert ZH.datetime(datetime(2030, 4, 1, 9, 5, tzinfo=UTC)) == "2030年4月1日 09:05 UTC"
    assert EN.maybe_date("2030-04-01") == "Apr 1, 2030" and EN.maybe_date("not a date") == "not a date"
    assert ZH.month(date(2030, 11, 1)) == "11月"


def test_values_read_as_words() -> None:
    assert EN.value(False) == "no" and ZH.value(True) == "是"
    assert ZH.value("rolled_back") == "已回滚"
    assert EN.value(["S1", "S2", "S3"]) == "S1, S2, and S3"
    assert ZH.value(["S1", "S2"]) == "S1和S2"
    assert EN.event_name("CriterionVerified") == "criterion verified"
    assert ZH.event_name("CriterionVerified") == "验收项已通过"
    assert ZH.field("in_baseline") == "在基线中" and ZH.field("no_such_field") == "no_such_field"


def test_a_domain_message_renders_from_its_english_template_and_parameters() -> None:
    one, many = "{count} change request raised after development began: {ids}", \
        "{count} change requests raised after development began: {ids}"
    assert EN.message(one, {"count": 1, "ids": ["CR1"]}, many, n=1) == \
        "1 change request raised after development began: CR1"
    assert EN.message(one, {"count": 2, "ids": ["CR1", "CR2"]}, many, n=2) == \
        "2 change requests raised after development began: CR1 and CR2"
    # A parameter that is a state, a stage or a tier reads as its word; an untranslated template stays English.
    assert ZH.message("Release {id} is {state}", {"id": "R1", "state": "rolled_back"}) == "Release R1 is 已回滚"
    assert ZH.message("{tier} item in {stage}", {"tier": "core", "stage": "development"}).startswith("核心")


def test_a_refusal_reads_in_chinese_with_its_details() -> None:
    lines = ZH.error("gate_not_met", "Cannot leave", {"unmet": [
        {"kind": "criterion_open", "milestone_id": "M1", "criterion_id": "C1", "state": "rejected"}]})
    assert lines == ["当前阶段尚不能结束：", "M1 上的验收项 C1 状态为 未通过"]
    assert EN.error("gate_not_met", "Cannot leave", {}) == ["Cannot leave"]


def test_templates_format_and_escape_through_newstyle_gettext() -> None:
    env = jinja2.Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(i18n.translations("zh-CN"), newstyle=True)  # type: ignore[attr-defined]
    page = env.from_string('{{ ngettext("%(num)s field", "%(num)s fields", 2) }} · '
                           '{{ _("Signed in as %(name)s (%(role)s)", name="<b>x</b>", role="pm") }}')
    assert page.render() == "2 个字段 · 已登录：&lt;b&gt;x&lt;/b&gt;（pm）"


def test_a_checkout_that_has_not_compiled_its_catalogs_still_translates(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    po = i18n.catalog_path("zh-CN")
    copied = tmp_path / "zh_CN" / "LC_MESSAGES"
    copied.mkdir(parents=True)
    shutil.copy(po, copied / po.name)  # the .po only: no .mo
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        assert Translator("zh-CN").gettext("Sign in") == "登录"
        assert not (copied / "messages.mo").exists()  # compiled in memory, nothing written
    finally:
        monkeypatch.undo()
        i18n.translations.cache_clear()


def test_a_coded_message_reads_in_each_language_with_its_words_translated() -> None:
    from delivery.messages import msg

    en, zh = Translator("en"), Translator("zh-CN")
    state = msg("release_state_refuses", release_id="R1", state="rolled_back", allowed=["planned", "paused"],
                action="started")
    assert "rolled back" in en.coded(state) and "rolled_back" not in en.coded(state)
    assert "R1" in zh.coded(state) and not re.search(r"[A-Za-z]{3,}", zh.coded(state))
    drift = {"code": "warning_drift", "params": {"drift_pct": 42.9}}  # as the API sends it
    assert en.coded(drift) == "scope drift 42.9% of the baseline"
    assert "42.9%" in zh.coded(drift)
    late = msg("warning_late_requests", count=1, ids=["CR3"])
    assert en.coded(late).startswith("1 change request raised")
    assert en.coded(msg("warning_late_requests", count=2, ids=["CR3", "CR4"])).startswith("2 change requests")
    empty_terms = msg("release_state_refuses", release_id="R1", state="paused", allowed=[], action="started")
    assert "R1" in en.coded(empty_terms)  # no allowed state listed: no failure either
    assert en.coded({"code": "no_such_code", "params": {}}) == "no_such_code"


def test_a_refused_field_and_its_allowed_values_read_as_words() -> None:
    from delivery.errors import InvalidInput
    from delivery.messages import msg

    error = InvalidInput("stage", msg("rule_one_of", options=["research", "launch"]))
    zh = Translator("zh-CN").error(error.code, error.message, error.details)
    assert len(zh) == 1 and "stage" not in zh[0] and "research" not in zh[0]
    assert Translator("en").field_label("steps[1].expected_rate").startswith("steps [2] · ")
