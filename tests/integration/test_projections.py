"""The views on SQLite and PostgreSQL: live, exactly once through crashes, rebuildable, queryable."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import delete, func, insert, select

from delivery import clock, health
from delivery.application import DeliveryApplication
from delivery.errors import InvalidInput, NotFound, UnknownCursor
from delivery.settings import Database
from delivery.stages import Stage
from projections import store as store_module
from projections.events import kind
from projections.portfolio import health_columns
from projections.service import ReadSide, ViewsBehind
from projections.store import ViewStore, audit_table, portfolio_table
from tests.histories import START, play

NOW = START + timedelta(days=120)


@pytest.fixture
def app(database: Database) -> Iterator[DeliveryApplication]:
    application = DeliveryApplication(database)
    yield application
    application.close()


def seeded_histories(count: int, length: int = 40, seed: int = 7) -> list[list[tuple[int, int]]]:
    rnd = random.Random(seed)
    return [[(rnd.randrange(15), rnd.randrange(1000)) for _ in range(length)] for _ in range(count)]


def play_portfolio(app: DeliveryApplication, count: int = 6) -> list[UUID]:
    return [
        play(app, h, name=f"Project {i:02d}", client=("优购生鲜", "Acme Machinery", "Northwind")[i % 3])
        for i, h in enumerate(seeded_histories(count))
    ]


def everything(views: ReadSide, pids: list[UUID]) -> dict[str, Any]:
    """Every view of every project, the portfolio and the audit log, as plain data."""
    out: dict[str, Any] = {"portfolio": [r.model_dump() for r in views.portfolio_all(now=NOW)]}
    for pid in pids:
        out[str(pid)] = {
            "summary": views.summary(pid).model_dump(),
            "milestones": views.milestones(pid, now=NOW).model_dump(),
            "checklist": views.checklist(pid).model_dump(),
            "changes": views.change_log(pid).model_dump(),
            "releases": views.releases(pid, now=NOW).model_dump(),
            "audit": views.audit_log(pid, limit=500).model_dump(),
        }
    return out


def event_count(app: DeliveryApplication, pid: UUID) -> int:
    return len(list(app.events.get(pid)))


def test_live_views_show_a_write_as_soon_as_it_returns(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views:
        pid = app.create_project(name="优购生鲜小程序", client="优购生鲜", actor="pm").value
        assert views.summary(pid).name == "优购生鲜小程序"
        mid = app.plan_milestone(pid, title="需求调研完成", stage="research", due_on="2026-12-01", actor="pm").value
        assert [m.id for m in views.milestones(pid, now=NOW).items] == [mid]
        assert views.position() == app.recorder.max_notification_id()


def test_rebuild_from_zero_equals_the_live_views(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True, batch_size=5) as views:
        pids = play_portfolio(app)
        live = everything(views, pids)
        rebuilt_count = views.rebuild()
        assert rebuilt_count == app.recorder.max_notification_id()
        assert everything(views, pids) == live


class CrashingStore(ViewStore):
    """A view store whose process dies after applying `crash_after` events (a fake, not a mock)."""

    def __init__(self, database: Database, crash_after: int) -> None:
        super().__init__(database)
        self.remaining = crash_after

    def apply_projects(self, conn: Any, tables: Any, events: Any) -> dict[str, int]:
        if len(events) > self.remaining:
            raise RuntimeError("process killed")
        self.remaining -= len(events)
        return super().apply_projects(conn, tables, events)


@pytest.mark.parametrize("crash_after", [1, 13, 40])
def test_a_crash_between_batches_loses_nothing_and_counts_nothing_twice(
    app: DeliveryApplication, database: Database, crash_after: int,
) -> None:
    ReadSide(app).close()  # the views exist (empty, current version) before anything is recorded
    pids = play_portfolio(app, count=4)
    total = app.recorder.max_notification_id() or 0
    crashing = ReadSide(app, store=CrashingStore(database, crash_after), batch_size=4)
    with pytest.raises(RuntimeError, match="process killed"):
        crashing.catch_up()
    stopped_at = crashing.position()
    crashing.close()
    assert 0 <= stopped_at <= crash_after < total

    with ReadSide(app, batch_size=4) as restarted:
        assert restarted.position() == stopped_at  # resumes where it stopped
        restarted.catch_up()
        resumed = everything(restarted, pids)
        with restarted.store.engine.connect() as conn:
            audit_rows = conn.execute(select(func.count()).select_from(audit_table)).scalar()
        assert audit_rows == total
        for pid in pids:
            summary = restarted.summary(pid)
            assert summary.version == event_count(app, pid)
            moves = sum(1 for e in app.events.get(pid) if kind(e) in ("Created", "StageAdvanced", "StageReturned"))
            assert len(summary.stage_history) == moves
        restarted.rebuild()
        assert everything(restarted, pids) == resumed


def test_two_followers_racing_apply_each_event_once(app: DeliveryApplication, database: Database) -> None:
    pids = play_portfolio(app, count=4)
    total = app.recorder.max_notification_id() or 0
    followers = [ReadSide(app, store=ViewStore(database), batch_size=3) for _ in range(3)]
    barrier = threading.Barrier(len(followers))
    errors: list[BaseException] = []

    def run(views: ReadSide) -> None:
        try:
            barrier.wait()
            views.catch_up()
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(f,)) for f in followers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    first = followers[0]
    assert first.position() == total
    raced = everything(first, pids)
    first.rebuild()
    assert everything(first, pids) == raced
    for follower in followers:
        follower.close()


def test_a_changed_view_version_rebuilds_that_view_on_start(
    app: DeliveryApplication, monkeypatch: pytest.MonkeyPatch,
) -> None:
    pids = play_portfolio(app, count=2)
    with ReadSide(app) as views:
        views.catch_up()
        before = everything(views, pids)
    monkeypatch.setitem(store_module.REVISIONS, "projects", store_module.REVISIONS["projects"] + 1)
    with ReadSide(app) as views:
        positions = views.store.positions()
        assert positions["projects"] == app.recorder.max_notification_id()  # rebuilt on start, complete
        assert views.store.groups_needing_rebuild() == []
        assert everything(views, pids) == before


def test_the_applier_thread_follows_until_stopped_and_callers_can_wait_for_a_position(
    app: DeliveryApplication, database: Database,
) -> None:
    pid = app.create_project(name="CRM rollout", client="Northwind", actor="pm").value
    if database.kind == "postgresql":
        with ReadSide(app, follow=False) as idle:  # nobody applies: a wait gives up and says where it stands
            with pytest.raises(ViewsBehind) as caught:
                idle.wait_for(1, timeout=0.05)
            assert caught.value.details == {"position": 1, "reached": 0, "message_code": "views_behind",
                                            "params": {"position": 1, "seconds": 0.05}}
    with ReadSide(app, live=True) as views:
        views.wait_for(1, timeout=5)
        recorded = app.add_scope_item(pid, title="Lead capture", tier="core", actor="pm")
        views.wait_for(recorded.position, timeout=5)
        assert [s.title for s in views.summary(pid).scope] == ["Lead capture"]
        assert views.applier is not None and views.applier.leading


# ----------------------------------------------------------------- portfolio


def test_portfolio_filters_and_keyset_pages(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views:
        pids = play_portfolio(app, count=7)
        everyone = views.portfolio_all(now=NOW)
        assert sorted(r.project_id for r in everyone) == sorted(str(p) for p in pids)
        assert [r.name for r in everyone] == sorted(r.name for r in everyone)

        pages, cursor = [], None
        while True:
            page = views.portfolio(now=NOW, limit=3, cursor=cursor)
            pages.append([r.project_id for r in page.items])
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [pid for p in pages for pid in p] == [r.project_id for r in everyone]

        assert {r.client for r in views.portfolio_all(now=NOW, client="优购生鲜")} == {"优购生鲜"}
        some_stage = everyone[0].stage
        by_stage = views.portfolio_all(now=NOW, stage=some_stage)
        assert by_stage and {r.stage for r in by_stage} == {some_stage}
        for colour in health.HEALTHS:
            assert [r.project_id for r in views.portfolio_all(now=NOW, health=colour)] == [
                r.project_id for r in everyone if r.health == colour
            ]
        mine = views.portfolio_all(now=NOW, project_ids=[str(pids[0])])
        assert [r.project_id for r in mine] == [str(pids[0])]

        with pytest.raises(UnknownCursor) as bad_cursor:
            views.portfolio(now=NOW, cursor="not-a-cursor")
        assert bad_cursor.value.details["field"] == "cursor"
        with pytest.raises(InvalidInput) as bad_stage:
            views.portfolio(now=NOW, stage="qa")
        assert bad_stage.value.field == "stage"


def test_portfolio_row_reports_what_the_project_views_say(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views, clock.frozen_at(START):
        pid = app.create_project(name="Inquiry website", client="Acme Machinery", actor="pm").value
        app.plan_milestone(pid, title="Interviews", stage="research", due_on=START.date() + timedelta(days=3),
                           actor="pm")
        app.plan_milestone(pid, title="Prototype", stage="solution", due_on=START.date() + timedelta(days=30),
                           actor="pm")
        [row] = views.portfolio_all(now=START + timedelta(days=5))
        assert (row.next_milestone_title, row.next_milestone_status) == ("Interviews", "late")
        assert (row.health, row.health_reason) == ("red", "late_milestone")
        assert row.days_in_stage == 5
        [row] = views.portfolio_all(now=START)
        assert (row.next_milestone_status, row.health, row.health_reason) == ("at_risk", "amber", "due_soon")


def test_health_in_sql_agrees_with_the_domain_rules_row_by_row(app: DeliveryApplication) -> None:
    today = date(2026, 6, 15)
    rnd = random.Random(3)
    rows = []
    for i in range(400):
        due = rnd.choice([None, today + timedelta(days=rnd.randint(-3, health.DUE_SOON_DAYS + 3))])
        rows.append({
            "project_id": f"p{i:04d}", "name": f"P{i:04d}", "client": "c", "stage": "development",
            "stage_index": 3, "stage_entered_at": START, "next_milestone_due_on": due,
            "next_milestone_stage_index": 3 if due else None,
            "open_criteria": 0, "rejected_criteria": rnd.choice([0, 0, 1, 2]),
            "pending_change_requests": rnd.choice([0, 0, 1]),
            "drift_pct": rnd.choice([0.0, health.DRIFT_AMBER_PCT, 20.5, health.DRIFT_RED_PCT, 50.1, 80.0]),
            "release_percent": None, "release_state": rnd.choice([None, "ramping", "paused", "rolled_back"]),
            "launched": rnd.random() < 0.1, "milestones_planned": rnd.choice([0, 1, 1, 1, 5]), "warnings": 0,
            "launch_p80_days_late": rnd.choice([None, -3, 0, health.LAUNCH_SLACK_DAYS, health.LAUNCH_SLACK_DAYS + 1]),
            "version": 1, "updated_at": START, "doc": "{}",
        })
    with ReadSide(app) as views, views.store.engine.begin() as conn:
        conn.execute(delete(portfolio_table))
        conn.execute(insert(portfolio_table), rows)
        colour, reason = health_columns(today)
        found = {r.project_id: (r.colour, r.reason) for r in conn.execute(
            select(portfolio_table.c.project_id, colour.label("colour"), reason.label("reason"))
        )}
        conn.execute(delete(portfolio_table))
    for row in rows:
        expected = health.classify(
            days_to_earliest_due=(row["next_milestone_due_on"] - today).days if row["next_milestone_due_on"] else None,
            release_state=row["release_state"], drift_pct=row["drift_pct"],
            rejected_criteria=row["rejected_criteria"], pending_changes=row["pending_change_requests"],
            launched=row["launched"], milestones_planned=row["milestones_planned"],
            launch_p80_days_late=row["launch_p80_days_late"],
        )
        assert found[row["project_id"]] == expected, row
    assert {c for c, _ in found.values()} == set(health.HEALTHS)


# --------------------------------------------------------------------- audit


def test_audit_log_pages_through_every_event_in_order(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views:
        [pid] = play_portfolio(app, count=1)
        events = list(app.events.get(pid))
        seen, after = [], 0
        while True:
            page = views.audit_log(pid, after=after, limit=7)
            seen.extend(page.items)
            if page.next_cursor is None:
                break
            after = int(page.next_cursor)
        assert [e.version for e in seen] == [e.originator_version for e in events]
        assert [e.type for e in seen] == [kind(e) for e in events]
        assert all(e.actor == "pm@agency" for e in seen)
        assert seen[0].data["name"] == "Project 00"
        positions = [e.position for e in seen]
        assert positions == sorted(set(positions))


def test_unknown_projects_are_not_found(app: DeliveryApplication) -> None:
    with ReadSide(app, live=True) as views:
        missing = "00000000-0000-4000-8000-000000000000"
        for query in (views.summary, views.checklist, views.change_log, views.audit_log):
            with pytest.raises(NotFound):
                query(missing)
        with pytest.raises(NotFound):
            views.milestones("not-a-uuid", now=NOW)


@pytest.mark.postgres
def test_worker_on_postgres_wakes_on_notify_not_on_the_poll(postgres_url: str) -> None:
    import time

    app = DeliveryApplication(Database(postgres_url))
    writer = DeliveryApplication(Database(postgres_url))
    try:
        with ReadSide(app, live=True) as views:
            assert views.applier is not None
            views.applier.idle_seconds = 20.0  # only a NOTIFY can wake it in time
            time.sleep(0.5)  # it has taken the lock and is idle
            started = time.monotonic()
            threading.Timer(0.1, lambda: writer.create_project(name="CRM", client="N", actor="pm")).start()
            views.wait_for(1, timeout=10)
            assert time.monotonic() - started < 5  # woken by NOTIFY, long before the 20 s idle
    finally:
        writer.close()
        app.close()


SORT_ORDERS: dict[str, Any] = {
    "name": lambda r: (r.name, r.project_id),
    "health": lambda r: (health.HEALTHS.index(r.health), r.name, r.project_id),
    "due": lambda r: (r.next_milestone_due_on or date.max, r.name, r.project_id),
    "stage": lambda r: (Stage(r.stage).order, r.name, r.project_id),
    "days_in_stage": lambda r: (r.stage_entered_at, r.name, r.project_id),
    "drift": lambda r: (-r.drift_pct, r.name, r.project_id),
}


@pytest.mark.parametrize("sort", list(SORT_ORDERS))
def test_portfolio_pages_in_every_order_cover_every_row_once(app: DeliveryApplication, sort: str) -> None:
    with ReadSide(app, live=True) as views:
        play_portfolio(app, count=6)
        everyone = views.portfolio_all(now=NOW)
        seen, cursor = [], None
        while True:
            page = views.portfolio(now=NOW, limit=2, cursor=cursor, sort=sort)
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert [r.project_id for r in seen] == [r.project_id for r in sorted(everyone, key=SORT_ORDERS[sort])]
        if sort != "name":
            with pytest.raises(UnknownCursor):  # a cursor belongs to its order
                views.portfolio(now=NOW, limit=2, cursor=views.portfolio(now=NOW, limit=2).next_cursor, sort=sort)
        with pytest.raises(InvalidInput) as bad:
            views.portfolio(now=NOW, sort="colour")
        assert bad.value.field == "sort"


def test_portfolio_search_and_totals_on_each_store(app: DeliveryApplication, database: Database) -> None:
    with ReadSide(app, live=True) as views:
        for name, client in (("Mall app", "Newcomer Retail"), ("Store NEWCOMER kiosk", "Acme"),
                             ("CRM 100%_done", "Globex"), ("Ünïcode Café", "Straße GmbH")):
            views.wait_for(app.create_project(name=name, client=client, actor="pm").position)
        found = [[r.name for r in views.portfolio_all(now=NOW, q=q)] for q in ("newcomer", "NEWCOMER R", "%_", "CAFÉ")]
        assert found == [["Mall app", "Store NEWCOMER kiosk"], ["Mall app"], ["CRM 100%_done"], ["Ünïcode Café"]]
        totals = views.portfolio_totals(now=NOW, q="newcomer", cursor="ignored", sort="health")
        assert totals.total == 2 and totals.health[health.NO_PLAN] == 2 and totals.stage["research"] == 2
        assert views.portfolio_totals(now=NOW, q="newcomer", stage="launch").total == 0
        with pytest.raises(InvalidInput) as too_long:
            views.portfolio(now=NOW, q="x" * 121)
        assert too_long.value.field == "q"
        if database.kind == "postgresql":  # the substring search has its trigram index
            with views.store.reader.connect() as conn:
                index = conn.exec_driver_sql(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_portfolio_search_trgm'").scalar()
            assert index is not None and "gin_trgm_ops" in index
