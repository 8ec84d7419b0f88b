"""The stores the language-leak crawler reads: the same projects with all user text in Chinese, or in English.

`language_store.toml` holds every user text as `{ zh, en }`; `build_store` picks one language, records the
projects through the application (the demo loader, so dates fall where the scripts say: late milestones are
late today), adds a page's worth of small projects so the portfolio has a second page, and makes a token per
role with a name in the same language. `Store.user_text` is every text it recorded, for the leak check.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from delivery.demo import On, ProjectScript, Ref, Step, load_demo
from delivery.settings import Database
from delivery.templates import Template
from tests.e2e.pages_helpers import Site, make_site

DATA = Path(__file__).with_name("language_store.toml")
# Enough small projects beside the five scripted ones that the portfolio (20 a page) has a second page.
FILLERS = 17
LANGUAGES = ("zh", "en")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
CJK = re.compile(r"[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


@dataclass
class Store:
    lang: str  # "zh" or "en": the language of every user text in it
    site: Site
    ids: dict[str, str]  # a scripted project's key -> its id
    tokens: dict[str, str]  # role -> token
    names: dict[str, str]  # who -> their name in this language (people in the data file)
    user_text: set[str] = field(default_factory=set)

    @property
    def page_lang(self) -> str:
        """The pages' language code for this store's language (the `dt_lang` cookie)."""
        return "zh-CN" if self.lang == "zh" else "en"


class _Picker:
    """Turns the data file's `{ zh, en }` tables into one language's text, remembering each text it picks."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.picked: set[str] = set()

    def text(self, pair: Any) -> str:
        assert isinstance(pair, dict) and set(pair) == set(LANGUAGES), f"not a {{zh, en}} text: {pair!r}"
        chosen = str(pair[self.lang])
        self.picked.add(chosen)
        return chosen

    def value(self, raw: Any) -> Any:
        if isinstance(raw, dict) and set(raw) == set(LANGUAGES):
            return self.text(raw)
        if isinstance(raw, dict) and set(raw) == {"days"}:
            return On(raw["days"])
        if isinstance(raw, dict) and set(raw) == {"ref"}:
            return Ref(raw["ref"])
        if isinstance(raw, dict):
            return {k: self.value(v) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v) for v in raw]
        return raw


def read_scripts(lang: str, path: Path = DATA) -> tuple[list[str], list[ProjectScript], dict[str, str], set[str]]:
    """(project keys, their scripts, the people's names, every user text picked) in language `lang`."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    pick = _Picker(lang)
    names = {who: pick.text(pair) for who, pair in data["people"].items()}
    keys, scripts = [], []
    for p in data["projects"]:
        steps = []
        for raw in p["steps"]:
            spec = dict(raw)
            day, name = spec.pop("day"), spec.pop("do")
            key, actor = spec.pop("key", None), spec.pop("as", None)
            args = {k: pick.value(v) for k, v in spec.items()}
            if isinstance(args.get("metrics"), list):  # [{name, value}] -> {name: value}
                args["metrics"] = {m["name"]: m["value"] for m in args["metrics"]}
            steps.append(Step(day, name, args, key, names[actor] if actor else None))
        keys.append(p["key"])
        scripts.append(ProjectScript(
            name=pick.text(p["name"]), client=pick.text(p["client"]), pm=names["pm"], started=p["started"],
            description=pick.text(p["description"]) if "description" in p else "", steps=tuple(steps),
            template=p.get("template"), language=lang,
        ))
    return keys, scripts, names, pick.picked


def numeral(n: int, lang: str) -> str:
    """1..99 written out in Chinese (so a filler project's name has no Latin letter), or as digits in English."""
    if lang != "zh":
        return str(n)
    digits = "零一二三四五六七八九"
    tens, ones = divmod(n, 10)
    return (("" if tens == 1 else digits[tens]) + "十" if tens else "") + (digits[ones] if ones or not tens else "")


def template_text(template: Template, lang: str) -> set[str]:
    """A stage template's words in `lang`: once a project is planned from it, they are that project's data.

    (The templates are data files written in both languages, `title_zh` and so on; only their metric names
    have no language, and those are left to the leak check.)"""
    texts = {template.title.pick(lang), template.description.pick(lang)}
    for m in template.milestones:
        texts.add(m.title.pick(lang))
        texts.update(d.pick(lang) for d in m.deliverables)
        texts.update(c.text.pick(lang) for c in m.criteria)
    return texts


def build_store(database: Database, lang: str) -> Iterator[Store]:
    """A site over a fresh store holding the data file's projects in `lang`, with a token per role."""
    keys, scripts, names, picked = read_scripts(lang)
    for site in make_site(database):
        services = site.services
        app = services.app
        ids = [str(pid) for pid in load_demo(app, portfolio=scripts)]
        filler_client = names["filler_client"]
        for n in range(1, FILLERS + 1):
            name = names["filler_project"].replace("{n}", numeral(n, lang))
            picked.add(name)
            app.create_project(name=name, client=filler_client, actor=names["pm"])
        services.reads.wait_for(app.recorder.max_notification_id())
        by_key = dict(zip(keys, ids, strict=True))
        tokens = {
            "pm": site.token("pm", name=names["pm"]),
            "client": site.token("client", [by_key["late"], by_key["release"]], name=names["client"]),
            "auditor": site.token("auditor", name=names["auditor"]),
        }
        user_text = picked | set(names.values())
        for template in app.templates:
            user_text |= template_text(template, lang)
        yield Store(lang, site, by_key, tokens, names, user_text)
