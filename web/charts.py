"""Geometry for the SVG charts: where each mark goes. What the marks mean comes from the read models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from projections.models import FunnelStepView, MilestoneStatus, ReleaseView

WIDTH = 640
ROW = 34
LEFT = 8
RIGHT = 8
TOP = 26


@dataclass
class TimelineRow:
    milestone: MilestoneStatus
    y: float
    planned_x: float
    due_x: float
    done_x: float | None


@dataclass
class Timeline:
    width: int
    height: int
    today_x: float
    rows: list[TimelineRow]
    ticks: list[tuple[float, date]]


def _scale(start: date, end: date, width: float) -> tuple[float, float]:
    span = max((end - start).days, 1)
    return (width - LEFT - RIGHT) / span, float(LEFT)


def _shift(day: date, days: int) -> date:
    """`day` moved by `days`, stopping at the calendar's ends (a store may hold dates from before the
    domain bounded them, 0001-01-01 or 9999-12-31)."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def timeline(items: list[MilestoneStatus], today: date) -> Timeline | None:
    """Each milestone on one row: its original due date, its current one and (when done) completion."""
    if not items:
        return None
    days = [today] + [m.original_due_on for m in items] + [m.due_on for m in items]
    days += [m.completed_on for m in items if m.completed_on is not None]
    start, end = _shift(min(days), -3), _shift(max(days), 3)
    per_day, left = _scale(start, end, WIDTH)

    def x(d: date) -> float:
        return round(left + (d - start).days * per_day, 1)

    rows = [
        TimelineRow(m, TOP + i * ROW + ROW / 2, x(m.original_due_on), x(m.due_on),
                    x(m.completed_on) if m.completed_on else None)
        for i, m in enumerate(items)
    ]
    step = max(1, (end - start).days // 5)
    ticks = [(x(start + timedelta(days=k)), start + timedelta(days=k))
             for k in range(0, (end - start).days + 1, step)]
    return Timeline(WIDTH, TOP + len(items) * ROW + 6, x(today), rows, ticks)


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
