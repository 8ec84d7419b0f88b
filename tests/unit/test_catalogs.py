"""The gettext catalogs (web/locale): complete in Chinese, placeholders kept, up to date with the sources, a plural
form per count, and a human name for every event type, state and health reason the domain has."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from eventsourcing.domain import DomainEvent

from delivery import project
from delivery.changes import ChangeKind, ChangeStatus
from delivery.health import HEALTHS, REASONS
from delivery.messages import MESSAGES
from delivery.milestones import CriterionState, MilestoneState
from delivery.participation import ProposalStatus
from delivery.releases import ReleaseState
from delivery.scope import ItemStatus, Tier
from projections import models
from web import catalogs
from web.i18n import LANGUAGES, LOCALE_DIR, Translator, catalog_path
from web.words import PLURALS, WORDS

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]|\{(\w*)\}")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def _key(m: Message) -> tuple[str | None, str]:
    return m.context, m.id if isinstance(m.id, str) else m.id[0]


def _forms(m: Message) -> tuple[str, ...]:
    return m.string if isinstance(m.string, tuple) else (m.string,)


POT = _read(LOCALE_DIR / "messages.pot")
ZH = _read(catalog_path("zh-CN"), "zh_CN")
EN = _read(catalog_path("en"), "en")
PLURAL_MSGIDS = [m for m in POT if m.id and isinstance(m.id, tuple)]


def test_every_msgid_has_a_chinese_translation_and_fuzzy_counts_as_missing() -> None:
    zh = {_key(m): m for m in ZH if m.id}
    missing = [k for k in (_key(m) for m in POT if m.id)
               if k not in zh or zh[k].fuzzy or not all(_forms(zh[k]))]
    assert not missing, f"{len(missing)} msgids lack a zh_CN translation: {missing[:10]}"


@pytest.mark.parametrize("catalog", [ZH, EN], ids=["zh_CN", "en"])
def test_a_translation_keeps_the_placeholders_of_its_msgid(catalog: Catalog) -> None:
    wrong = []
    for m in catalog:
        if not m.id:
            continue
        if isinstance(m.id, tuple):
            # A language with one form (Chinese) writes the plural's placeholders; English may drop the count
            # from its singular ("Rescheduled once").
            wanted = [_placeholders(m.id[1])] * len(_forms(m))
            allowed_less = {"num", "n", "count"}
        else:
            wanted, allowed_less = [_placeholders(m.id)], set()
        for form, want in zip(_forms(m), wanted, strict=True):
            if form and not (want - allowed_less <= _placeholders(form) <= want):
                wrong.append((m.id, form))
    assert not wrong, wrong[:10]


def test_the_catalogs_are_up_to_date_with_the_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    catalogs.extract(fresh)
    extracted = {_key(m) for m in _read(fresh) if m.id}
    for name, catalog in (("messages.pot", POT), ("zh_CN", ZH), ("en", EN)):
        known = {_key(m) for m in catalog if m.id}
        assert extracted - known == set(), f"{name} lacks msgids the sources mark: run `make catalogs`"
        assert known - extracted == set(), f"{name} keeps msgids no source marks any more: run `make catalogs`"


def test_chinese_has_one_plural_form() -> None:
    assert ZH.plural_forms == "nplurals=1; plural=0;"


# The parameter that counts in each of the domain's plural messages (delivery/messages.py: `{max}`, `{days}`...).
DOMAIN_COUNTS = {t.singular: t.count for t in MESSAGES.values() if t.plural is not None and t.count}


def _fill(text: str, message: Message, n: int) -> str:
    """A form with its count put in (`%(num)s` in templates, `{n}` / `{count}` or the domain message's own count
    parameter in Python) and `<name>` for the rest."""
    names = _placeholders(message.id[1])
    if "python-format" in message.flags:
        return text % {name: (n if name == "num" else f"<{name}>") for name in names}
    counting = {"n", "count", DOMAIN_COUNTS.get(message.id[0], "count")}
    return text.format(**{name: (n if name in counting else f"<{name}>") for name in names})


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("n", [0, 1, 2])
@pytest.mark.parametrize("message", PLURAL_MSGIDS, ids=[m.id[1][:50] for m in PLURAL_MSGIDS])
def test_a_count_reads_right_for_0_1_and_2(message: Message, n: int, lang: str) -> None:
    singular, plural = message.id
    translations = Translator(lang).translations
    if message.context:
        text = translations.npgettext(message.context, singular, plural, n)
    else:
        text = translations.ngettext(singular, plural, n)
    shown = _fill(text, message, n)
    if lang == "en":
        assert shown == _fill(singular if n == 1 else plural, message, n)
        assert (n == 1) == (shown == _fill(singular, message, n))
    else:  # one form for every count, in Chinese
        assert str(n) in shown
        assert not re.search(r"[A-Za-z]{3,}", re.sub(r"<\w+>", "", shown)), shown


def _event_types() -> set[str]:
    found = set()
    for _name, aggregate in inspect.getmembers(project, inspect.isclass):
        if aggregate.__module__ != project.__name__:
            continue
        for name, event in vars(aggregate).items():
            if inspect.isclass(event) and issubclass(event, DomainEvent) and name != "Event":
                found.add(name)
    return found


def test_the_domain_has_event_types_to_name() -> None:
    assert {"Created", "CriterionVerified", "ReleaseRolledBack", "StageAdvanced"} <= _event_types()


def _literal(model: Any, field: str) -> tuple[str, ...]:
    return get_args(model.model_fields[field].annotation)


# Every code the pages show by its word: the domain's enumerations and the read models' literal types.
CODES: dict[str, set[str]] = {
    "event type": _event_types(),
    "event sentence": _event_types() - {"Created"},
    "health reason": set(REASONS),
    "health": set(HEALTHS),
    "scope tier": {x.value for x in Tier},
    "scope status": {x.value for x in ItemStatus},
    "criterion state": {x.value for x in CriterionState},
    "milestone status": {x.value for x in MilestoneState} | set(_literal(models.MilestoneStatus, "status")),
    "change kind": {x.value for x in ChangeKind},
    "change request status": {x.value for x in ChangeStatus},
    "proposal status": {x.value for x in ProposalStatus},
    "release state": {x.value for x in ReleaseState},
    "boolean": {"true", "false"},
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("family", sorted(CODES))
def test_every_code_the_domain_has_reads_as_a_word_in_both_languages(family: str, lang: str) -> None:
    t = Translator(lang)
    unnamed = sorted(code for code in CODES[family] if not t.has_word(family, code))
    assert not unnamed, f"{family}: no human name for {unnamed} (add it to web/words.py, then make catalogs)"
    for code in CODES[family]:
        shown = t.word(family, code, actor="A", count=2)
        assert shown and "_" not in shown and not re.fullmatch(r"(?:[A-Z][a-z]+){2,}", shown), (family, code, shown)
        if lang == "zh-CN":
            assert re.search(r"[\u4e00-\u9fff]", shown), (family, code, shown)


def test_every_word_is_marked_with_its_family_as_context() -> None:
    contexts = {m.context for m in POT if m.id}
    assert set(WORDS) | set(PLURALS) <= contexts
