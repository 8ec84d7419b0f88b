"""As of a cut, a project's views equal the live views of a store that only ever saw the events up to it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.service import ReadSide
from tests.histories import START, histories, play

NOW = START + timedelta(days=120)


@contextmanager
def fresh_store() -> Iterator[tuple[DeliveryApplication, ReadSide]]:
    with tempfile.TemporaryDirectory() as folder:
        app = DeliveryApplication(Database(f"sqlite:///{Path(folder) / 'store.sqlite3'}"))
        views = ReadSide(app)
        try:
            yield app, views
        finally:
            views.close()
            app.close()


def every_view(views: ReadSide, pid: UUID, **cut: Any) -> dict[str, Any]:
    return {
        "summary": views.summary(pid, **cut).model_dump(),
        "milestones": views.milestones(pid, now=NOW, **cut).model_dump(),
        "checklist": views.checklist(pid, **cut).model_dump(),
        "changes": views.change_log(pid, **cut).model_dump(),
        "releases": views.releases(pid, now=NOW, **cut).model_dump(),
    }


def copy_prefix(source: DeliveryApplication, target: DeliveryApplication, keep: int) -> None:
    """Give `target` only the first `keep` events of `source`, stored exactly as they were."""
    for n in source.recorder.select_notifications(1, keep):
        target.recorder.insert_events([StoredEvent(
            originator_id=n.originator_id, originator_version=n.originator_version,
            topic=n.topic, state=n.state,
        )])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, cut=st.floats(0, 1))
def test_as_of_position_equals_a_store_cut_at_that_position(history: list[tuple[int, int]], cut: float) -> None:
    with fresh_store() as (app, views), fresh_store() as (cut_app, cut_views):
        pid = play(app, history)
        views.catch_up()
        total = app.recorder.max_notification_id() or 0
        keep = max(1, round(cut * total))
        copy_prefix(app, cut_app, keep)
        cut_views.catch_up()
        assert every_view(views, pid, position=keep) == every_view(cut_views, pid)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, hours=st.integers(0, 70), minutes=st.integers(0, 59))
def test_as_of_time_equals_a_store_of_the_events_recorded_by_then(
    history: list[tuple[int, int]], hours: int, minutes: int,
) -> None:
    moment = START + timedelta(hours=hours, minutes=minutes)
    with fresh_store() as (app, views), fresh_store() as (cut_app, cut_views):
        pid = play(app, history)
        views.catch_up()
        recorded = [app.mapper.to_domain_event(n).timestamp for n in app.recorder.select_notifications(1, 10_000)]
        keep = sum(1 for at in recorded if at <= moment)
        copy_prefix(app, cut_app, keep)
        cut_views.catch_up()
        as_of = every_view(views, pid, as_of=moment)
        live = every_view(cut_views, pid)
        # A release step still open at the cut is counted up to the cut, as the cut store would at that moment.
        live["releases"] = cut_views.releases(pid, now=min(NOW, moment)).model_dump()
        assert as_of == live


def test_as_of_before_the_project_existed_is_not_found() -> None:
    from delivery.errors import NotFound

    with fresh_store() as (app, views):
        pid = play(app, [(0, 1)])
        views.catch_up()
        try:
            views.summary(pid, as_of=START - timedelta(seconds=1))
        except NotFound as caught:
            assert caught.code == "not_found"
        else:
            raise AssertionError("a project has no view before its first event")
        assert views.summary(pid, as_of=datetime.max.replace(tzinfo=START.tzinfo)).version == 2


def test_as_of_a_moment_several_events_share_shows_them_all_and_a_clock_stepping_back_moves_nothing_earlier(
) -> None:
    from delivery import clock

    with fresh_store() as (app, views):
        with clock.frozen_at(START):
            pid = app.create_project(name="Same moment", client="C", actor="pm").project_id
            for title in ("One", "Two", "Three"):
                app.add_scope_item(pid, title=title, tier="core", actor="pm")
        with clock.frozen_at(START - timedelta(hours=1)):  # the clock stepped back an hour
            app.add_scope_item(pid, title="Four", tier="core", actor="pm")
        views.catch_up()
        assert [e.timestamp for e in app.events.get(UUID(str(pid)))] == [START] * 5
        assert views.summary(pid, as_of=START).version == 5
        assert views.summary(pid, position=app.recorder.max_notification_id() - 1).version == 4
        try:
            views.summary(pid, as_of=START - timedelta(minutes=30))
        except Exception as caught:
            assert getattr(caught, "code", None) == "not_found"
        else:
            raise AssertionError("no event of the project is stamped before START")
