"""The slip forecast: P50 and P80 completion dates of open milestones and of launch (docs/forecast.md).

A milestone's *slip* is the days from its first planned due date to its completion.
A forecast for an open milestone is its first due date plus a quantile of a blend of
three slip distributions, each an empirical histogram of whole days:

- **reference**: the milestones of the same stage completed by the organisation's
  other projects of the same template (kept as a small aggregate per template, stage
  and slip: projections/reference.py);
- **prior**: a fixed set of pseudo-observations for when the class is thin;
- **own**: every milestone this project has completed, each carried to the open
  milestone's stage by its rank among the class of its own stage (a project at the 70th
  percentile of its peers in research counts as the 70th percentile of the open stage's
  class and prior); with no class for either stage a slip stays as it is.

Credibility weights (Bühlmann's n / (n + k)) blend them: the own history gets
Z = n_own / (n_own + OWN_K), the rest goes to the reference class with
Zr = n_ref / (n_ref + REFERENCE_K) and to the prior with what remains. What is already
known narrows the blend: a milestone still open today finishes no earlier than today,
and one moved to a later date finishes no earlier than that date, so the quantiles are
taken of the blend conditioned on slip >= that floor.

Pure functions of their arguments: the API, the portfolio and bench/forecast.py call the same ones.
Their cost follows the histograms' cells (at most stages x distinct slips), never the counts behind them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from delivery.health import LAUNCH_SLACK_DAYS
from projections.models import (
    ForecastBasis,
    LaunchForecast,
    MilestoneForecast,
    MilestoneRecord,
    MilestoneRef,
    ProjectForecast,
    ProjectHeader,
)

# Slips are clamped to this range (days) so the per-project and reference histograms stay bounded.
SLIP_MIN, SLIP_MAX = -90, 365
# Credibility constants: the evidence at which a source gets half the weight left to it. OWN_K was 4 until the
# own slips were ranked among their peers; 3 is the value of {2, 3, 4, 6} that met the targets on seed 7 of
# every bench source (docs/forecast.md has the grid and the held-out seeds).
OWN_K = 3
REFERENCE_K = 5
# The prior: pseudo-observations of slip days (four in ten on time, eight in ten within a week, a tail to a
# month), used in proportion to how thin the evidence is. An assumption: bench/forecast.py measures it.
PRIOR: dict[int, int] = {0: 4, 3: 2, 7: 2, 14: 1, 30: 1}
P50, P80 = 0.5, 0.8

Histogram = Mapping[int, float]  # slip -> milestones (a count, or a share once mixed)
Counts = Mapping[int, int]


def shift(day: date, days: int) -> date:
    """`day` moved by `days`, held at the calendar's ends (a store may hold dates from before they were checked)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def clamp_slip(days: int) -> int:
    return max(SLIP_MIN, min(SLIP_MAX, days))


def slip_of(m: MilestoneRecord) -> int:
    """A completed milestone's slip against its first plan, in days (clamped)."""
    assert m.completed_on is not None
    return clamp_slip((m.completed_on - m.original_due_on).days)


@dataclass(frozen=True)
class Blend:
    """A mixture of histograms with weights (each histogram normalised to its weight)."""

    parts: tuple[tuple[float, Histogram], ...]

    def quantiles(self, qs: Iterable[float], floor: int = SLIP_MIN) -> list[int]:
        """The smallest slips whose share of the blend (conditioned on slip >= floor) reaches each q."""
        mass: dict[int, float] = {}
        for weight, hist in self.parts:
            total = sum(hist.values())
            if weight <= 0 or total <= 0:
                continue
            for slip, count in hist.items():
                if slip >= floor and count > 0:
                    mass[slip] = mass.get(slip, 0.0) + weight * count / total
        tail = sum(mass.values())
        if tail <= 0:  # nothing in the evidence runs this late: it finishes at the floor at the earliest
            return [floor for _ in qs]
        ordered = sorted(mass.items())
        out = []
        for q in qs:
            running, chosen = 0.0, ordered[-1][0]
            for slip, m in ordered:
                running += m
                if running >= q * tail - 1e-9:
                    chosen = slip
                    break
            out.append(chosen)
        return out


def weights(n_own: int, n_ref: int) -> tuple[float, float, float]:
    """(own, reference, prior) credibility weights for this much evidence; they sum to 1."""
    z = n_own / (n_own + OWN_K)
    zr = n_ref / (n_ref + REFERENCE_K)
    return z, (1 - z) * zr, (1 - z) * (1 - zr)


def own_histogram(slips: Mapping[str, Mapping[int, int]]) -> dict[int, int]:
    """A project's slips of every stage in one histogram."""
    merged: dict[int, int] = {}
    for by_slip in slips.values():
        for slip, n in by_slip.items():
            merged[slip] = merged.get(slip, 0) + n
    return merged


@dataclass(frozen=True)
class Reference:
    """The reference class of one template: slip histograms by stage and how many projects gave them."""

    by_stage: Mapping[str, Counts]
    projects: int

    @staticmethod
    def empty() -> Reference:
        return Reference({}, 0)

    def without(self, header: ProjectHeader) -> Reference:
        """The class less this project's own milestones (a project is not its own reference)."""
        if header.template is None or not any(header.slips.values()):
            return self
        by_stage = {stage: dict(hist) for stage, hist in self.by_stage.items()}
        for stage, own in header.slips.items():
            hist = by_stage.setdefault(stage, {})
            for slip, n in own.items():
                hist[slip] = max(0, hist.get(slip, 0) - n)
        return Reference(by_stage, max(0, self.projects - 1))

    def count(self, stage: str | None = None) -> int:
        hists = self.by_stage.values() if stage is None else [self.by_stage.get(stage, {})]
        return sum(sum(h.values()) for h in hists)


class Cumulative:
    """A histogram sorted once, with its running shares: ranks and quantiles by bisection."""

    def __init__(self, hist: Histogram) -> None:
        self.slips = sorted(s for s, n in hist.items() if n > 0)
        total = sum(hist[s] for s in self.slips)
        running, self.upto = 0.0, []
        for s in self.slips:
            running += hist[s]
            self.upto.append(running / total)

    def rank(self, slip: int) -> float | None:
        """The mid-rank of `slip`: the share below it plus half the share equal to it (None when empty)."""
        if not self.slips:
            return None
        i = bisect_left(self.slips, slip)
        below = self.upto[i - 1] if i else 0.0
        at = self.upto[i] - below if i < len(self.slips) and self.slips[i] == slip else 0.0
        return below + at / 2

    def quantile(self, q: float) -> int:
        """The smallest slip whose share reaches q (a non-empty histogram)."""
        return self.slips[min(len(self.slips) - 1, bisect_left(self.upto, q - 1e-9))]


def mixture(parts: Iterable[tuple[float, Histogram]]) -> dict[int, float]:
    """Histograms normalised to their weights and added up."""
    mass: dict[int, float] = {}
    for weight, hist in parts:
        total = sum(hist.values())
        if weight > 0 and total > 0:
            for slip, n in hist.items():
                mass[slip] = mass.get(slip, 0.0) + weight * n / total
    return mass


Ranks = list[tuple[float | None, int, int]]  # (rank among the stage's class or None, slip, milestones)


def ranks(own: Mapping[str, Mapping[int, int]], reference: Reference) -> Ranks:
    """Each of this project's slips with its mid-rank among the class's slips of the same stage."""
    out: Ranks = []
    for stage, by_slip in own.items():
        peers = Cumulative(reference.by_stage.get(stage, {}))
        out.extend((peers.rank(slip), slip, n) for slip, n in by_slip.items() if n)
    return out


def mapped(own: Ranks, base: Cumulative | None) -> dict[int, int]:
    """This project's slips, each moved to the slip of the same rank in `base` (the open milestone's class).

    A milestone at the 70th percentile of its stage's class counts as the 70th percentile of the open
    milestone's: a project keeps its place among its peers from stage to stage, however differently the
    stages slip. A slip of a stage with no class, or any slip when the open milestone's stage has no class
    (`base` None: the prior is no peer group), stays as it is.
    """
    out: dict[int, int] = {}
    for at, slip, n in own:
        moved = slip if at is None or base is None or not base.slips else base.quantile(at)
        out[moved] = out.get(moved, 0) + n
    return out


Bases = dict[str, tuple[dict[int, float], Cumulative]]


def milestone_quantiles(
    m: MilestoneRecord | MilestoneRef, own: Ranks, reference: Reference, today: date | None,
    bases: Bases | None = None,
) -> tuple[int, int]:
    """(P50, P80) slip days of an open milestone from the project's ranked slips; `today` None: no floor.

    `bases` keeps each stage's class-and-prior mixture between the milestones of one forecast.
    """
    ref_hist = reference.by_stage.get(m.stage, {})
    n_own, n_ref = sum(n for _at, _slip, n in own), sum(ref_hist.values())
    w_own, w_ref, w_prior = weights(n_own, n_ref)
    # Moved to a later date: not before that date. Still open today: not before today.
    floor = (m.due_on - m.original_due_on).days if m.due_on > m.original_due_on else SLIP_MIN
    if today is not None:
        floor = max(floor, (today - m.original_due_on).days)
    rest = w_ref + w_prior  # what the class and the prior say of a project they know nothing particular about
    bases = {} if bases is None else bases
    if m.stage not in bases:
        mixed = mixture(((w_ref / rest, ref_hist), (w_prior / rest, PRIOR))) if rest > 0 else {}
        bases[m.stage] = mixed, Cumulative(mixed)
    base, cumulative = bases[m.stage]
    blend = Blend(((w_own, mapped(own, cumulative if n_ref else None)), (rest, base)))
    p50, p80 = blend.quantiles((P50, P80), floor=clamp_slip(floor))
    return p50, p80


def forecast(
    header: ProjectHeader, milestones: Iterable[MilestoneRecord], reference: Reference, today: date,
) -> ProjectForecast:
    """The forecast of every open milestone and of launch, as of `today`."""
    own = own_histogram(header.slips)
    n_own = sum(own.values())
    ranked = ranks(header.slips, reference)
    bases: Bases = {}
    items: list[MilestoneForecast] = []
    for m in milestones:
        if m.done:
            continue
        p50, p80 = milestone_quantiles(m, ranked, reference, today, bases)
        ref_n = reference.count(m.stage)
        w = weights(n_own, ref_n)
        items.append(MilestoneForecast(
            id=m.id, title=m.title, stage=m.stage, due_on=m.due_on, original_due_on=m.original_due_on,
            # Never before today (the clamped slip range could otherwise leave an absurd old date behind).
            p50_on=max(today, shift(m.original_due_on, p50)), p80_on=max(today, shift(m.original_due_on, p80)),
            p50_slip_days=p50, p80_slip_days=p80, reference_milestones=ref_n,
            own_weight=round(w[0], 3), reference_weight=round(w[1], 3), prior_weight=round(w[2], 3),
        ))
    launch = None
    if not header.launched and items:
        planned = max(i.due_on for i in items)
        p80_on = max(i.p80_on for i in items)
        launch = LaunchForecast(
            planned_on=planned, p50_on=max(i.p50_on for i in items), p80_on=p80_on,
            p80_days_after_plan=(p80_on - planned).days,
            at_risk=evidence(n_own, reference.count()) and (p80_on - planned).days > LAUNCH_SLACK_DAYS,
        )
    return ProjectForecast(
        project_id=header.id, today=today, milestones=items, launch=launch,
        basis=ForecastBasis(
            template=header.template, own_milestones=n_own, reference_milestones=reference.count(),
            reference_projects=reference.projects,
        ),
    )


def evidence(n_own: int, n_ref: int) -> bool:
    """Whether a forecast rests on any completed milestone (the prior alone never makes a project at risk)."""
    return n_own + n_ref > 0


def launch_p80(header: ProjectHeader, last_open: MilestoneRef | None, reference: Reference) -> date | None:
    """The P80 date of the project's last open milestone, without today's floor (the portfolio's column).

    None when launched, with nothing open, or with no evidence at all.
    """
    if header.launched or last_open is None:
        return None
    own = own_histogram(header.slips)
    if not evidence(sum(own.values()), reference.count()):
        return None
    _p50, p80 = milestone_quantiles(last_open, ranks(header.slips, reference), reference, None)
    return shift(last_open.original_due_on, p80)
