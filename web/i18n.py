"""The pages' languages: gettext catalogs (web/locale, docs/i18n.md), the choice of language, and dates, numbers,
percentages and money formatted per locale with Babel."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

from delivery.health import DRIFT_AMBER_PCT, DRIFT_RED_PCT
from delivery.messages import MESSAGES, TERMS, is_percentage
from delivery.stages import STAGES, Stage
from web.words import PLURALS, WORDS

Day = date  # the Translator's own `date` method hides the type inside the class
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
LANGUAGES = ("en", "zh-CN")  # the cookie's and the pages' language tags
LOCALES = {"en": "en", "zh-CN": "zh_CN"}  # each one's catalog folder and Babel locale
DEFAULT = "en"
COOKIE = "dt_lang"
CURRENCY = "CNY"  # a project's currency unless it says otherwise
# A domain message's parameter translated by its name; other text parameters (state, status...) by the first
# of VALUE_FAMILIES that knows the value (Translator.message).
PARAM_FAMILIES = {"tier": "scope tier", "baseline_tier": "scope tier", "kind": "change kind",
                  "verdict": "criterion state", "health": "health", "reason_code": "health reason"}
VALUE_FAMILIES = ("release state", "milestone status", "criterion state", "change request status", "scope status",
                  "proposal status", "scope tier", "health", "change kind", "object kind")
STAGE_IDS = frozenset(s.value for s in STAGES)
COMPARATORS = {"<=": "≤", ">=": "≥", "<": "<", ">": ">", "==": "=", "=": "="}
ISO_DATE_LEN, ISO_MOMENT_LENS = 10, range(19, 33)
# How delivery.releases words a failed health check in the events it records.
LIST_ITEM = re.compile(r"(\w+)\[(\d+)\](?:\.(\w+))?")  # a refused list item: steps[1], steps[1].expected_rate
FAILED_CHECK = re.compile(r"(.+) \(observed (-?[0-9.e+-]+)\)")


def catalog_path(lang: str) -> Path:
    """The language's `.po` file (its compiled `.mo` sits next to it)."""
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> Translations:
    """The language's compiled catalog: the `.mo` that `make install` writes (pybabel compile), or, when it is
    missing or older than its `.po` (a checkout that has not run it, a catalog just edited), the `.po`
    compiled in memory at first use. Fuzzy entries are left out either way."""
    po = catalog_path(lang)
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=LOCALES[lang], domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@functools.cache
def _locale(lang: str) -> Locale:
    return Locale.parse(LOCALES[lang])


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The remembered choice first, then the browser's Accept-Language, then English."""
    if cookie in LOCALES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, i, tag.strip().lower()))
    for negative_q, _i, tag in sorted(ranked):
        if negative_q >= 0:
            continue
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def _format(text: str, values: Mapping[str, Any]) -> str:
    return text.format_map(_Default(values)) if values else text


class Translator:
    """Messages (gettext over web/locale), dates, numbers and money in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LOCALES else DEFAULT
        self.locale = _locale(self.lang)
        self.translations = translations(self.lang)
        self.zh = self.lang == "zh-CN"

    # Messages. Python code writes `{name}` placeholders; templates use the Jinja2 i18n extension's `_()`,
    # `ngettext()`, `pgettext()` with `%(name)s` (web/app.py installs them per language).
    def gettext(self, message: str, **values: Any) -> str:
        return _format(self.translations.gettext(message), values)

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return _format(self.translations.ngettext(singular, plural, n), {"n": n, **values})

    def pgettext(self, context: str, message: str, **values: Any) -> str:
        return _format(str(self.translations.pgettext(context, message)), values)

    def npgettext(self, context: str, singular: str, plural: str, n: int, **values: Any) -> str:
        return _format(self.translations.npgettext(context, singular, plural, n), {"n": n, **values})

    def has_word(self, family: str, code: str) -> bool:
        return code in WORDS.get(family, {}) or code in PLURALS.get(family, {})

    def word(self, family: str, code: str, **values: Any) -> str:
        """A code's word in its family (web/words.py: a state, a status, a tier, an event type...), translated
        with the family as context (ngettext for a word with a count, PLURALS); a code the table does not know
        reads as itself, underscores as spaces."""
        forms = PLURALS.get(family, {}).get(code)
        if forms is not None:
            n = int(values.get("count", values.get("n", 1)))
            return _format(self.translations.npgettext(family, forms[0], forms[1], n), values)
        english = WORDS.get(family, {}).get(code)
        if english is None:
            return _format(code if family == "field" else code.replace("_", " "), values)
        return _format(str(self.translations.pgettext(family, english)), values)

    def health_reason(self, code: str) -> str:
        """Why a project has its health (delivery/health.py REASONS, by code), thresholds from the domain."""
        pct = DRIFT_RED_PCT if code == "drift_high" else DRIFT_AMBER_PCT
        return self.word("health reason", code, pct=self.percent(pct))

    def field(self, name: str) -> str:
        """A field's name as a reader calls it; a key that is a value (a stage, a tier, a state: the keys of a
        view's per-stage or per-tier counts) by its word; the code itself for a name the catalog does not know."""
        if self.has_word("field", name):
            return self.word("field", name)
        return self.option(name)

    def event_name(self, kind: str) -> str:
        """An event type's human name (`CriterionVerified` -> "criterion verified" / "验收项已通过")."""
        return self.word("event type", kind)

    def value(self, value: Any) -> str:
        """A value of a view or an event as a reader sees it: booleans as yes/no, stages by name, states by
        their word, dates in the locale, lists joined; other values as they are."""
        if isinstance(value, bool):
            return self.word("boolean", "true" if value else "false")
        if isinstance(value, datetime):
            return self.datetime(value)
        if isinstance(value, date):
            return self.date(value)
        if isinstance(value, int | float | Decimal):
            return self.number(value, 2 if Decimal(str(value)) % 1 else 0)
        if isinstance(value, list | tuple):
            return self.join([self.value(v) for v in value])
        if isinstance(value, str):
            if value in STAGE_IDS:
                return self.stage_name(value)
            failed = FAILED_CHECK.fullmatch(value)
            if failed:  # a release check that failed, as the event recorded it: "error_rate <= 1 (observed 3.5)"
                return self.gettext("{check} (observed {value})", check=failed[1], value=failed[2])
            for family in VALUE_FAMILIES:
                if self.has_word(family, value):
                    return self.word(family, value)
            return self.maybe_date(value)
        return "" if value is None else str(value)

    def message(self, template_en: str, params: Mapping[str, Any] | None = None,
                plural_template: str | None = None, n: int | None = None) -> str:
        """A domain message (delivery/messages.py: its English template, marked with N_() / NP_()) in this
        language: gettext, or ngettext with `n` when the template has a plural, then `{name}` filled from
        params, each value as a reader sees it (stages by name, states and tiers by their word, dates in the
        locale; PARAM_FAMILIES names the family of a parameter by its name)."""
        if plural_template is not None:
            text = self.translations.ngettext(template_en, plural_template, n if n is not None else 1)
        else:
            text = self.translations.gettext(template_en)
        shown: dict[str, Any] = {}
        for name, value in (params or {}).items():
            if name in ("stage", "from_stage", "to_stage", "raised_in_stage") and isinstance(value, str):
                shown[name] = self.stage_name(value)
            elif is_percentage(name) and isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                shown[name] = self.percent(value, 1)
            elif name in PARAM_FAMILIES and isinstance(value, str):
                shown[name] = self.word(PARAM_FAMILIES[name], value)
            elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                shown[name] = self.number(value, 2 if Decimal(str(value)) % 1 else 0)
            else:
                shown[name] = self.value(value)
        return text.format_map(_Default(shown))

    # Stages carry their two names in the domain (delivery/stages.py).
    def stage(self, item: Any, field: str = "stage") -> str:
        """A read model's stage label (`stage_label_zh` / `label_zh`) in this language."""
        suffix = "zh" if self.zh else "en"
        for name in (f"{field}_label_{suffix}", f"label_{suffix}"):
            if hasattr(item, name):
                return str(getattr(item, name))
        return str(getattr(item, field, item))

    def stage_name(self, stage_id: str) -> str:
        try:
            return Stage(stage_id).label(self.lang)
        except ValueError:
            return stage_id

    # Formatting per locale (Babel).
    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, format="medium", locale=self.locale)

    def maybe_date(self, text: str) -> str:
        """An ISO date or date-time in a view's or event's data, written as the page writes dates; other text as is."""
        if len(text) == ISO_DATE_LEN:
            try:
                return self.date(date.fromisoformat(text))
            except ValueError:
                return text
        if len(text) in ISO_MOMENT_LENS and text[4:5] == "-" and "T" in text:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return text
            if moment.tzinfo is not None:
                return self.datetime(moment.astimezone(UTC))
        return text

    def month(self, value: Day) -> str:
        """A month's short name: `Nov` / `11月` (the chart's axis shows the year apart)."""
        return format_date(value, format="LLL", locale=self.locale)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return f"{self.date(value)} {format_time(value, 'HH:mm', locale=self.locale)} UTC"

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return ""
        return format_decimal(value, format="#,##0" + ("." + "0" * digits if digits else ""), locale=self.locale)

    def percent(self, value: float | int | Decimal | None, digits: int = 0, signed: bool = False) -> str:
        """A percentage given in percent (42.9 -> "42.9%"): every percentage on the pages goes through here,
        `digits` decimals at most, the locale's sign."""
        if value is None:
            return ""
        pattern = "#,##0" + ("." + "#" * digits if digits else "") + "%"
        text = format_percent(Decimal(str(value)) / 100, format=pattern, locale=self.locale)
        return ("+" + text) if signed and value > 0 else text

    def money(self, value: float | int | Decimal, currency: str = CURRENCY) -> str:
        """An amount in its currency, never a bare number: `CNY 1,500` in English, `¥1,500` in Chinese
        (the locale's symbol), two decimals when there are cents."""
        digits = ".00" if Decimal(str(value)) % 1 else ""
        pattern = ("¤#,##0" if self.zh else "¤¤\u00a0#,##0") + digits
        return format_currency(value, currency, format=pattern, locale=self.locale, currency_digits=False)

    def metric(self, name: str) -> str:
        """A measurable criterion's metric as a reader calls it (the built-in templates' metrics have words)."""
        return self.word("metric", name) if self.has_word("metric", name) else name

    def unit(self, unit: str) -> str:
        return self.word("unit", unit) if self.has_word("unit", unit) else unit

    def measure(self, value: float | int | Decimal | None, unit: str | None = None) -> str:
        """A number with its unit, spaced as the locale writes it (`1,500 ms`; a percent sign stays close)."""
        shown = self.number(value, 2 if value is not None and Decimal(str(value)) % 1 else 0)
        if not unit:
            return shown
        unit = self.unit(unit)
        return f"{shown}{unit}" if unit in ("%", "‰", "°") else f"{shown}\u00a0{unit}"

    def comparator(self, symbol: str) -> str:
        return COMPARATORS.get(symbol, symbol)

    def join(self, items: list[str]) -> str:
        """Items as a list in the locale: `a, b and c` / `a、b和c`."""
        return format_list(items, locale=self.locale) if items else ""

    def coded(self, message: Any) -> str:
        """A sentence the domain or the views sent as data (delivery/messages.py): a `Message`, a view's
        `MessageView` or its JSON `{"code", "params"}`, in this language. Vocabulary words (a template's
        `terms`: states, statuses, actions) are translated one by one; nested messages are rendered too."""
        if isinstance(message, Mapping):
            code, params = str(message.get("code", "")), dict(message.get("params") or {})
        else:
            code, params = str(message.code), dict(message.params)
        template = MESSAGES.get(code)
        if template is None:
            return code
        for name, value in params.items():
            if _is_coded(value):
                params[name] = self.coded(value)
            elif isinstance(value, list) and value and all(_is_coded(v) for v in value):
                params[name] = ("；" if self.zh else "; ").join(self.coded(v) for v in value)
            elif name in ("options", "known") and isinstance(value, list | tuple):
                shown_options = [self.option(str(v)) for v in value]
                params[name] = format_list(shown_options, style="or", locale=self.locale) if shown_options else ""
            elif name == "field" and isinstance(value, str) and code != "field_rule":
                params[name] = self.field_label(value)
            elif name in template.terms:
                words = value if isinstance(value, list | tuple) else [value]
                shown = [self.gettext(TERMS.get(str(w), str(w))) for w in words]
                params[name] = format_list(shown, style="or", locale=self.locale) if shown else ""
        n = params.get(template.count) if template.count else None
        return self.message(template.singular, params, template.plural, int(n) if n is not None else None)

    def error(self, code: str, message: str, details: dict[str, Any]) -> list[str]:
        """A refusal as lines a person can act on, in this language: the domain's sentence from its message code
        and parameters (a gate's unmet conditions one per line); an error without a code (an operator's text)
        as it came, under the refusal's heading in another language."""
        unmet = details.get("unmet") or []
        if unmet and all(isinstance(u, Mapping) and u.get("message_code") in MESSAGES for u in unmet):
            head = self.word("refusal", code) if self.has_word("refusal", code) else message
            return [head, *(self.coded({"code": u["message_code"], "params": u.get("params")}) for u in unmet)]
        message_code = details.get("message_code")
        if message_code in MESSAGES:
            sentence = self.coded({"code": message_code, "params": details.get("params")})
            field = details.get("field")
            if isinstance(field, str) and "rule" in details and message_code != "field_rule":
                # An invalid_input names its rule by code; the whole sentence is "{field}: {rule}."
                sentence = self.coded({"code": "field_rule", "params": {"field": self.field_label(field),
                                                                        "rule": sentence}})
            return [sentence]
        if not self.zh or not self.has_word("refusal", code):
            return [message]
        lines = [self.word("refusal", code)]
        for item in unmet:  # a refusal recorded before its conditions carried codes
            kind = str(item.get("kind")) if isinstance(item, Mapping) else ""
            if self.has_word("unmet", kind):
                values = {**item, "state": self.word("criterion state", str(item.get("state", "")))}
                if "stage" in item:
                    values["stage"] = self.stage_name(str(item["stage"]))
                lines.append(self.word("unmet", kind, **values))
        if code == "invalid_input" and details.get("field"):
            lines.append(f"{self.field_label(str(details['field']))}: {details.get('rule', '')}")
        return lines

    # View fields the pages show through another: the English texts the API sends beside their coded twin
    # (warning_messages, health_reason_message), and a stage's label in each language beside the stage itself
    # (shown by its name in the reader's language; a diff listed the other language's label as a change).
    twins = frozenset({"warnings", "health_reason_text", "stage_label_en", "stage_label_zh"})

    def is_coded(self, value: Any) -> bool:
        """Whether a value is a message sent as data (`{"code", "params"}`), shown with `coded`."""
        return _is_coded(value)

    # The stage templates on offer (delivery.templates.Catalog), set by the page that renders with this translator.
    templates: Any = None

    def template_title(self, name: str) -> str:
        """A stage template's title in this language (its name when no catalog is at hand or it lacks the name)."""
        try:
            return str(self.templates.get(name).title.pick(self.lang))
        except Exception:  # no catalog, or a template since removed from the organisation's folder
            return name

    def option(self, value: str) -> str:
        """One of the values a refused parameter may take, as a reader calls it (a stage, a field to sort by,
        a zoom, a state); the value itself when it has no name."""
        if value in STAGE_IDS:
            return self.stage_name(value)
        for family in ("timeline zoom", "field", *VALUE_FAMILIES):
            if self.has_word(family, value):
                return self.word(family, value)
        return value

    def field_label(self, name: str) -> str:
        """A refused field as a reader calls it; a list item keeps its place, counted from 1 as readers count
        (`steps[1].expected_rate` -> "steps [2] · expected %")."""
        item = LIST_ITEM.fullmatch(name)
        if item is None:
            return self.field(name)
        label = f"{self.field(item[1])} [{int(item[2]) + 1}]"
        return f"{label} · {self.field(item[3])}" if item[3] else label


def _is_coded(value: Any) -> bool:
    if isinstance(value, Mapping):
        return "code" in value and str(value["code"]) in MESSAGES
    return hasattr(value, "code") and hasattr(value, "params") and str(value.code) in MESSAGES


class _Default(dict[str, Any]):
    """Fills a placeholder the caller did not give with nothing rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return ""
