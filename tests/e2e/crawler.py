"""A crawler for the pages and the rule that no word of the other language shows on them.

`Crawler` signs in as one role with the language cookie set, follows every link and GET form it finds
(at most a few addresses of each shape: the audit log's hundred "as of" links are one shape), posts POST
forms twice (left blank, which the app refuses, and filled in) and follows the redirect so flashes and
refusals are read too. `VisibleText` keeps what a reader sees: text outside `<script>`/`<style>`, and the
`title`, `alt`, `aria-label`, `placeholder` attributes and the labels of buttons. `leaks` applies the rule.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

from fastapi.testclient import TestClient

from delivery.currency import CURRENCIES

# Latin words of three letters or more that may stand in Chinese text.
ALLOWED_LATIN = frozenset({
    "UTC", "CSV", "JSON", "iCal", "API", "CNY", "RMB",  # the list: formats, a time zone, currency codes
    "JSONL",  # the export's file format (JSON Lines), named like CSV
    "ISO",  # a standard's name, as in "ISO 8601" (the form dates and times are given in)
    "UAT",  # the stage's own Chinese name is "UAT测试" (docs: PRODUCT.md, the eight stages)
    "HTTP",  # a protocol, like API: "HTTP 500" is what a webhook receiver answered
    "English",  # the language switch names English in English, as it names 简体中文 in Chinese
    "URL",  # the address of a webhook or share link; Chinese product pages write "URL" / "链接" alike
    "Slack",  # a product's name
    "Webhook",  # what the Chinese chat products (企业微信, 钉钉, 飞书) themselves call their incoming hooks
})
# ISO 4217 currency codes name a project's currency the way M1 names a milestone: ids, in any language.
ALLOWED_LATIN |= CURRENCIES
# Units (ms, MB, GB, px) and ids (M1, CR2, R1, AC10, P50) have fewer than three letters in a row: never a leak.
# CJK that may stand in English text: the language switch names Chinese in Chinese.
ALLOWED_CJK = frozenset({"简体中文", "中文"})
LATIN = re.compile(r"[A-Za-z]+")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CJK = re.compile(r"[\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
# What is no word of any language, blanked before the check: addresses (the share link is shown for
# copying), ids and hashes (a UUID, a hex digest or its prefix, a base64 signature), a file's name or
# extension, the CLI's commands (typed as written), and the names of a digest and a file format.
NOT_WORDS = re.compile("|".join((
    r"https?://\S*|/s/[A-Za-z0-9_-]{16,}|/share/\S+",
    UUID.pattern,
    r"(?<![0-9A-Za-z])(?=[0-9a-f]*\d)[0-9a-f]{7,}(?![0-9A-Za-z])",
    r"(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Z])(?=[A-Za-z0-9+/_-]*[a-z])[A-Za-z0-9+/_-]{20,}={0,2}",
    r"(?<![\w/])[\w-]+(?:/[\w.-]+)*/[\w.-]+\.md\b",
    r"(?<![\w])\.(?:ics|csv|jsonl?|pem)\b",
    r"`delivery [^`]*`",
    r"\bsha256(?=:)",
    r"\bJSON Lines\b",
)))
DIGITS = re.compile(r"/\d+(?=/|$)")
LONG_ID = re.compile(r"/(?=[^/]*\d)[A-Za-z0-9_-]{8,}(?=/|$)")  # a share link's secret, a link id
SKIP = ("/static/", "/lang/", "/api/", "/docs", "/redoc", "/s/", "/share/")
DOWNLOADS = (".csv", ".ics", ".json", ".jsonl", ".pem", "/export")
BUTTON_TYPES = {"submit", "button", "reset"}
TYPED = {"text", "textarea", "number", "date", "datetime-local", "url", "email", "search", "password", "tel"}
SHAPE_CAP = 2  # addresses followed per shape (same path with ids blanked, same query keys)


class VisibleText(HTMLParser):
    """The visible text of a page as chunks, the links it offers and its forms."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.links: list[str] = []
        self.forms: list[Form] = []
        self._hidden = 0  # inside <script>/<style>
        self._code = 0  # inside <code>/<kbd>: text kept in backticks, as a command is written (NOT_WORDS)
        self._select: Field | None = None
        self._option: list[str] | None = None
        self._textarea: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag in ("script", "style"):
            self._hidden += 1
            return
        if tag in ("code", "kbd"):
            self._code += 1
        for name in ("title", "alt", "aria-label", "placeholder"):
            if a.get(name, "").strip():
                self.chunks.append(a[name])
        if tag == "input" and a.get("type", "text") in BUTTON_TYPES and a.get("value", "").strip():
            self.chunks.append(a["value"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        form = self.forms[-1] if self.forms and self.forms[-1].open else None
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif form is not None and tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                form.fields.append(Field(a["name"], kind, a.get("value", "on"), checked="checked" in a))
            elif kind not in BUTTON_TYPES:
                form.fields.append(Field(a["name"], kind, a.get("value", "")))
        elif form is not None and tag == "select" and a.get("name"):
            self._select = Field(a["name"], "select", "")
            form.fields.append(self._select)
        elif tag == "option" and self._select is not None:
            self._option = [a["value"]] if "value" in a else []
            if "selected" in a:
                self._select.value = a.get("value", "")
        elif form is not None and tag == "textarea" and a.get("name"):
            self._textarea = Field(a["name"], "textarea", "")
            form.fields.append(self._textarea)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        elif tag in ("code", "kbd"):
            self._code = max(0, self._code - 1)
        elif tag == "form" and self.forms:
            self.forms[-1].open = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "option":
            self._option = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        if data.strip():
            self.chunks.append(f"`{data}`" if self._code else data)
        if self._option is not None and self._select is not None:
            self._select.options.append(self._option[0] if self._option else data.strip())
            self._option = None
        if self._textarea is not None:
            self._textarea.value += data

    @property
    def text(self) -> str:
        return " ¦ ".join(" ".join(c.split()) for c in self.chunks)


@dataclass
class Field:
    name: str
    kind: str
    value: str
    checked: bool = False
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    action: str
    method: str
    fields: list[Field] = field(default_factory=list)
    open: bool = True


@dataclass(frozen=True)
class Leak:
    url: str
    role: str
    word: str
    context: str


@dataclass
class Crawler:
    """One visitor (a role, a language) walking the site and keeping each page's visible text."""

    client: TestClient
    role: str
    filler: str  # what it types into a text field (user data in the store's language)
    pages: dict[str, str] = field(default_factory=dict)  # address -> visible text
    statuses: dict[str, int] = field(default_factory=dict)
    posted: Counter[str] = field(default_factory=Counter)
    shapes: Counter[str] = field(default_factory=Counter)
    tried: set[str] = field(default_factory=set)  # the kinds of POST form posted, as "variant shape"

    def visit(self, url: str, method: str = "GET", data: dict[str, str] | None = None) -> VisibleText | None:
        """Open `url` (following redirects), keep its visible text under the address; None unless it is HTML."""
        response = self.client.request(method, url, data=data, follow_redirects=True)
        if "text/html" not in response.headers.get("content-type", ""):
            return None
        parsed = VisibleText()
        parsed.feed(response.text)
        reached = response.url.path + (f"?{response.url.query.decode()}" if response.url.query else "")
        label = url if method == "GET" else f"POST {url}"
        if reached != url:
            label += f" → {response.url.path}"
        self.pages[label] = parsed.text
        self.statuses[label] = response.status_code
        return parsed

    def crawl(self, starts: Iterable[str], limit: int = 200) -> None:
        """Breadth first from `starts` (each visited whatever its shape), following links and GET forms."""
        queue = list(starts)
        seen: set[str] = set(queue)
        forced = set(queue)
        while queue and len(self.pages) < limit:
            url = queue.pop(0)
            if url not in forced:
                shape = shape_of(url)
                if self.shapes[shape] >= SHAPE_CAP:
                    continue
                self.shapes[shape] += 1
            parsed = self.visit(url)
            if parsed is None:
                continue
            for nxt in [*parsed.links, *self._get_forms(url, parsed.forms)]:
                target = local(url, nxt)
                if target is not None and target not in seen:
                    seen.add(target)
                    queue.append(target)

    def _get_forms(self, here: str, forms: list[Form]) -> list[str]:
        """The addresses a page's GET forms lead to: as they stand, and with each option of each select."""
        found = []
        for form in forms:
            if form.method != "get":
                continue
            action = form.action or urlsplit(here).path
            base = {f.name: f.value for f in form.fields if f.kind not in ("checkbox", "radio") or f.checked}
            found.append(f"{action}?{urlencode(base)}")
            for f in form.fields:
                for option in f.options if f.kind == "select" else ():
                    found.append(f"{action}?{urlencode({**base, f.name: option})}")
        return found

    def post_forms(self, page: str, limit: int = 60) -> None:
        """Post each kind of POST form on `page`: first every one left blank, then every one filled in.

        After each post the page it leads to is read (the flash or refusal is shown there once) and the next
        form is taken from the page as it now stands, so each carries the project version it needs. A kind of
        form posted on an earlier page (the same command on another project) is not posted again."""
        for variant in ("blank", "filled"):
            current = self.visit(page)
            while current is not None and self.posted.total() < limit:
                form = next((f for f in current.forms if f.method == "post" and _postable(f.action)
                             and f"{variant} {shape_of(f.action)}" not in self.tried), None)
                if form is None:
                    break
                self.tried.add(f"{variant} {shape_of(form.action)}")
                if variant == "blank" and not any(f.kind in TYPED for f in form.fields):
                    continue  # nothing to leave blank: the filled post sends the same
                self.posted[variant] += 1
                after = self.visit(form.action or page, "POST", self._fill(form, variant))
                current = after if after is not None and any(f.method == "post" for f in after.forms) \
                    else self.visit(page)

    def _fill(self, form: Form, variant: str) -> dict[str, str]:
        data: dict[str, str] = {}
        soon = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
        for f in form.fields:
            if f.kind in ("hidden",):
                data[f.name] = f.value
            elif f.kind in ("checkbox", "radio"):
                if (variant == "filled" or f.checked) and f.name not in data:
                    data[f.name] = f.value
            elif f.kind == "select":
                data[f.name] = f.value or next((o for o in f.options if o), "")
            elif variant == "blank":
                data[f.name] = ""
            elif f.kind == "number":
                data[f.name] = "1"
            elif f.kind == "date":
                data[f.name] = soon
            elif f.kind == "datetime-local":
                data[f.name] = soon + "T09:00"
            else:
                data[f.name] = f.value or self.filler
        return data


def _postable(action: str) -> bool:
    return bool(action) and not action.startswith(("/signout", "/lang/"))


def local(here: str, href: str) -> str | None:
    """`href` as a local address worth reading (None for other sites, assets, downloads, language switches)."""
    target = urljoin("http://testserver" + here, href)
    parts = urlsplit(target)
    if parts.netloc != "testserver":
        return None
    path = parts.path
    if path.startswith(SKIP) or path.endswith(DOWNLOADS) or "/export" in path:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def shape_of(url: str) -> str:
    """An address with its ids blanked and its query reduced to its keys: pages of the same kind."""
    parts = urlsplit(url)
    path = LONG_ID.sub("/{id}", UUID.sub("{id}", parts.path))
    path = DIGITS.sub("/{n}", re.sub(r"/(AC|CR|M|S|R|P|C)\d+(?=/|$)", r"/{item}", path))
    keys = sorted({kv.split("=", 1)[0] for kv in parts.query.split("&") if kv})
    return path + ("?" + "&".join(keys) if keys else "")


# ------------------------------------------------------------------ the rule


def user_data_pattern(texts: Iterable[str]) -> re.Pattern[str]:
    """Matches any user text (longest first), so it can be blanked before the check."""
    ordered = sorted({t for t in texts if t.strip()}, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in ordered))


def leaks(url: str, role: str, text: str, lang: str, user_data: re.Pattern[str]) -> list[Leak]:
    """The words of the other language in a page's visible text, user data and addresses aside."""
    blank = lambda m: " " * len(m[0])  # noqa: E731 - same length: positions in the original still line up
    masked = NOT_WORDS.sub(blank, user_data.sub(blank, text))
    found = []
    if lang == "zh":
        for m in LATIN.finditer(masked):
            if len(m[0]) >= 3 and m[0] not in ALLOWED_LATIN:
                found.append(Leak(url, role, m[0], around(text, m.start(), m.end())))
    else:
        for m in CJK.finditer(masked):
            if m[0] not in ALLOWED_CJK:
                found.append(Leak(url, role, m[0], around(text, m.start(), m.end())))
    return found


def around(text: str, start: int, end: int, width: int = 60) -> str:
    """About `width` characters of `text` around [start, end)."""
    pad = max(0, (width - (end - start)) // 2)
    a, b = max(0, start - pad), min(len(text), end + pad)
    return ("…" if a else "") + text[a:b] + ("…" if b < len(text) else "")


def report(found: Iterable[Leak], lang: str) -> str:
    """The leaks grouped by kind of page, one line per word (an example address, the roles that saw it, up to
    two different contexts, how often); then the words and the kinds of page by count."""
    groups: dict[str, dict[str, list[Leak]]] = defaultdict(lambda: defaultdict(list))
    words: Counter[str] = Counter()
    for leak in found:
        groups[shape_of(leak.url.split(" → ")[0].removeprefix("POST "))][leak.word].append(leak)
        words[leak.word] += 1
    name = "Latin words in the Chinese pages" if lang == "zh" else "Chinese in the English pages"
    distinct = sum(len(w) for w in groups.values())
    lines = [f"{name}: {sum(words.values())} occurrences of {len(words)} words; {distinct} (page kind, word) "
             f"pairs on {len(groups)} kinds of page"]
    for shape in sorted(groups, key=lambda s: (-len(groups[s]), s)):
        by_word = groups[shape]
        lines.append(f"\n## {shape} ({len(by_word)} words, {sum(map(len, by_word.values()))} occurrences)")
        for word in sorted(by_word, key=lambda w: (-len(by_word[w]), w.lower())):
            seen = by_word[word]
            roles = ", ".join(sorted({leak.role for leak in seen}))
            contexts = list(dict.fromkeys(leak.context for leak in seen))
            pages = len({leak.url for leak in seen})
            lines.append(f"- {seen[0].url} · {roles} · {word} · {contexts[0]}  [×{len(seen)} on {pages} page(s)]")
            lines.extend(f"    also: {c}" for c in contexts[1:3])
    lines.append("\n## Words by count")
    lines.extend(f"- {word}: {count}" for word, count in words.most_common())
    lines.append("\n## Kinds of page by count")
    lines.extend(f"- {shape}: {sum(map(len, groups[shape].values()))}"
                 for shape in sorted(groups, key=lambda s: -sum(map(len, groups[s].values()))))
    return "\n".join(lines)
