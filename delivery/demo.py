"""The demo portfolio, read from data: eleven client projects, each planned from a stage template.

The projects and what their pms recorded live in `demo_portfolio.toml` (the cases come from
the practice articles: the 优购生鲜 fresh-grocery mini-program in three phases, a Guangzhou
equipment dealer's inquiry website, a CRM rollout, a scan-to-order restaurant mini-program,
a multi-store chain whose gradual release had to roll back, and smaller ones in their early
stages). Each project is created from its template, which records the plan of all eight
stages; the script then records what happened. Every day counts back from today and every
command is recorded at that simulated moment (`clock.frozen_at`), so the demo always looks
current: late milestones are late now, the paused release was paused three weeks ago.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.errors import InvalidInput
from delivery.messages import msg
from delivery.project import Project
from delivery.stages import STAGES

Progress = Callable[[int, int], None]

DATA = Path(__file__).with_name("demo_portfolio.toml")
# Simulated working days start at 09:00 UTC; commands on the same day are this far apart.
DAY_START = time(9, 0)
STEP_GAP = timedelta(minutes=3)
# What close_stage writes as evidence once a step's own list is used up.
DEFAULT_EVIDENCE = {"en": "Accepted as planned; records filed", "zh": "按计划验收，记录存档"}


@dataclass(frozen=True)
class On:
    """A date `days` from today (negative: in the past), resolved when the demo loads."""

    days: int


@dataclass(frozen=True)
class Ref:
    """The value an earlier step returned (an id such as M2 or CR1), by its key."""

    key: str


@dataclass(frozen=True)
class Step:
    day: int  # days from today; always in the past
    command: str  # a Project command, or a demo macro (MACROS)
    args: dict[str, Any]
    key: str | None = None  # keep the command's value under this name
    actor: str | None = None  # who recorded it, when not the project's PM


@dataclass(frozen=True)
class ProjectScript:
    name: str
    client: str
    pm: str
    started: int  # the day the project was created
    description: str = ""
    steps: Sequence[Step] = field(default_factory=tuple)
    template: str | None = None  # planned from this stage template at creation
    language: str = "en"  # the language the template's plan is recorded in


def at(day: int, command: str, *, key: str | None = None, actor: str | None = None, **args: Any) -> Step:
    return Step(day, command, args, key, actor)


# ------------------------------------------------------------------ commands


def close_stage(project: Project, *, evidence: Sequence[str] = (), language: str = "en", actor: str) -> None:
    """What a pm does before leaving a stage as planned: verify each criterion still open on the current
    stage's milestones (a measurable one with a value that meets it; one that asks for the client's sign-off
    is signed by the client), then complete each milestone."""
    proofs = list(evidence)
    stage = project.stage
    for m in [m for m in project.milestones.values() if m.stage == stage.value and not m.done]:
        for c in project.criteria_of(m.id):
            if c.closed:
                continue
            proof = proofs.pop(0) if proofs else DEFAULT_EVIDENCE[language]
            if c.client_signoff:  # only the client closes it: its sign-off, under the client's name
                project.sign_off_criterion(criterion_id=c.id, verdict="verified", comment=proof, actor=project.client)
                continue
            measured = None if c.metric is None else _meeting(c.metric.comparator, c.metric.threshold)
            project.verify_criterion(criterion_id=c.id, evidence=proof, measured=measured, actor=actor)
        project.complete_milestone(milestone_id=m.id, actor=actor)


def _meeting(comparator: str, threshold: float) -> float:
    """A measured value a little better than the threshold (a percentage never above 100)."""
    if comparator == "<=":
        return round(threshold * 0.9, 2)
    if comparator == "<":
        return round(threshold * 0.9, 2) if threshold > 0 else threshold - 1
    if comparator == ">=":
        better = round(threshold * 1.02, 2)
        return min(better, 100.0) if threshold <= 100 else better
    if comparator == ">":
        return threshold + 1
    return threshold


MACROS: dict[str, Callable[..., Any]] = {"close_stage": close_stage}


def command(name: str) -> Callable[..., Any]:
    """The function a step names: a demo macro or a Project command, called as `f(project, actor=..., **args)`."""
    if name in MACROS:
        return MACROS[name]
    method = getattr(Project, name, None)
    if name.startswith("_") or not callable(method) or name in ("create",):
        raise InvalidInput("do", msg("rule_demo_command", macros=list(MACROS), name=repr(name)))
    return method  # type: ignore[no-any-return]


# ------------------------------------------------------------------ the data


def read_portfolio(path: Path = DATA) -> tuple[ProjectScript, ...]:
    """The projects in a demo data file, as scripts."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    scripts = []
    for p in data["projects"]:
        steps = []
        for raw in p["steps"]:
            spec = dict(raw)
            day, name = spec.pop("day"), spec.pop("do")
            key, actor = spec.pop("key", None), spec.pop("as", None)
            if name in MACROS:
                spec.setdefault("language", p.get("language", "en"))
            steps.append(Step(day, name, {k: _value(v) for k, v in spec.items()}, key, actor))
        scripts.append(ProjectScript(
            name=p["name"], client=p["client"], pm=p["pm"], started=p["started"],
            description=p.get("description", ""), steps=tuple(steps), template=p.get("template"),
            language=p.get("language", "en"),
        ))
    return tuple(scripts)


def _value(raw: Any) -> Any:
    if isinstance(raw, dict) and set(raw) == {"days"}:
        return On(raw["days"])
    if isinstance(raw, dict) and set(raw) == {"ref"}:
        return Ref(raw["ref"])
    return raw


PORTFOLIO: tuple[ProjectScript, ...] = read_portfolio()


# ------------------------------------------------------------------ loading


def demo_is_loaded(app: DeliveryApplication) -> bool:
    """True when the store holds any event at all (the demo loads only into an empty store)."""
    return bool(app.recorder.max_notification_id())


def command_count(portfolio: Sequence[ProjectScript] = PORTFOLIO) -> int:
    """How many commands loading the portfolio runs (one per step, plus each project's creation)."""
    return sum(1 + len(p.steps) for p in portfolio)


def plan_keys(project: Project) -> dict[str, str]:
    """`plan:<stage>` for each stage's first milestone (what a script calls the template's plan)."""
    keys: dict[str, str] = {}
    for m in project.milestones.values():
        keys.setdefault(f"plan:{m.stage}", m.id)
    return {k: keys[k] for k in (f"plan:{s.value}" for s in STAGES) if k in keys}


def load_demo(
    app: DeliveryApplication, progress: Progress | None = None, *,
    now: datetime | None = None, portfolio: Sequence[ProjectScript] = PORTFOLIO,
) -> list[UUID]:
    """Record the portfolio's history in time order, as if it had happened; the projects' ids."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    # Every project's steps, merged into one timeline: the store then reads like a real one,
    # its positions in the order things were recorded. (Index -1 is the project's creation.)
    timeline = sorted(
        (step_day, p_index, s_index)
        for p_index, script in enumerate(portfolio)
        for s_index, step_day in [(-1, script.started), *((i, s.day) for i, s in enumerate(script.steps))]
    )
    ids: list[UUID | None] = [None] * len(portfolio)
    keys: list[dict[str, Any]] = [{} for _ in portfolio]
    total, rank, last_day = len(timeline), 0, None
    for done, (day, p_index, s_index) in enumerate(timeline, start=1):
        if day >= 0:
            raise ValueError(f"demo steps must lie in the past, not on day {day}")
        rank = rank + 1 if day == last_day else 0
        last_day = day
        moment = datetime.combine(today + timedelta(days=day), DAY_START, tzinfo=UTC) + rank * STEP_GAP
        script = portfolio[p_index]
        with clock.frozen_at(moment):
            if s_index < 0:
                pid = ids[p_index] = app.create_project(
                    name=script.name, client=script.client, description=script.description, actor=script.pm,
                    template=script.template, start_on=moment.date() if script.template else None,
                    language=script.language,
                ).value
                keys[p_index].update(plan_keys(app.get_project(pid)))
            else:
                step, created = script.steps[s_index], ids[p_index]
                assert created is not None  # created before its first step (the timeline sorts it first)
                args = {name: _resolve(value, today, keys[p_index]) for name, value in step.args.items()}
                result = app.execute(created, command(step.command), actor=step.actor or script.pm, **args)
                if step.key is not None:
                    keys[p_index][step.key] = result.value
        if progress is not None:
            progress(done, total)
    return [pid for pid in ids if pid is not None]


def _resolve(value: Any, today: date, keys: dict[str, Any]) -> Any:
    if isinstance(value, On):
        return today + timedelta(days=value.days)
    if isinstance(value, Ref):
        return keys[value.key]
    return value
