"""Geometry for the SVG charts: where each mark goes. What the marks mean comes from the read models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from delivery.stages import STAGES
from projections.models import FunnelStepView, MilestoneStatus, ReleaseView

WIDTH = 640
ROW = 34
LEFT = 8
RIGHT = 8
TOP = 26


# The milestone timeline: a label column, then the dates; rows grouped by stage under a band each.
TL_WIDTH = 760
TL_LABEL = 210  # the titles' column
TL_ROW = 30
TL_STAGE_ROW = 22  # a stage's header row inside its band
TL_AXIS = 40  # month ticks and, under them, the years
TL_LEGEND = 30
# The widest the dates beside a bar can be at 11 px, in either language: "2026年11月12日" or
# "12 Nov 2026"; slipped, "12 Nov 2026 (was 1 Nov 2026)" or "2026年11月12日（原 2026年11月1日）".
DATE_W = 92.0
SLIPPED_DATE_W = 210.0
TITLE_CHARS = 28  # longer titles are cut with "…" (the full one is in the bar's <title>)
ZOOMS = ("project", "quarter")


@dataclass
class TimelineBar:
    milestone: MilestoneStatus
    stage: str
    y: float
    start: date  # the stage's start (or its planned start), never after the due date
    x1: float
    x2: float
    original_x: float | None  # the first planned due date, when it moved
    done_x: float | None
    label: str  # the title as shown (cut to TITLE_CHARS)
    date_x: float  # where the dates beside the bar start ...
    date_anchor: str  # ... and which way they run ("start": right of the bar, "end": left of it)
    cut_left: bool = False  # the bar runs on before the window (quarter zoom)
    cut_right: bool = False


@dataclass
class StageBand:
    stage: str
    y: float
    height: float


@dataclass
class Tick:
    x: float
    day: date
    year: bool  # the first tick and every January carry the year


@dataclass
class Timeline:
    width: int
    height: int
    zoom: str
    start: date
    end: date
    plot_left: float
    plot_right: float
    today_x: float | None  # None when today is outside the window
    bars: list[TimelineBar]
    bands: list[StageBand]
    ticks: list[Tick]
    legend_y: float
    hidden: int = 0  # milestones outside the window (quarter zoom)
    links: dict[str, str] = field(default_factory=dict)  # zoom → the page's address with it

    @property
    def rows(self) -> list[TimelineBar]:
        return self.bars


def _shift(day: date, days: int) -> date:
    """`day` moved by `days`, stopping at the calendar's ends (a store may hold dates from before the
    domain bounded them, 0001-01-01 or 9999-12-31)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def quarter_of(day: date) -> tuple[date, date]:
    """The first and last day of `day`'s calendar quarter."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end = date(day.year + 1, 1, 1) if first_month == 10 else date(day.year, first_month + 3, 1)
    return start, _shift(end, -1)


def stage_starts(items: list[MilestoneStatus], entered: dict[str, date]) -> dict[str, date]:
    """When each stage with milestones starts: when it was entered, or else when the stages before it are
    planned to end (their latest due date), or else when its first milestone was planned."""
    order = [s.value for s in STAGES]
    starts: dict[str, date] = {}
    for stage in order:
        mine = [m for m in items if m.stage == stage]
        if not mine:
            continue
        if stage in entered:
            starts[stage] = entered[stage]
            continue
        before = [m.due_on for m in items if order.index(m.stage) < order.index(stage)]
        starts[stage] = max(before) if before else min(m.planned_at.date() for m in mine)
    return starts


def _ticks(start: date, end: date) -> list[date]:
    """Month starts within the window, thinned to at most about 8 labels (every 1, 2, 3, 6 or 12 months)."""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    step = next((n for n in (1, 2, 3, 6, 12) if months / n <= 8), 12 * (months // 96 + 1))
    found: list[date] = []
    year, month = start.year, start.month
    while True:
        day = date(year, month, 1)
        if day > end:
            return found
        if day >= start and (month - 1) % step == 0:
            found.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year > date.max.year:
            return found


def timeline(items: list[MilestoneStatus], today: date, *, entered: dict[str, date] | None = None,
             zoom: str = "project", width: int = TL_WIDTH) -> Timeline | None:
    """A bar per milestone from its stage's start to its due date, grouped by stage (see the module's notes)."""
    if not items:
        return None
    if zoom not in ZOOMS:
        raise ValueError(zoom)
    starts = stage_starts(items, entered or {})
    order = [s.value for s in STAGES]
    ranked = sorted(items, key=lambda m: (order.index(m.stage), m.due_on, m.id))
    spans = {m.id: (min(starts[m.stage], m.due_on), m.due_on) for m in ranked}
    if zoom == "quarter":
        start, end = quarter_of(today)
        shown = [m for m in ranked if (spans[m.id][0] <= end and spans[m.id][1] >= start)
                 or start <= m.original_due_on <= end]
    else:
        days = [today] + [d for m in ranked for d in (*spans[m.id], m.original_due_on)]
        days += [m.completed_on for m in ranked if m.completed_on is not None]
        start, end = _shift(min(days), -7), _shift(max(days), 7)
        shown = ranked
    plot_left, plot_right = float(TL_LABEL), float(width - RIGHT)
    per_day = (plot_right - plot_left) / max((end - start).days, 1)

    def x(d: date) -> float:
        clamped = min(max(d, start), end)
        return round(plot_left + (clamped - start).days * per_day, 1)

    bars: list[TimelineBar] = []
    bands: list[StageBand] = []
    y = float(TL_AXIS)
    for stage in order:
        mine = [m for m in shown if m.stage == stage]
        if not mine:
            continue
        band_top = y
        y += TL_STAGE_ROW
        for m in mine:
            first, due = spans[m.id]
            x1, x2 = x(first), x(due)
            original = x(m.original_due_on) if m.original_due_on != m.due_on else None
            done = x(m.completed_on) if m.completed_on is not None else None
            label = m.title if len(m.title) <= TITLE_CHARS else m.title[: TITLE_CHARS - 1] + "…"
            text_w = date_label_width(m)
            right_end = max(x2, original or x2, done or x2)
            left_end = min(x1, original or x1, done or x1)
            if right_end + 8 + text_w <= plot_right:
                date_x, anchor = right_end + 8, "start"
            elif left_end - 8 - text_w >= plot_left:
                date_x, anchor = left_end - 8, "end"
            else:  # no room on either side: inside the plot's right edge, over the bar
                date_x, anchor = plot_right - 2, "end"
            bars.append(TimelineBar(
                milestone=m, stage=stage, y=y + TL_ROW / 2, start=first, x1=x1, x2=x2, original_x=original,
                done_x=done, label=label, date_x=round(date_x, 1), date_anchor=anchor,
                cut_left=first < start, cut_right=due > end,
            ))
            y += TL_ROW
        bands.append(StageBand(stage, band_top, y - band_top))
    today_x = x(today) if start <= today <= end else None
    ticks = [Tick(x(d), d, i == 0 or d.month == 1) for i, d in enumerate(_ticks(start, end))]
    return Timeline(width=width, height=int(y + TL_LEGEND + 8), zoom=zoom, start=start, end=end,
                    plot_left=plot_left, plot_right=plot_right, today_x=today_x, bars=bars, bands=bands,
                    ticks=ticks, legend_y=y + 20, hidden=len(ranked) - len(shown))


def date_label_width(m: MilestoneStatus) -> float:
    """The most room the dates beside a bar take (the current due date, and the original one when it moved)."""
    return DATE_W if m.original_due_on == m.due_on else SLIPPED_DATE_W


@dataclass
class Band:
    x: float
    width: float


@dataclass
class Mark:
    x: float
    y: float


@dataclass
class Ramp:
    width: int
    height: int
    points: str
    pauses: list[Band] = field(default_factory=list)
    rollbacks: list[Mark] = field(default_factory=list)
    grid: list[tuple[float, int]] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None


RAMP_HEIGHT = 180
RAMP_TOP = 10
RAMP_BOTTOM = 24
RAMP_LEFT = 36


def ramp(release: ReleaseView, now: datetime) -> Ramp | None:
    """Percent over time as a step line, pauses as bands, rollbacks as marks."""
    if release.started_at is None or not release.visits:
        return None
    start = release.started_at
    end = release.completed_at or now
    moments = [start, end] + [v.entered_at for v in release.visits] + [r.at for r in release.rollbacks]
    end = max(moments)
    span = max((end - start).total_seconds(), 1.0)
    plot_w = WIDTH - RAMP_LEFT - RIGHT
    plot_h = RAMP_HEIGHT - RAMP_TOP - RAMP_BOTTOM

    def x(t: datetime) -> float:
        return round(RAMP_LEFT + (t - start).total_seconds() / span * plot_w, 1)

    def y(percent: float) -> float:
        return round(RAMP_TOP + plot_h * (1 - percent / 100), 1)

    points: list[str] = []
    for visit in release.visits:
        if points:
            points.append(f"{x(visit.entered_at)},{points[-1].split(',')[1]}")
        points.append(f"{x(visit.entered_at)},{y(visit.percent)}")
    last = release.visits[-1]
    final_percent = 0 if release.state == "rolled_back" else last.percent
    if release.state == "rolled_back" and release.rollbacks:
        back = release.rollbacks[-1].at
        points.append(f"{x(back)},{y(last.percent)}")
        points.append(f"{x(back)},{y(0)}")
    points.append(f"{x(last.left_at or end) if release.state != 'rolled_back' else x(end)},{y(final_percent)}")
    pauses = [Band(x(p.at), max(2.0, x(p.resumed_at or end) - x(p.at))) for p in release.pauses]
    rollbacks = [Mark(x(r.at), y(r.from_percent)) for r in release.rollbacks]
    grid = [(y(p), p) for p in (0, 25, 50, 75, 100)]
    return Ramp(WIDTH, RAMP_HEIGHT, " ".join(points), pauses, rollbacks, grid, start, end)


FUNNEL_LABEL = 190
FUNNEL_ROW = 44


@dataclass
class FunnelBar:
    step: FunnelStepView
    y: float
    expected_w: float
    actual_w: float | None
    worst: bool


@dataclass
class FunnelChart:
    width: int
    height: int
    left: float
    plot_w: float
    bars: list[FunnelBar]


def funnel(steps: list[FunnelStepView], biggest_drop: str | None) -> FunnelChart | None:
    """Each step's expected and actual conversion as two bars on one 0-100% scale."""
    if not steps:
        return None
    plot_w = WIDTH - FUNNEL_LABEL - RIGHT - 120  # room on the right for "expected / actual"
    bars = [
        FunnelBar(
            step=s, y=TOP + i * FUNNEL_ROW, expected_w=plot_w * s.expected_rate / 100,
            actual_w=None if s.actual_rate is None else plot_w * s.actual_rate / 100,
            worst=s.name == biggest_drop,
        )
        for i, s in enumerate(steps)
    ]
    return FunnelChart(width=WIDTH, height=TOP + len(steps) * FUNNEL_ROW + 8, left=FUNNEL_LABEL, plot_w=plot_w,
                       bars=bars)
