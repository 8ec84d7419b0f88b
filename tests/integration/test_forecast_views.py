"""The forecast's stored parts on SQLite and PostgreSQL: the reference class kept by addition, live and rebuilt,
and the portfolio's health from the P80 launch forecast."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from unittest import mock
from uuid import UUID

import pytest
from sqlalchemy import select

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections import reference
from projections import store as store_module
from projections.service import ReadSide
from projections.store import portfolio_table

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
DAY0 = START.date()


@pytest.fixture
def app(database: Database) -> Iterator[DeliveryApplication]:
    application = DeliveryApplication(database)
    yield application
    application.close()


def late_project(app: DeliveryApplication, name: str, days_late: int, template: str | None = "crm_rollout") -> UUID:
    """A project whose one extra research milestone finished `days_late` after its plan."""
    with clock.frozen_at(START):
        pid = app.create_project(name=name, client="Northwind", template=template,
                                 start_on=DAY0 if template else None, actor="pm").value
        mid = app.plan_milestone(pid, title="Interviews held", stage="research", due_on=DAY0 + timedelta(days=2),
                                 actor="pm").value
    with clock.frozen_at(START + timedelta(days=40)):
        app.complete_milestone(pid, milestone_id=mid, completed_on=DAY0 + timedelta(days=2 + days_late), actor="pm")
    return pid


def stored_class(views: ReadSide, template: str) -> reference.Reference:
    with views.store.reader.connect() as conn:
        return reference.load(conn, views.store.live, template)


def test_the_reference_class_is_kept_per_event_and_rebuilt_the_same(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True, batch_size=3) as views:
        first = late_project(app, "CRM A", 10)
        late_project(app, "CRM B", 10)
        late_project(app, "CRM C", 4)
        late_project(app, "Website", 30, template="website_inquiry")
        live = stored_class(views, "crm_rollout")
        assert live.by_stage == {"research": {10: 2, 4: 1}}
        assert live.projects == 3
        assert stored_class(views, "website_inquiry").by_stage == {"research": {30: 1}}

        result = views.forecast(first, now=START + timedelta(days=40))
        assert result.basis.template == "crm_rollout"
        assert (result.basis.own_milestones, result.basis.reference_milestones, result.basis.reference_projects) == (
            1, 2, 2)
        open_research = [m for m in result.milestones if m.stage == "research"]
        assert open_research and all(m.reference_milestones == 2 for m in open_research)
        assert all(m.p50_on >= date(2026, 4, 11) for m in result.milestones)  # open today: not before today

        before = {r.project_id: r.launch_p80_days_late for r in _columns(views)}
        assert any(late is not None for late in before.values())
        views.rebuild()
        assert stored_class(views, "crm_rollout") == live
        assert {r.project_id: r.launch_p80_days_late for r in _columns(views)} == before
        # The rebuild forecasts a chunk of projects per transaction: one project a chunk, the same columns.
        with mock.patch.object(store_module, "CHUNK", 1):
            views.rebuild()
        assert {r.project_id: r.launch_p80_days_late for r in _columns(views)} == before


def test_a_project_that_runs_late_is_amber_by_its_launch_forecast(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views:
        with clock.frozen_at(START):
            slow = app.create_project(name="Slow", client="Acme", actor="pm").value
            on_time = app.create_project(name="On time", client="Acme", actor="pm").value
            for pid in (slow, on_time):
                for n in range(3):
                    app.plan_milestone(pid, title=f"Workshop {n}", stage="research",
                                       due_on=DAY0 + timedelta(days=1 + n), actor="pm")
                app.plan_milestone(pid, title="Go live", stage="launch", due_on=DAY0 + timedelta(days=200),
                                   actor="pm")
        with clock.frozen_at(START + timedelta(days=30)):
            for n in range(3):
                app.complete_milestone(slow, milestone_id=f"M{n + 1}", completed_on=DAY0 + timedelta(days=21 + n),
                                       actor="pm")
                app.complete_milestone(on_time, milestone_id=f"M{n + 1}", completed_on=DAY0 + timedelta(days=1 + n),
                                       actor="pm")
        rows = {r.name: r for r in views.portfolio_all(now=START + timedelta(days=30))}
        assert (rows["Slow"].health, rows["Slow"].health_reason) == ("amber", "launch_forecast_late")
        assert rows["On time"].health == "green"
        launch = views.forecast(slow, now=START + timedelta(days=30)).launch
        assert launch is not None and launch.at_risk
        assert launch.planned_on == DAY0 + timedelta(days=200)
        # Three of three milestones 20 days late weigh 3 / 6; the prior's half puts 0.45 of the blend below 20
        # days, so P50 and P80 are both the project's own 20.
        assert (launch.p50_on, launch.p80_on) == (DAY0 + timedelta(days=220), DAY0 + timedelta(days=220))


def test_forecast_as_of_a_moment_reads_that_moment(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views:
        pid = late_project(app, "CRM A", 10)
        then = views.forecast(pid, now=START + timedelta(days=40), as_of=START + timedelta(days=1))
        now = views.forecast(pid, now=START + timedelta(days=40))
        assert then.today == DAY0 + timedelta(days=1)
        assert then.basis.own_milestones == 0 and now.basis.own_milestones == 1
        assert len(then.milestones) == len(now.milestones) + 1


def _columns(views: ReadSide) -> list[object]:
    p = portfolio_table
    with views.store.reader.connect() as conn:
        return list(conn.execute(select(p.c.project_id, p.c.launch_p80_days_late)))
