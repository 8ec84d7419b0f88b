"""How good the slip forecast is: replay held-out histories, forecast at each moment, compare with what happened.

Every project's events are replayed in the order they were recorded, through the same
reducers as the live views and the same reference class (kept in memory by the same
contribution arithmetic as the stored one). Whenever a project completes a milestone or
changes stage, the forecast is made for each of its open milestones, as of that day,
from what was recorded by then; when the milestone completes, every forecast made for it
is scored:

- calibration: the share of actual completion dates on or before P50 (target 50%) and
  on or before P80 (target 75-85%);
- mean absolute error in days of P50, against a naive baseline: the milestone's first
  planned date plus the project's average slip so far (0 before any).

Sources (docs/forecast.md):
  --demo N        N projects from the demo's scripts (delivery/demo_portfolio.toml), shifted and padded with
                  seeded randomness (bench/histories.py, as the bench store is built), each run at its own pace
                  (histories.Pace) and started over --demo-years (--demo-as-scripted: the script's own days);
  --synthetic N   N projects of the four templates whose milestones slip by a seeded random process
                  (a template and stage effect, a project's own pace, noise with a long tail to the late side);
  --cascade N     N projects of another process: a multiplicative pace, Pareto blockers, delays carried from
                  one milestone to the next, dates moved once a slip is known;
  --export FILE   a real store exported with `delivery export` (JSON Lines, projections/export.py).
  --cost          also time one forecast and one portfolio launch column as the histories grow.

Usage: python bench/forecast.py [--demo 200] [--synthetic 300] [--cascade 300] [--export FILE] [--seed 7]
[--json PATH] (`make bench-forecast` runs the first three).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from delivery import clock
from delivery.project import Project
from delivery.stages import STAGES
from projections import reference
from projections.events import kind
from projections.forecast import SLIP_MAX, SLIP_MIN, clamp_slip, forecast, own_histogram
from projections.models import MilestoneRecord
from projections.reducers import apply
from projections.state import ProjectState

PRIOR_LED = 0.3
ISSUE_ON = frozenset({"MilestoneCompleted", "StageAdvanced", "StageReturned"})
NOW = datetime(2026, 11, 2, 9, tzinfo=UTC)


@dataclass
class Pending:
    issued_on: date
    p50: date
    p80: date
    naive: date
    own: int
    prior_led: bool  # the prior had more than PRIOR_LED of the weight: the organisation had too little history


@dataclass
class Score:
    source: str
    forecasts: int = 0
    within_p50: int = 0
    within_p80: int = 0
    abs_error_p50: int = 0
    abs_error_naive: int = 0
    without_own_history: int = 0
    milestones_scored: int = 0
    prior_led: int = 0
    prior_led_within_p80: int = 0

    def add(self, pending: Pending, actual: date) -> None:
        self.forecasts += 1
        self.within_p50 += actual <= pending.p50
        self.within_p80 += actual <= pending.p80
        self.abs_error_p50 += abs((actual - pending.p50).days)
        self.abs_error_naive += abs((actual - pending.naive).days)
        self.without_own_history += pending.own == 0
        self.prior_led += pending.prior_led
        self.prior_led_within_p80 += pending.prior_led and actual <= pending.p80

    def summary(self) -> dict[str, Any]:
        n = max(1, self.forecasts)
        return {
            "source": self.source, "forecasts": self.forecasts, "milestones": self.milestones_scored,
            "p50_coverage_pct": round(100 * self.within_p50 / n, 1),
            "p80_coverage_pct": round(100 * self.within_p80 / n, 1),
            "mae_p50_days": round(self.abs_error_p50 / n, 1),
            "mae_naive_days": round(self.abs_error_naive / n, 1),
            "without_own_history_pct": round(100 * self.without_own_history / n, 1),
            "prior_led_pct": round(100 * self.prior_led / n, 1),
            "prior_led_p80_coverage_pct": round(100 * self.prior_led_within_p80 / max(1, self.prior_led), 1),
        }


Issued = tuple[datetime, str, str, date, date]  # when, project, milestone, P50, P80


def replay(events: Iterable[Any], source: str, issued: list[Issued] | None = None) -> Score:
    """Score the forecast over these events (of many projects, each project's in version order).

    `issued` collects every forecast as it is made (the leakage test compares them with a replay cut short).
    """
    events = list(events)
    # Ties in time go by the order projects come in (seeded), not by their random ids: the figures repeat.
    first: dict[Any, int] = {}
    for e in events:
        first.setdefault(e.originator_id, len(first))
    ordered = sorted(events, key=lambda e: (e.timestamp, first[e.originator_id], e.originator_version))
    states: dict[str, ProjectState] = {}
    kept = reference.InMemory()
    pending: dict[tuple[str, str], list[Pending]] = {}
    score = Score(source)
    for e in ordered:
        pid = str(e.originator_id)
        state = states.setdefault(pid, ProjectState())
        name = kind(e)
        if name == "MilestoneCompleted":
            made = pending.pop((pid, e.milestone_id), [])
            for p in made:
                score.add(p, e.completed_on)
            score.milestones_scored += bool(made)
        before = reference.contribution(state.header)
        apply(state, e)
        kept.add(reference.difference(before, reference.contribution(state.header)))
        if name in ISSUE_ON and not state.h.launched:
            for mid, made in issue(state, kept, e.timestamp.date(), pending):
                if issued is not None:
                    issued.append((e.timestamp, pid, mid, made.p50, made.p80))
    return score


def issue(state: ProjectState, kept: reference.InMemory, today: date,
          pending: dict[tuple[str, str], list[Pending]]) -> list[tuple[str, Pending]]:
    """Forecast the project's open milestones from what was recorded by `today`; each forecast waits for its date."""
    h = state.h
    milestones: list[MilestoneRecord] = state.rows.of("milestone")
    result = forecast(h, milestones, kept.reference(h.template).without(h), today)
    own = own_histogram(h.slips)
    n_own = sum(own.values())
    mean_slip = round(sum(s * n for s, n in own.items()) / n_own) if n_own else 0
    by_id = {m.id: m for m in milestones}
    made = []
    for f in result.milestones:
        naive = by_id[f.id].original_due_on + timedelta(days=mean_slip)
        p = Pending(today, f.p50_on, f.p80_on, naive, n_own, f.prior_weight > PRIOR_LED)
        pending.setdefault((h.id, f.id), []).append(p)
        made.append((f.id, p))
    return made


# ------------------------------------------------------------------ sources


def demo_events(count: int, seed: int, years: float = 2, vary: bool = True) -> Iterator[Any]:
    """The demo's scripts as the bench store builds them (bench/histories.py), every event of every project.

    Each copy runs at its own pace (`histories.Pace`), and the copies start over `years` (the bench store's start
    within two months: an organisation with no past, whose every forecast would rest on the prior alone).
    `vary` False: every copy keeps its script's days (its slips are the script's, the same in every copy).
    """
    from histories import Built, history, specs

    spread = random.Random(seed)
    for spec in specs(0, count, per_project=120, seed=seed, vary=vary):
        spec.shift_days += spread.randint(0, round(365 * years))
        built = Built(spec)
        for _ in history(built, NOW):
            pass
        assert built.project is not None
        yield from built.project.collect_events()


TEMPLATES = ("mini_program", "crm_rollout", "website_inquiry", "generic")


def synthetic_events(count: int, seed: int) -> Iterator[Any]:
    """Projects whose milestones slip by a known random process (seeded); each runs its eight stages."""
    rnd = random.Random(seed)
    template_bias = {t: rnd.uniform(-2, 10) for t in TEMPLATES}
    stage_bias = {(t, s.value): rnd.uniform(-3, 8) for t in TEMPLATES for s in STAGES}
    start = date(2023, 1, 2)
    for n in range(count):
        template = TEMPLATES[n % len(TEMPLATES)]
        pace = rnd.gauss(0, 6)  # this project's own tendency, shared by its milestones
        day = start + timedelta(days=rnd.randrange(0, 900))
        moment = _at(day)
        with clock.frozen_at(moment):
            p = Project.create(name=f"Synthetic {n}", client=f"Client {n % 37}", actor="bench")
            # The template's name only, not its plan: the reference class groups projects by it.
            p.apply_template(template=template, start_on=day, language="en", actor="bench")
        cursor = day
        for stage in STAGES:
            planned = []
            for k in range(rnd.choice((1, 1, 2, 3))):
                due = cursor + timedelta(days=rnd.randint(7, 30))
                with clock.frozen_at(_at(cursor)):
                    planned.append((p.plan_milestone(title=f"{stage.value} {k}", stage=stage.value, due_on=due,
                                                     actor="bench"), due))
            finished = []
            for mid, due in planned:
                noise = rnd.expovariate(1 / 6) - 4 if rnd.random() < 0.85 else rnd.expovariate(1 / 25)
                slip = round(template_bias[template] + stage_bias[(template, stage.value)] + pace + noise)
                finished.append((max(cursor + timedelta(days=1), due + timedelta(days=slip)), mid))
            for done, mid in sorted(finished):  # recorded the day each finishes, in that order
                with clock.frozen_at(_at(done)):
                    p.complete_milestone(milestone_id=mid, completed_on=done, actor="bench")
                cursor = done
            if stage.next is not None:
                with clock.frozen_at(_at(cursor)):
                    p.transition(to_stage=stage.next, actor="bench")
        yield from p.collect_events()


def cascade_events(count: int, seed: int) -> Iterator[Any]:
    """Projects whose delays are heavy-tailed and carry over: a different slip process from `synthetic_events`.

    Each project works at its own speed (a multiplier of every planned duration, log-normal), now and then hits a
    blocker whose length follows a Pareto law (no finite variance), and half of each milestone's delay carries
    into the next one (a late dependency). Milestones are rarely early. When a milestone is going to be more than a
    week late the pm usually moves its date two days before it falls due (the part of the slip then known).
    """
    rnd = random.Random(seed * 7919 + 1)
    template_speed = {t: rnd.uniform(1.0, 1.25) for t in TEMPLATES}
    start = date(2023, 1, 2)
    for n in range(count):
        template = TEMPLATES[n % len(TEMPLATES)]
        speed = template_speed[template] * rnd.lognormvariate(0, 0.25)
        day = start + timedelta(days=rnd.randrange(0, 900))
        with clock.frozen_at(_at(day)):
            p = Project.create(name=f"Cascade {n}", client=f"Client {n % 41}", actor="bench")
            p.apply_template(template=template, start_on=day, language="en", actor="bench")
        cursor, carry = day, 0.0
        for stage in STAGES:
            actions: list[tuple[date, int, Callable[[], Any]]] = []
            with clock.frozen_at(_at(cursor)):
                for k in range(rnd.choice((1, 1, 2, 3))):
                    length = rnd.randint(5, 25)
                    due = cursor + timedelta(days=length)
                    mid = p.plan_milestone(title=f"{stage.value} {k}", stage=stage.value, due_on=due, actor="bench")
                    blocker = rnd.paretovariate(1.3) * 4 if rnd.random() < 0.2 else 0.0
                    delay = length * (speed - 1) + blocker + carry + rnd.gauss(0, 1.5)
                    carry = 0.5 * max(0.0, delay)
                    done = max(cursor + timedelta(days=1), due + timedelta(days=round(min(delay, 300))))
                    if done > due + timedelta(days=7) and rnd.random() < 0.6:
                        moved = due + timedelta(days=round((done - due).days * rnd.uniform(0.4, 1.0)))
                        actions.append((max(cursor, due - timedelta(days=2)), 0, _reschedule(p, mid, moved)))
                    actions.append((done, 1, _complete(p, mid, done)))
            for when, _order, action in sorted(actions, key=lambda a: (a[0], a[1])):
                with clock.frozen_at(_at(when)):
                    action()
                cursor = max(cursor, when)
            if stage.next is not None:
                with clock.frozen_at(_at(cursor)):
                    p.transition(to_stage=stage.next, actor="bench")
        yield from p.collect_events()


def _reschedule(p: Project, mid: str, due: date) -> Callable[[], Any]:
    return lambda: p.reschedule_milestone(milestone_id=mid, due_on=due, reason="Blocked by a dependency", actor="bench")


def _complete(p: Project, mid: str, done: date) -> Callable[[], Any]:
    return lambda: p.complete_milestone(milestone_id=mid, completed_on=done, actor="bench")


def _at(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


def export_events(path: Path) -> Iterator[Any]:
    """The events of a `delivery export` file, decoded by the application's own mapper."""
    from delivery.application import DeliveryApplication
    from delivery.settings import Database
    from projections.export import _stored, read_export

    with tempfile.TemporaryDirectory() as tmp:
        app = DeliveryApplication(Database(f"sqlite:///{tmp}/decode.sqlite3"))
        try:
            with path.open("rb") as lines:
                _header, entries = read_export(lines)
                for _number, entry in entries:
                    yield app.mapper.to_domain_event(_stored(entry))
        finally:
            app.close()


def cost(repeat: int = 40) -> list[dict[str, Any]]:
    """Microseconds per forecast and per portfolio launch column, as the project's history and the class grow.

    The histograms hold one entry per distinct slip (at most SLIP_MAX - SLIP_MIN + 1), whatever the count of
    milestones behind them: the cost must stay flat as the counts grow.
    """
    import timeit

    from projections.forecast import Reference
    from projections.models import MilestoneRef, ProjectHeader

    rnd = random.Random(1)
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    plan = date(2026, 6, 1)
    rows = []
    def slips(n: int, draws: int = 400) -> dict[str, dict[int, int]]:
        """`n` milestones of `draws` drawn slips repeated (the histogram's cells are the draws' distinct slips)."""
        out: dict[str, dict[int, int]] = {}
        for _ in range(draws):
            stage = rnd.choice(STAGES).value
            slip = clamp_slip(round(rnd.expovariate(1 / 6) - 3 if rnd.random() < 0.85 else rnd.expovariate(1 / 25)))
            out.setdefault(stage, {})[slip] = out.setdefault(stage, {}).get(slip, 0) + max(1, n // draws)
        return out

    every = {s.value: dict.fromkeys(range(SLIP_MIN, SLIP_MAX + 1), 1) for s in STAGES}  # the ceiling: all cells
    cases = [(400, 4_000, slips(400), slips(4_000)), (40_000, 400_000, slips(40_000), slips(400_000)),
             (4_000_000, 40_000_000, slips(4_000_000), slips(40_000_000)),
             (len(every) * len(every["launch"]), len(every) * len(every["launch"]), every, every)]
    for own_n, ref_n, own_slips, ref_slips in cases:

        header = ProjectHeader(id="p", name="P", client="C", stage="development", stage_entered_at=t0, version=1,
                               created_at=t0, created_by="pm", updated_at=t0, template="generic", slips=own_slips)
        ref = Reference(ref_slips, projects=max(1, ref_n // 20))
        last = MilestoneRef(id="M9", stage="launch", due_on=plan, original_due_on=plan)
        opened = [MilestoneRecord(id=f"M{k}", stage=s.value, title="t", due_on=plan, original_due_on=plan,
                                  planned_at=t0, planned_by="pm") for k, s in enumerate(STAGES)]
        # The best of five rounds: the machine's other work only ever adds time.
        per_call = {
            "launch_p80_us": min(timeit.repeat(partial(_launch_column, header, last, ref), number=repeat, repeat=5)),
            "forecast_8_open_us": min(timeit.repeat(partial(_view, header, opened, ref, plan), number=repeat,
                                                    repeat=5)),
        }
        rows.append({"own_milestones": own_n, "reference_milestones": ref_n,
                     "cells": sum(map(len, own_slips.values())) + sum(map(len, ref_slips.values())),
                     **{k: round(1e6 * v / repeat, 1) for k, v in per_call.items()}})
    return rows


def _launch_column(header: Any, last: Any, ref: Any) -> Any:
    """What the portfolio computes per applied batch for a touched project."""
    from projections.forecast import launch_p80

    return launch_p80(header, last, ref.without(header))


def _view(header: Any, milestones: Any, ref: Any, today: date) -> Any:
    """What the forecast endpoint computes."""
    return forecast(header, milestones, ref.without(header), today)


@dataclass
class Report:
    scores: list[dict[str, Any]] = field(default_factory=list)
    cost: list[dict[str, Any]] = field(default_factory=list)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", type=int, default=200, help="projects from the demo's scripts (0: none)")
    parser.add_argument("--synthetic", type=int, default=300, help="projects of the synthetic slip process (0: none)")
    parser.add_argument("--cascade", type=int, default=300,
                        help="projects of the heavy-tailed, carried-over slip process (0: none)")
    parser.add_argument("--export", type=Path, action="append", default=[], help="a `delivery export` file")
    parser.add_argument("--demo-years", type=float, default=2, help="the demo's copies start over this many years")
    parser.add_argument("--demo-as-scripted", action="store_true",
                        help="the demo's copies keep their script's days (no pace): the bench store's histories")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cost", action="store_true", help="also time one forecast as the history grows")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    report = Report()
    sources: list[tuple[str, Iterable[Any]]] = []
    if args.demo:
        paced = "" if args.demo_as_scripted else "paced "
        sources.append((f"demo {paced}x{args.demo} over {args.demo_years:g}y (seed {args.seed})",
                        demo_events(args.demo, args.seed, args.demo_years, not args.demo_as_scripted)))
    if args.synthetic:
        sources.append((f"synthetic x{args.synthetic} (seed {args.seed})", synthetic_events(args.synthetic, args.seed)))
    if args.cascade:
        sources.append((f"cascade x{args.cascade} (seed {args.seed})", cascade_events(args.cascade, args.seed)))
    for path in args.export:
        sources.append((f"export {path.name}", export_events(path)))
    print(f"{'source':34} {'forecasts':>9} {'P50 cov':>8} {'P80 cov':>8} {'MAE P50':>8} {'MAE naive':>9} "
          f"{'prior-led':>9} {'its P80':>8}")
    for label, events in sources:
        s = replay(events, label).summary()
        report.scores.append(s)
        print(f"{label:34} {s['forecasts']:9d} {s['p50_coverage_pct']:7.1f}% {s['p80_coverage_pct']:7.1f}% "
              f"{s['mae_p50_days']:7.1f}d {s['mae_naive_days']:8.1f}d {s['prior_led_pct']:8.1f}% "
              f"{s['prior_led_p80_coverage_pct']:7.1f}%")
    print("P50/P80 cov: share of actual dates on or before the forecast (targets 50% and 75-85%); MAE in days, "
          "naive = first plan + the project's average slip so far; prior-led: forecasts where the prior had more than "
          f"{PRIOR_LED:.0%} of the weight, and their P80 coverage.")
    if args.cost:
        report.cost = cost()
        print(f"{'own milestones':>14} {'class':>10} {'cells':>6} {'launch_p80':>11} {'forecast (8 open)':>18}")
        for row in report.cost:
            print(f"{row['own_milestones']:14d} {row['reference_milestones']:10d} {row['cells']:6d} "
                  f"{row['launch_p80_us']:9.1f}us "
                  f"{row['forecast_8_open_us']:16.1f}us")
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
