"""The milestone timeline's geometry (web/charts.py): dates to x, years on the axis, nothing clipped, stage order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.stages import STAGES
from projections.models import MilestoneStatus
from web import charts

TODAY = date(2026, 11, 27)
ORDER = [s.value for s in STAGES]


def milestone(mid: str, stage: str, due: date, *, original: date | None = None, status: str = "planned",
              done: date | None = None, title: str = "A milestone",
              planned: date = date(2026, 1, 5)) -> MilestoneStatus:
    original = original or due
    return MilestoneStatus(
        id=mid, stage=stage, title=title, due_on=due, original_due_on=original,
        planned_at=datetime.combine(planned, datetime.min.time(), UTC), planned_by="pm", status=status,
        slip_days=(due - original).days, completed_on=done,
    )


def test_dates_map_to_x_linearly_between_the_plot_edges() -> None:
    items = [milestone("M1", "research", date(2026, 3, 1)), milestone("M2", "research", date(2026, 5, 1))]
    tl = charts.timeline(items, date(2026, 4, 1), entered={"research": date(2026, 2, 1)})
    assert tl is not None and tl.zoom == "project"
    assert tl.start == date(2026, 2, 1) - timedelta(days=7) and tl.end == date(2026, 5, 1) + timedelta(days=7)
    per_day = (tl.plot_right - tl.plot_left) / (tl.end - tl.start).days
    first, second = tl.bars
    assert first.x1 == second.x1 == round(tl.plot_left + 7 * per_day, 1)  # both start when research began
    assert first.x2 == round(tl.plot_left + (date(2026, 3, 1) - tl.start).days * per_day, 1)
    assert second.x2 - first.x2 == round(61 * per_day, 1) or abs(second.x2 - first.x2 - 61 * per_day) < 0.2
    assert tl.today_x is not None and first.x2 < tl.today_x < second.x2


def test_a_slipped_milestone_keeps_its_original_date_beside_the_current_one() -> None:
    moved = milestone("M1", "development", date(2026, 6, 20), original=date(2026, 6, 1), status="late")
    tl = charts.timeline([moved], TODAY, entered={"development": date(2026, 5, 1)})
    assert tl is not None
    (bar,) = tl.bars
    assert bar.original_x is not None and bar.original_x < bar.x2
    assert bar.x1 < bar.original_x  # the bar runs from the stage's start through both dates


def test_the_axis_names_the_years_at_the_start_and_at_each_january() -> None:
    items = [milestone("M1", "research", date(1999, 11, 15)), milestone("M2", "launch", date(2001, 2, 1))]
    tl = charts.timeline(items, date(2000, 6, 1), entered={"research": date(1999, 10, 1)})
    assert tl is not None
    years = [tick.day.year for tick in tl.ticks if tick.year]
    assert years[0] == tl.ticks[0].day.year == 1999 and 2000 in years and 2001 in years
    assert all(tick.day.month == 1 for tick in tl.ticks[1:] if tick.year)
    assert len(tl.ticks) <= 9 and all(tick.day.day == 1 for tick in tl.ticks)
    assert [t.x for t in tl.ticks] == sorted(t.x for t in tl.ticks)


def test_bars_are_grouped_by_stage_in_stage_order_under_their_bands() -> None:
    items = [milestone("M3", "uat", date(2026, 9, 1)), milestone("M1", "research", date(2026, 2, 1)),
             milestone("M2", "development", date(2026, 6, 1)), milestone("M4", "research", date(2026, 1, 20))]
    tl = charts.timeline(items, TODAY)
    assert tl is not None
    assert [b.milestone.id for b in tl.bars] == ["M4", "M1", "M2", "M3"]
    assert [b.stage for b in tl.bands] == ["research", "development", "uat"]
    assert [b.y for b in tl.bars] == sorted(b.y for b in tl.bars)
    for band in tl.bands:
        inside = [b for b in tl.bars if b.stage == band.stage]
        assert all(band.y < b.y < band.y + band.height for b in inside)
    # A stage not entered yet starts when the stages before it are planned to end.
    uat = tl.bars[-1]
    assert uat.start == date(2026, 6, 1)


def test_quarter_zoom_shows_the_quarter_with_cut_bars_and_counts_the_rest() -> None:
    items = [milestone("M1", "research", date(2026, 3, 1)), milestone("M2", "development", date(2026, 11, 20)),
             milestone("M3", "uat", date(2027, 2, 1))]
    tl = charts.timeline(items, TODAY, entered={"research": date(2026, 1, 1), "development": date(2026, 8, 1),
                                                "uat": date(2026, 12, 1)}, zoom="quarter")
    assert tl is not None and (tl.start, tl.end) == (date(2026, 10, 1), date(2026, 12, 31))
    assert [b.milestone.id for b in tl.bars] == ["M2", "M3"] and tl.hidden == 1
    m2, m3 = tl.bars
    assert m2.cut_left and not m2.cut_right and m2.x1 == tl.plot_left
    assert m3.cut_right and m3.x2 == tl.plot_right
    assert charts.quarter_of(date(2026, 12, 31)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert charts.quarter_of(date(2026, 1, 1)) == (date(2026, 1, 1), date(2026, 3, 31))


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))


@st.composite
def plans(draw: st.DrawFn) -> tuple[list[MilestoneStatus], date, dict[str, date], str]:
    count = draw(st.integers(1, 12))
    items = []
    for i in range(count):
        due = draw(days)
        original = draw(st.one_of(st.none(), days))
        items.append(milestone(f"M{i + 1}", draw(st.sampled_from(ORDER)), due, original=original,
                               title=draw(st.text(min_size=1, max_size=80)),
                               status=draw(st.sampled_from(["planned", "in_progress", "at_risk", "late", "done"])),
                               done=draw(st.one_of(st.none(), days))))
    entered = draw(st.dictionaries(st.sampled_from(ORDER), days, max_size=8))
    return items, draw(days), entered, draw(st.sampled_from(charts.ZOOMS))


@settings(max_examples=150, deadline=None)
@given(plans())
def test_nothing_is_drawn_outside_the_chart(plan: tuple[list[MilestoneStatus], date, dict[str, date], str]) -> None:
    items, today, entered, zoom = plan
    tl = charts.timeline(items, today, entered=entered, zoom=zoom)
    assert tl is not None
    for bar in tl.bars:
        assert tl.plot_left <= bar.x1 <= bar.x2 <= tl.plot_right
        for mark in (bar.original_x, bar.done_x):
            assert mark is None or tl.plot_left <= mark <= tl.plot_right
        width = charts.date_label_width(bar.milestone)
        starts = bar.date_anchor == "start"
        left, right = (bar.date_x, bar.date_x + width) if starts else (bar.date_x - width, bar.date_x)
        assert tl.plot_left <= left and right <= tl.width  # the dates beside the bar stay in the plot
        assert len(bar.label) <= charts.TITLE_CHARS
        assert bar.label.startswith(bar.milestone.title[:1])
    assert tl.today_x is None or tl.plot_left <= tl.today_x <= tl.plot_right
    assert all(tl.plot_left <= tick.x <= tl.plot_right for tick in tl.ticks)
    assert tl.height >= tl.legend_y + 8
    assert [ORDER.index(b.stage) for b in tl.bars] == sorted(ORDER.index(b.stage) for b in tl.bars)


def test_no_milestone_no_chart_and_the_calendars_ends_do_not_break_it() -> None:
    assert charts.timeline([], TODAY) is None
    extremes = [milestone("M1", "research", date.min), milestone("M2", "launch", date.max)]
    tl = charts.timeline(extremes, TODAY, entered={"research": date.min})
    assert tl is not None and tl.start == date.min and tl.end == date.max
