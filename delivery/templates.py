"""Stage templates: a project type's plan for the eight stages, kept as TOML data and checked on load.

A template plans, for every stage, milestones (a due offset in days from the project's
start, deliverables) and the acceptance criteria on them, plain or measurable. Every text
is written twice, `*_en` and `*_zh`; a project created from a template records the plan in
the language chosen at creation, as ordinary events (MilestonePlanned, CriterionAdded), so
the history reads as the team wrote it and nothing depends on the template file later.

The built-in templates live in `delivery/stage_templates/`; an organisation adds its own
in the folder named by DELIVERY_TEMPLATES_DIR (a file with a built-in's name replaces it).
A file that fails validation is never loaded: `check` lists every problem with its line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from delivery import validation as v
from delivery.errors import InvalidInput, NotFound
from delivery.messages import msg
from delivery.milestones import COMPARATORS
from delivery.settings import templates_dir
from delivery.stages import STAGES, Stage

BUILT_IN = Path(__file__).with_name("stage_templates")
LANGUAGES = ("en", "zh")
MAX_OFFSET_DAYS = 3650
MAX_MILESTONES = 100
MAX_CRITERIA = 30
if TYPE_CHECKING:
    from delivery.project import Project

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Text:
    """One text in both languages."""

    en: str
    zh: str

    def pick(self, language: str) -> str:
        return self.zh if language_of(language) == "zh" else self.en


@dataclass(frozen=True)
class PlannedCriterion:
    text: Text
    metric: dict[str, Any] | None = None
    # Only the client's sign-off verifies it (delivery/participation.py): UAT sign-offs.
    client_signoff: bool = False


@dataclass(frozen=True)
class PlannedMilestone:
    stage: Stage
    due_days: int
    title: Text
    deliverables: tuple[Text, ...] = ()
    criteria: tuple[PlannedCriterion, ...] = ()


@dataclass(frozen=True)
class Template:
    name: str
    title: Text
    description: Text
    milestones: tuple[PlannedMilestone, ...]
    source: str = ""

    def of_stage(self, stage: Stage) -> list[PlannedMilestone]:
        return [m for m in self.milestones if m.stage is stage]

    @property
    def duration_days(self) -> int:
        return max(m.due_days for m in self.milestones)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a template file: where, which field, which rule."""

    line: int
    field: str
    rule: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.rule}"


class TemplateInvalid(Exception):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))
        self.source = source
        self.problems = problems


def language_of(value: str) -> str:
    """`en` or `zh` from a language tag (zh-CN, zh, en-GB...); anything else is refused."""
    if isinstance(value, str):
        tag = value.strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    raise InvalidInput("language", msg("rule_one_of", options=list(LANGUAGES)))


# ---------------------------------------------------------------- parsing


def parse(text: str, *, name: str, source: str = "") -> Template:
    """The template in `text`, or TemplateInvalid listing every problem (line, field, rule)."""
    template, problems = check(text, name=name)
    if template is None:
        raise TemplateInvalid(source or name, problems)
    return template


def check(text: str, *, name: str) -> tuple[Template | None, list[Problem]]:
    """(template, []) when the text is a valid template named `name`, else (None, its problems)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        return None, [Problem(int(found.group(1)) if found else 1, "(file)", f"is not valid TOML: {exc}")]
    lines = _Lines(text)
    reader = _Reader(lines)
    if not NAME_PATTERN.match(name):
        reader.problem("(file name)", "must be lower-case letters, digits, - or _ (at most 64), starting with a letter")
    reader.known(data, "", {"title_en", "title_zh", "description_en", "description_zh", "milestones"})
    title = reader.text(data, "", "title", v.TITLE_MAX)
    description = reader.text(data, "", "description", v.TEXT_MAX, required=False)
    specs = data.get("milestones")
    milestones: list[PlannedMilestone] = []
    if not isinstance(specs, list) or not specs:
        reader.problem("milestones", "must list at least one [[milestones]] table")
        specs = []
    elif len(specs) > MAX_MILESTONES:
        reader.problem("milestones", f"must have at most {MAX_MILESTONES} entries")
    for i, spec in enumerate(specs):
        m = reader.milestone(spec, f"milestones[{i}]")
        if m is not None:
            milestones.append(m)
    if len(milestones) == len(specs):
        planned = {m.stage for m in milestones}
        for stage in STAGES:
            if stage not in planned:
                reader.problem("milestones", f"must plan at least one milestone for stage {stage.value}")
        previous: PlannedMilestone | None = None
        for i, m in enumerate(milestones):
            if previous is not None and m.stage.order < previous.stage.order:
                reader.problem(f"milestones[{i}].stage", "must not come before the previous milestone's stage "
                               f"({previous.stage.value}): list milestones in stage order")
            previous = m
    if reader.problems or title is None:
        return None, reader.problems
    return Template(name=name, title=title, description=description or Text("", ""),
                    milestones=tuple(milestones)), []


class _Lines:
    """The line each key and table of a TOML text is written on, by field path (milestones[2].criteria[0].text_en)."""

    def __init__(self, text: str) -> None:
        self.at: dict[str, int] = {}
        counts: dict[str, int] = {}
        prefix = ""
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line.startswith("[["):
                table = line.strip("[] ")
                if table == "milestones":
                    index = counts["milestones"] = counts.get("milestones", -1) + 1
                    counts.pop("criteria", None)
                    prefix = f"milestones[{index}]"
                elif table == "milestones.criteria":
                    m = counts.get("milestones", 0)
                    index = counts["criteria"] = counts.get("criteria", -1) + 1
                    prefix = f"milestones[{m}].criteria[{index}]"
                else:
                    prefix = table
                self.at.setdefault(prefix, number)
            elif line.startswith("["):
                prefix = line.strip("[] ")
                self.at.setdefault(prefix, number)
            else:
                found = re.match(r'^([A-Za-z0-9_-]+|"[^"]*")\s*=', line)
                if found:
                    key = found.group(1).strip('"')
                    self.at.setdefault(f"{prefix}.{key}" if prefix else key, number)

    def of(self, path: str) -> int:
        """The line of `path`, or of the nearest enclosing key or table written in the text."""
        while path:
            if path in self.at:
                return self.at[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return 1


@dataclass
class _Reader:
    lines: _Lines
    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, rule: str) -> None:
        self.problems.append(Problem(self.lines.of(path), path, rule))

    def known(self, table: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                path = f"{prefix}.{key}" if prefix else key
                self.problem(path, f"is not a known field (known: {', '.join(sorted(allowed))})")

    def text(self, table: Mapping[str, Any], prefix: str, key: str, max_len: int,
             required: bool = True) -> Text | None:
        values = []
        for lang in LANGUAGES:
            path = f"{prefix}.{key}_{lang}" if prefix else f"{key}_{lang}"
            raw = table.get(f"{key}_{lang}")
            if raw is None and not required:
                values.append("")
                continue
            try:
                values.append(v.text(path, raw, max_len=max_len))
            except InvalidInput as exc:
                self.problem(path, "is required" if raw is None else exc.rule)
                return None
        return Text(*values)

    def texts(self, table: Mapping[str, Any], prefix: str, key: str) -> tuple[Text, ...]:
        lists = []
        for lang in LANGUAGES:
            path = f"{prefix}.{key}_{lang}"
            raw = table.get(f"{key}_{lang}", [])
            if not isinstance(raw, list):
                self.problem(path, "must be a list of strings")
                return ()
            try:
                lists.append(v.text_list(path, raw))
            except InvalidInput as exc:
                self.problem(exc.field, exc.rule)
                return ()
        en, zh = lists
        if len(en) != len(zh):
            self.problem(f"{prefix}.{key}_zh", f"must have as many entries as {key}_en ({len(en)}), not {len(zh)}")
            return ()
        return tuple(Text(a, b) for a, b in zip(en, zh, strict=True))

    def milestone(self, spec: Any, path: str) -> PlannedMilestone | None:
        if not isinstance(spec, dict):
            self.problem(path, "must be a table")
            return None
        before = len(self.problems)
        self.known(spec, path, {"stage", "due_days", "title_en", "title_zh", "deliverables_en",
                                "deliverables_zh", "criteria"})
        stage = None
        try:
            stage = Stage(str(spec.get("stage")))
        except ValueError:
            known = ", ".join(s.value for s in STAGES)
            self.problem(f"{path}.stage", f"must be one of the stage ids ({known}), got {spec.get('stage')!r}")
        due = spec.get("due_days")
        if isinstance(due, bool) or not isinstance(due, int) or not 0 <= due <= MAX_OFFSET_DAYS:
            self.problem(f"{path}.due_days", f"must be a whole number of days from the start, 0 to {MAX_OFFSET_DAYS}")
        title = self.text(spec, path, "title", v.TITLE_MAX)
        deliverables = self.texts(spec, path, "deliverables")
        specs = spec.get("criteria", [])
        criteria = []
        if not isinstance(specs, list) or len(specs) > MAX_CRITERIA:
            self.problem(f"{path}.criteria", f"must be a list of at most {MAX_CRITERIA} [[milestones.criteria]] tables")
            specs = []
        for j, c in enumerate(specs):
            criterion = self.criterion(c, f"{path}.criteria[{j}]")
            if criterion is not None:
                criteria.append(criterion)
        if len(self.problems) > before or stage is None or title is None or not isinstance(due, int):
            return None
        return PlannedMilestone(stage=stage, due_days=due, title=title, deliverables=deliverables,
                                criteria=tuple(criteria))

    def criterion(self, spec: Any, path: str) -> PlannedCriterion | None:
        if not isinstance(spec, dict):
            self.problem(path, "must be a table")
            return None
        self.known(spec, path, {"text_en", "text_zh", "metric", "client_signoff"})
        text = self.text(spec, path, "text", 500)
        metric = None
        if "metric" in spec:
            metric = self.metric(spec["metric"], f"{path}.metric")
            if metric is None:
                return None
        signoff = spec.get("client_signoff", False)
        if not isinstance(signoff, bool):
            self.problem(f"{path}.client_signoff", "must be true or false")
            return None
        if signoff and metric is not None:
            self.problem(f"{path}.client_signoff", "cannot be asked of a measurable criterion")
            return None
        return None if text is None else PlannedCriterion(text=text, metric=metric, client_signoff=signoff)

    def metric(self, spec: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(spec, dict):
            self.problem(path, "must be a table: { name, comparator, threshold, unit }")
            return None
        self.known(spec, path, {"name", "comparator", "threshold", "unit"})
        before = len(self.problems)
        result: dict[str, Any] = {}
        checks: dict[str, Callable[[Any], Any]] = {
            "name": lambda x: v.text(f"{path}.name", x, max_len=80),
            "comparator": lambda x: v.choice(f"{path}.comparator", x, COMPARATORS),
            "threshold": lambda x: v.number(f"{path}.threshold", x),
            "unit": lambda x: v.optional_text(f"{path}.unit", x, max_len=20),
        }
        for key, parse_value in checks.items():
            try:
                result[key] = parse_value(spec.get(key))
            except InvalidInput as exc:
                self.problem(exc.field, exc.rule)
        return result if len(self.problems) == before else None


# ---------------------------------------------------------------- catalog


@dataclass
class Catalog:
    """The templates a deployment offers: the built-in ones and the organisation's own."""

    templates: dict[str, Template]
    # Files that failed validation (never loaded), with their problems.
    rejected: dict[str, list[Problem]]

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Catalog:
        folders = [BUILT_IN]
        extra = templates_dir(environ)
        if extra is not None:
            folders.append(extra)
        templates: dict[str, Template] = {}
        rejected: dict[str, list[Problem]] = {}
        for folder in folders:
            for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
                template, problems = check(path.read_text(encoding="utf-8"), name=path.stem)
                if template is None:
                    rejected[str(path)] = problems
                else:
                    templates[template.name] = Template(
                        name=template.name, title=template.title, description=template.description,
                        milestones=template.milestones, source=str(path),
                    )
        return cls(templates, rejected)

    def __iter__(self) -> Iterator[Template]:
        return iter(sorted(self.templates.values(), key=lambda t: t.name))

    def get(self, name: object) -> Template:
        if isinstance(name, str) and name.strip() in self.templates:
            return self.templates[name.strip()]
        if not isinstance(name, str):
            raise InvalidInput("template", msg("rule_template_name"))
        # A well-formed name the catalog does not hold: no such template (404), the known ones said.
        known = sorted(self.templates)
        raise NotFound.because(msg("template_not_found", name=repr(name), known=known or None),
                               {"kind": "template", "id": name, "known": known})


def plan_project(project: Project, template: Template, *, start_on: date, language: str, actor: str) -> None:
    """Record the template's plan on a project that has none yet: ordinary milestones and criteria."""
    project.apply_template(template=template.name, start_on=start_on, language=language, actor=actor)
    for m in template.milestones:
        milestone_id = project.plan_milestone(
            title=m.title.pick(language), stage=m.stage, due_on=start_on + timedelta(days=m.due_days),
            deliverables=[d.pick(language) for d in m.deliverables], actor=actor,
        )
        for c in m.criteria:
            project.add_criterion(milestone_id=milestone_id, text=c.text.pick(language), metric=c.metric,
                                  client_signoff=c.client_signoff,
                                  actor=actor)
