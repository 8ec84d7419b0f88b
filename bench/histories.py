"""Project histories for the bench store: the demo's scripts renamed, shifted, and cut or padded to a size.

A history is a generator over one in-memory `Project` aggregate: each `next()` runs
one command (the aggregate's own method, so every rule is checked) at a simulated
moment and yields the moment of the next one. `bench/generate.py` merges many of
them by time and saves the aggregates in batches. No module outside `bench/` uses this.

Usage: imported by bench/generate.py (`python bench/histories.py` prints each script's event count).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import pairwise
from typing import Any

from delivery import clock
from delivery.demo import PORTFOLIO, On, ProjectScript, Ref, plan_keys
from delivery.demo import command as scripted_command
from delivery.errors import DeliveryError
from delivery.project import Project
from delivery.releases import ReleaseState
from delivery.stages import RELEASE_STAGES
from delivery.templates import Catalog, plan_project

DAY_START = time(9, 0)
STEP_GAP = timedelta(minutes=3)
FILLER_ACTOR = "Bench PM"
TEMPLATES = Catalog.load()


@dataclass
class Spec:
    """One project to build: which demo script, under which name, shifted how far back, to how many events."""

    script: ProjectScript
    name: str
    target: int  # events (the aggregate's version) to stop at; a command (or the creation's plan) may overshoot
    shift_days: int = 0  # every day of the script moves this far into the past
    minute: int = 0  # an offset within the working day, so copies do not share timestamps
    seed: int = 0
    pad: bool = True  # after the script, keep going with filler commands up to `target`
    vary: bool = False  # stretch the script's stages by a seeded pace and setbacks (`Pace`): its slips then vary


@dataclass
class Built:
    """What a history leaves behind: the aggregate and the moments the bench needs later."""

    spec: Spec
    project: Project | None = None
    moments: dict[int, datetime] = field(default_factory=dict)  # version -> when it was recorded

    @property
    def version(self) -> int:
        return 0 if self.project is None else int(self.project.version)


def history(built: Built, now: datetime, watch: Sequence[int] = ()) -> Iterator[datetime]:
    """Run `built.spec` one command per `next()`; yields the moment of the next command before running it.

    The moment each version in `watch` (ascending) was recorded is kept in `built.moments`.
    """
    spec = built.spec
    script = spec.script
    today = now.date()
    keys: dict[str, Any] = {}
    last = now
    watched = 0

    def run(moment: datetime, action: Callable[[], Any]) -> Any:
        nonlocal watched
        with clock.frozen_at(moment):
            value = action()
        while watched < len(watch) and built.version >= watch[watched]:
            built.moments[watch[watched]] = moment
            watched += 1
        return value

    steps = sorted(enumerate(script.steps), key=lambda pair: (pair[1].day, pair[0]))
    pace = Pace.drawn(script, random.Random(spec.seed * 7_919 + 17)) if spec.vary else Pace.none()
    rank, last_day = 0, None
    start = _moment(today, pace.day(script.started) - spec.shift_days, 0, spec.minute)
    yield start

    def create() -> Project:
        created = Project.create(name=spec.name, client=script.client, description=script.description,
                                 actor=script.pm)
        if script.template is not None:  # the plan comes with the creation, as in the application
            plan_project(created, TEMPLATES.get(script.template), start_on=start.date(), language=script.language,
                         actor=script.pm)
        return created

    built.project = run(start, create)
    project = built.project
    keys.update(plan_keys(project))
    last = start
    for _index, step in steps:
        if built.version >= spec.target:
            return
        day = pace.day(step.day)
        rank = rank + 1 if day == last_day else 0
        last_day = day
        moment = max(_moment(today, day - spec.shift_days, rank, spec.minute), last)
        yield moment
        # A date the script names is as far from the step that names it as in the script (a plan made then).
        moved = day - step.day
        args = {name: _resolve(value, today, spec.shift_days - moved, keys) for name, value in step.args.items()}
        if step.command == "reschedule_milestone" and args["due_on"] == project.milestones[args["milestone_id"]].due_on:
            args["due_on"] += timedelta(days=1)  # stretched, the move could land on the date it moves from
        scripted = partial(scripted_command(step.command), project, actor=step.actor or script.pm, **args)
        value = run(moment, scripted)
        if step.key is not None:
            keys[step.key] = value
        last = moment
    if not spec.pad:
        return
    filler = Filler(project, random.Random(spec.seed), today)
    remaining = spec.target - built.version
    if remaining <= 0:
        return
    room = now - timedelta(minutes=1) - last
    gap = min(STEP_GAP, room / (remaining + 1))
    refused = 0
    while built.version < spec.target and refused < 100:
        command = filler.next_command()
        if command is None:
            return  # a closed project without a funnel takes no more commands
        last += gap
        yield last
        try:
            run(last, command)
        except DeliveryError:
            refused += 1  # a filler command the rules refuse records nothing; the next one is another kind


@dataclass(frozen=True)
class Pace:
    """How one copy of a script runs slower or faster than the script: its stages stretched, setbacks added.

    The script's stage transitions are the knots: the time between two transitions is multiplied by the team's
    pace (log-normal, shared by the copy's stages: a team is slow or fast throughout) and by the stage's own
    noise, and now and then a setback is added (a client review moved, defects found in testing sent back to
    development: more often in integration testing and UAT, as the seeds describe). Days between knots are
    stretched in proportion, and the whole copy is moved so that its last step stays on the script's day
    (a project under way at `now` stays under way). The plans the template records at creation do not move,
    and a date the script names is as far from its step as in the script: what the stretch adds is slip.
    """

    knots: tuple[tuple[int, int], ...]  # (script day, stretched day), ascending

    @staticmethod
    def none() -> Pace:
        return Pace(())

    @staticmethod
    def drawn(script: ProjectScript, rnd: random.Random) -> Pace:
        ends = {s.day: str(s.args.get("to_stage")) for s in script.steps if s.command == "transition"}
        last = max((s.day for s in script.steps), default=script.started)
        days = sorted({script.started, *ends, last})
        team = rnd.lognormvariate(0, 0.2)
        stretched = [0.0]
        for a, b in pairwise(days):
            # A span that ends by entering uat (trial) ends integration testing (uat): setbacks are likelier there.
            odds = 0.4 if ends.get(b) in ("uat", "trial") else 0.2
            setback = rnd.expovariate(1 / 6) if rnd.random() < odds else 0.0
            stretched.append(stretched[-1] + (b - a) * team * rnd.lognormvariate(0, 0.15) + setback)
        end = days[-1] - stretched[-1]
        return Pace(tuple((a, round(b + end)) for a, b in zip(days, stretched, strict=True)))

    def day(self, day: int) -> int:
        """Where a script's day falls in this copy."""
        knots = self.knots
        if not knots:
            return day
        if day <= knots[0][0]:
            return day + knots[0][1] - knots[0][0]
        for (a, a2), (b, b2) in pairwise(knots):
            if day <= b:
                return a2 + round((day - a) * (b2 - a2) / (b - a))
        return day + knots[-1][1] - knots[-1][0]


def _moment(today: date, day: int, rank: int, minute: int) -> datetime:
    return datetime.combine(today + timedelta(days=day), DAY_START, tzinfo=UTC) + rank * STEP_GAP + timedelta(
        minutes=minute)


def _resolve(value: Any, today: date, shift: int, keys: dict[str, Any]) -> Any:
    if isinstance(value, On):
        return today + timedelta(days=value.days - shift)
    if isinstance(value, Ref):
        return keys[value.key]
    return value


class Filler:
    """Commands that keep a project busy in any stage: milestones slip, criteria bounce, changes and releases run."""

    def __init__(self, project: Project, rnd: random.Random, today: date) -> None:
        self.p = project
        self.rnd = rnd
        self.today = today
        self.n = 0
        self.milestone: str | None = None
        self.criterion: str | None = None
        self.change: str | None = None
        self.approved: list[str] = []
        self.item: str | None = None

    def next_command(self) -> Callable[[], Any] | None:
        """A command valid in the project's current state (tried in turn until one is)."""
        p = self.p
        if p.launched:
            if not p.funnel:
                return None
            rates = [round(self.rnd.uniform(5, 95), 1) for _ in p.funnel]
            return lambda: p.record_funnel_actuals(rates=rates, actor=FILLER_ACTOR)
        self.n += 1
        turn = self.n % 12
        order = [turn, *range(turn + 1, 12), *range(turn)]
        for choice in order:
            command = self._candidate(choice)
            if command is not None:
                return command
        return None

    def _candidate(self, choice: int) -> Callable[[], Any] | None:
        p, n, who = self.p, self.n, FILLER_ACTOR
        frozen = p.baseline is not None
        # Mostly updates to what exists (slips, re-tests, observations), now and then something new.
        if (choice == 0 and (self._open_milestone() is None or n % 60 == 0)) or (
                choice in (1, 4) and self._open_milestone() is None):
            due = self.today + timedelta(days=30 + n % 90)
            return self._keep(lambda: p.plan_milestone(title=f"Checkpoint {n}", stage="launch", due_on=due,
                                                       actor=who), "milestone")
        mid = self._open_milestone()
        if choice == 0 and mid is not None:
            choice = 9 if p.stage in RELEASE_STAGES else 4
        if choice == 8:
            choice = 2 if n % 2 else 3
        if choice == 1 and mid is not None and (n % 36 < 12 or self.criterion not in p.criteria):
            return self._keep(lambda: p.add_criterion(milestone_id=mid, text=f"Check {n} passes", actor=who),
                              "criterion")
        cid = self.criterion if self.criterion in p.criteria else None
        state = p.criteria[cid].state if cid is not None else None
        if choice == 2 and cid is not None and state in ("open", "verified"):
            return lambda: p.reject_criterion(criterion_id=cid, reason="Evidence does not cover Android", actor=who)
        if choice == 3 and cid is not None and state in ("open", "rejected"):
            return lambda: p.verify_criterion(criterion_id=cid, evidence="Re-tested on every device", actor=who)
        if choice == 4 and mid is not None:
            due = p.milestones[mid].due_on + timedelta(days=1 + n % 5)
            return lambda: p.reschedule_milestone(milestone_id=mid, due_on=due, reason="The client review moved",
                                                  actor=who)
        if choice == 5 and (not frozen or n % 24 < 12):
            if not frozen:
                tier = ("core", "touchpoint", "value_added")[n % 3]
                return self._keep(lambda: p.add_scope_item(title=f"Extra feature {n}", tier=tier, actor=who), "item")
            return self._keep(lambda: p.raise_change_request(
                title=f"Change {n}", requested_by="Client product owner", kind="add", tier="value_added",
                schedule_days=1 + n % 4, cost=500 * (1 + n % 7), actor=who), "change")
        if choice == 6:
            if not frozen:
                item = self.item
                if item in p.scope and p.scope[item].active:
                    return lambda: p.remove_scope_item(item_id=item, actor=who)
                return None
            cr = self.change
            if cr is not None and cr in p.change_requests and p.change_requests[cr].pending:
                if n % 3 == 0:
                    return lambda: p.reject_change_request(change_request_id=cr, reason="Out of budget", actor=who)
                self.approved.append(cr)
                return lambda: p.approve_change_request(change_request_id=cr, reason="Agreed weekly", actor=who)
            return None
        if choice == 7 and frozen and self.approved:
            cr = self.approved.pop(0)
            if p.change_requests[cr].status == "approved":
                return lambda: p.implement_change_request(change_request_id=cr, actor=who)
            return None
        if choice in (9, 10, 11) and p.stage in RELEASE_STAGES:
            return self._release_step()
        return None

    def _open_milestone(self) -> str | None:
        mid = self.milestone
        return mid if mid in self.p.milestones and not self.p.milestones[mid].done else None

    def _release_step(self) -> Callable[[], Any] | None:
        p, n, who = self.p, self.n, FILLER_ACTOR
        active = p.active_release()
        if active is None:
            version = f"v9.{n}"
            if any(r.version == version for r in p.releases.values()):
                return None

            def plan_and_start() -> None:
                rid = p.plan_release(version=version, steps=[1, 5, 10, 20, 50, 100],
                                     health=[{"metric": "error_rate", "comparator": "<=", "threshold": 1}], actor=who)
                p.start_release(release_id=rid, actor=who)
            return plan_and_start
        rid = active.id
        if active.state == ReleaseState.PAUSED:
            return lambda: p.resume_release(release_id=rid, actor=who)
        obs = active.latest_observation_at_step()
        if obs is None or n % 3 != 0:
            reading = {"error_rate": round(self.rnd.uniform(0.05, 0.9), 2)}
            return lambda: p.record_observation(release_id=rid, metrics=reading, actor=who)
        if n % 7 == 0:
            return lambda: p.pause_release(release_id=rid, reason="Waiting for the weekend", actor=who)
        if active.percent == 100:
            return lambda: p.complete_release(release_id=rid, actor=who)
        return lambda: p.advance_release(release_id=rid, actor=who)

    def _keep(self, action: Callable[[], str], slot: str) -> Callable[[], str]:
        """Run `action` and remember the id it returns as the current milestone, criterion, change or item."""
        def run() -> str:
            value = action()
            setattr(self, slot, value)
            return value
        return run


def specs(start: int, count: int, per_project: int, seed: int = 7, vary: bool = False) -> list[Spec]:
    """`count` projects numbered from `start`: the demo's scripts in turn, each about `per_project` events.

    `vary`: each copy runs at its own pace (`Pace`); the bench store's copies keep the script's days.
    """
    rnd = random.Random(seed * 1_000_003 + start)
    out = []
    for number in range(start, start + count):
        script = PORTFOLIO[number % len(PORTFOLIO)]
        target = max(1, rnd.randint(per_project // 2, per_project * 3 // 2)) if per_project > 1 else 1
        out.append(Spec(script, f"{script.name} #{number:05d}", target, shift_days=rnd.randint(0, 60),
                        minute=number % 180, seed=number, vary=vary))
    return out


def script_named(fragment: str) -> ProjectScript:
    return next(s for s in PORTFOLIO if fragment in s.name)


def check(now: datetime | None = None) -> dict[str, int]:
    """Each script run alone to its end: its event count (and proof that every command still passes its rules)."""
    now = now or datetime.now(UTC)
    counts = {}
    for script in PORTFOLIO:
        built = Built(Spec(script, script.name, 10**9, pad=False))
        try:
            for _ in history(built, now):
                pass
        except DeliveryError as exc:
            raise SystemExit(f"{script.name}: {exc}") from exc
        counts[script.name] = built.version
    return counts


if __name__ == "__main__":
    for name, events in check().items():
        print(f"{events:6d}  {name}")
