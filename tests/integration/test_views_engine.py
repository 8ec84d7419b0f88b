"""The views engine: event by event, in batches, by rebuild and *as of* every cut, the same views.

Also: an event the views cannot apply stops catch-up with its position (never an
endless loop), and a rebuild running beside a reader never shows a partial view.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any
from unittest import mock
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections import rebuild as rebuild_module
from projections import state as state_module
from projections import views as view_builders
from projections.reducers import fold
from projections.service import ReadSide
from projections.store import ApplyFailed, audit_table, portfolio_table, rows_table
from projections.tables import SHADOW_SUFFIX
from tests.histories import histories, play
from tests.integration.test_as_of_property import NOW, every_view


@contextmanager
def fresh_store(folder: str, name: str) -> Iterator[tuple[DeliveryApplication, ReadSide]]:
    app = DeliveryApplication(Database(f"sqlite:///{Path(folder) / name}"))
    views = ReadSide(app)
    try:
        yield app, views
    finally:
        views.close()
        app.close()


def copy_all(source: DeliveryApplication, target: DeliveryApplication) -> None:
    for n in source.recorder.select_notifications(1, 100_000):
        target.recorder.insert_events([StoredEvent(
            originator_id=n.originator_id, originator_version=n.originator_version, topic=n.topic, state=n.state,
        )])


def stored(views: ReadSide) -> dict[str, Any]:
    """The view tables as they are stored (rows and portfolio), in a stable order."""
    with views.store.reader.connect() as conn:
        rows = conn.execute(select(rows_table).order_by(rows_table.c.project_id, rows_table.c.kind,
                                                        rows_table.c.key)).all()
        portfolio = conn.execute(select(portfolio_table).order_by(portfolio_table.c.project_id)).all()
    return {"rows": [tuple(r) for r in rows], "portfolio": [tuple(r) for r in portfolio]}


@contextmanager
def snapshots_every(n: int) -> Iterator[None]:
    """View snapshots every `n` versions, so short histories go through them too."""
    with mock.patch.object(state_module, "SNAPSHOT_EVERY", n):
        yield


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(projects=st.lists(histories, min_size=1, max_size=3), batch=st.integers(2, 9), every=st.integers(2, 7))
def test_one_by_one_in_batches_rebuilt_and_as_of_every_cut_are_the_same_views(
    projects: list[list[tuple[int, int]]], batch: int, every: int,
) -> None:
    with tempfile.TemporaryDirectory() as folder, snapshots_every(every), \
            fresh_store(folder, "one.sqlite3") as (app, one), \
            fresh_store(folder, "batched.sqlite3") as (batched_app, batched), \
            fresh_store(folder, "rebuilt.sqlite3") as (rebuilt_app, rebuilt):
        pids = [play(app, h, name=f"Project {i}") for i, h in enumerate(projects)]
        for other in (batched_app, rebuilt_app):
            copy_all(app, other)
        one.batch_size, batched.batch_size = 1, batch
        one.catch_up()
        batched.catch_up()
        rebuilt.rebuild()
        assert stored(one) == stored(batched) == stored(rebuilt)
        for pid in pids:
            live = every_view(one, pid)
            assert every_view(batched, pid) == every_view(rebuilt, pid) == live
            row = next(r for r in one.portfolio_all(now=NOW) if r.project_id == str(pid))
            assert row.drift_pct == live["changes"]["drift"]["drift_pct"]
            assert row.open_criteria == live["checklist"]["open_criteria"]
        for pid in pids:
            events = list(app.events.get(pid))
            positions = {int(e.originator_version): n for n, e in _positions(app, pid)}
            for version in range(1, len(events) + 1):
                expected = fold(events[:version])
                cut = positions[version]
                # Through snapshots (the rebuilt store has them; the others make them as they go).
                for views in (rebuilt, one):
                    got = views.state_as_of(str(pid), position=cut)
                    assert got is not None
                    assert view_builders.checklist_view(str(pid), got) == view_builders.checklist_view(
                        str(pid), expected)
                    assert view_builders.summary_view(got) == view_builders.summary_view(expected)
                    assert view_builders.release_list(str(pid), got, NOW) == view_builders.release_list(
                        str(pid), expected, NOW)
            assert every_view(one, pid, position=positions[len(events)]) == every_view(one, pid)


def _positions(app: DeliveryApplication, pid: UUID) -> Iterator[tuple[int, Any]]:
    for n in app.recorder.select_notifications(1, 100_000):
        if n.originator_id == pid:
            yield n.id, app.mapper.to_domain_event(n)


def test_an_event_that_cannot_be_applied_stops_catch_up_with_its_position(database: Database) -> None:
    """A (project, version) already linked reappears at a new position: an error naming it, not a loop."""
    app = DeliveryApplication(database)
    try:
        with ReadSide(app) as views:
            pid = app.create_project(name="CRM", client="Northwind", actor="pm").value
            app.add_scope_item(pid, title="Leads", tier="core", actor="pm")
            views.catch_up()
            with views.store.engine.begin() as conn:  # move event 2 to a new position, as a bad restore would
                if database.kind == "sqlite":
                    conn.execute(text("UPDATE stored_events SET rowid = 99 WHERE rowid = 2"))
                else:
                    table = f'"{database.schema}".delivery_events'
                    conn.execute(text(f"UPDATE {table} SET notification_id = 99 WHERE notification_id = 2"))
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'notification_id'), 99)"))
            app.add_scope_item(pid, title="Quotes", tier="core", actor="pm")  # position 100
            with pytest.raises(ApplyFailed) as caught:
                views.catch_up()
            assert caught.value.position == 99
            assert "99" in str(caught.value)
            assert views.stored_position() == 2  # nothing after it was applied, nothing twice
    finally:
        app.close()


def test_a_rebuild_beside_a_reader_never_shows_a_partial_view(tmp_path: Path) -> None:
    app = DeliveryApplication(Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    try:
        with ReadSide(app) as views:
            pids = [play(app, [(k % 15, k * 7) for k in range(30)], name=f"P{i}") for i in range(40)]
            views.catch_up()
            expected = {str(p): views.summary(p).version for p in pids}
        seen: list[int] = []
        problems: list[str] = []
        stop = threading.Event()

        def read() -> None:
            with ReadSide(app) as reader:
                while not stop.is_set():
                    rows = reader.portfolio_all(now=NOW)
                    seen.append(len(rows))
                    if {r.project_id: r.version for r in rows} != expected:
                        problems.append(f"{len(rows)} rows")
                    state = reader.store.load_state(str(pids[-1]))
                    if state is None or state.h.version != expected[str(pids[-1])]:
                        problems.append("a project's rows were missing")

        with mock.patch.object(rebuild_module, "WINDOW", 3), ReadSide(app) as views:
            reader = threading.Thread(target=read)
            reader.start()
            try:
                views.rebuild()
            finally:
                stop.set()
                reader.join()
        assert seen and not problems
    finally:
        app.close()


def test_a_rebuild_on_sqlite_keeps_the_write_ahead_log_short(tmp_path: Path) -> None:
    """The log is checkpointed while the rebuild writes, so it never holds every view the rebuild wrote (an open
    read pinned it once: nothing could be copied into the database before the rebuild ended)."""
    app = DeliveryApplication(Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"))
    log = Path(f"{tmp_path / 'store.sqlite3'}-wal")
    sizes: list[int] = []
    write = rebuild_module._write

    def measured(*args: Any) -> int:
        events = write(*args)
        sizes.append(log.stat().st_size)
        return events

    try:
        with ReadSide(app) as views:
            pids = [play(app, [(k % 15, k * 7) for k in range(30)], name=f"P{i}") for i in range(40)]
            views.catch_up()
            expected = stored(views)
            database = tmp_path / "store.sqlite3"
            before = database.stat().st_size
            # Only the writers' own bound (no thread): 64 KB, windows of two projects.
            with mock.patch.multiple(rebuild_module, WINDOW=2, LOG_LIMIT=64 << 10, CHECKPOINT_EVERY=3600), \
                    mock.patch.object(rebuild_module, "_write", measured):
                assert views.rebuild() == app.recorder.max_notification_id()
            assert stored(views) == expected and len(pids) == 40
            written = database.stat().st_size - before  # the new views (the old ones' pages are left free)
        grown = [later - earlier for earlier, later in pairwise(sizes) if later > earlier]
        assert len(sizes) >= 20 and max(sizes) <= (64 << 10) + 2 * max(grown), sizes
        assert max(sizes) * 4 < written, (sizes, written)  # a log that held every view would be as large
    finally:
        app.close()


def test_a_rebuild_folded_by_several_processes_equals_one_folded_in_process(database: Database) -> None:
    app = DeliveryApplication(database)
    try:
        with ReadSide(app) as views, mock.patch.multiple(
            rebuild_module, WINDOW=4, PARALLEL_FROM=0, PARALLEL_WINDOW_EVENTS=60,
        ), mock.patch.object(rebuild_module.ProcessPoolExecutor, "submit", autospec=True,
                             side_effect=rebuild_module.ProcessPoolExecutor.submit) as handed:
            pids = [play(app, [(k % 15, k * 11 + i) for k in range(25)], name=f"P{i}") for i in range(12)]
            assert views.rebuild(processes=1) == app.recorder.max_notification_id()
            alone = stored(views), [every_view(views, p) for p in pids]
            assert_live_indexes(views)
            assert views.rebuild(processes=2) == app.recorder.max_notification_id()
            assert (stored(views), [every_view(views, p) for p in pids]) == alone
            folded_there = [c for c in handed.call_args_list if c.args[1] is rebuild_module._helper_fold]
            assert len(folded_there) >= 2  # windows were folded by the forked helper, not all here
            assert_live_indexes(views)
    finally:
        app.close()


def test_a_rebuild_stores_every_value_as_the_live_views_do(database: Database) -> None:
    """The rebuild writes its rows itself (SQLite's prepared INSERT of values it converted, PostgreSQL's COPY in
    binary, where each value is sent as the column's type): each must be what the live views' statements store,
    as the driver reads it back (SQLite's text of a time, not the time SQLAlchemy parses from it)."""
    app = DeliveryApplication(database)
    try:
        with ReadSide(app) as views:
            for i in range(3):
                play(app, [(k % 15, k * 7 + i) for k in range(30)], name=f"P{i} «ü»")
            views.catch_up()
            live = as_stored(views)
            assert len(live["audit_log"]) == app.recorder.max_notification_id()
            assert views.rebuild(processes=1) == app.recorder.max_notification_id()
            assert as_stored(views) == live
    finally:
        app.close()


def as_stored(views: ReadSide) -> dict[str, list[tuple[Any, ...]]]:
    """The rows, portfolio and audit tables as the driver returns them, in a stable order."""
    found = {}
    with views.store.reader.connect() as conn:
        for table in (rows_table, portfolio_table, audit_table):
            quote = conn.dialect.identifier_preparer.quote
            order = ", ".join(quote(c.name) for c in table.primary_key.columns) or "position"
            found[table.name] = [tuple(r) for r in conn.exec_driver_sql(
                f"SELECT * FROM {views.store.quote(table.name)} ORDER BY {order}")]
    return found


def test_a_rebuild_on_sqlite_drops_the_old_tables_a_stopped_rebuild_left_aside(tmp_path: Path) -> None:
    """The swap renames the old tables aside and drops them after its commit, one transaction each; a
    rebuild stopped between the two leaves them, and the next one drops them before it starts."""
    app = DeliveryApplication(Database(f"sqlite:///{tmp_path / 'left.sqlite3'}"))
    try:
        with ReadSide(app) as views:
            pid = play(app, [(k % 15, k * 5) for k in range(20)], name="Left aside")
            views.rebuild(processes=1)
            before = every_view(views, pid)
            with mock.patch.object(rebuild_module, "_drop_retired"):  # stops before the drops
                views.rebuild(processes=1)
            with views.store.reader.connect() as conn:
                left = {name for name in inspect(conn).get_table_names()
                        if name.endswith(rebuild_module.RETIRED_SUFFIX)}
            assert left == {t.name + rebuild_module.RETIRED_SUFFIX for t in views.store.live.all}
            assert every_view(views, pid) == before
            views.rebuild(processes=1)
            assert every_view(views, pid) == before
            assert_live_indexes(views)
    finally:
        app.close()


def assert_live_indexes(views: ReadSide) -> None:
    """The swapped-in tables carry every index on the same columns (PostgreSQL builds them on the shadow
    tables and renames them; SQLite builds them under the names the old tables' indexes did not hold, with
    or without the suffix, and keeps them), PostgreSQL's primary keys are named as a fresh install names them,
    and no shadow table is left."""
    postgres = views.store.dialect == "postgresql"
    schema = views.store.database.schema if postgres else None
    with views.store.reader.connect() as conn:
        found = inspect(conn)
        for table in views.store.live.all:
            expected = {str(index.name): [c.name for c in index.columns] for index in table.indexes
                        if index.name != "ix_portfolio_search_trgm"}
            indexes = {index["name"] if postgres else str(index["name"]).removesuffix(SHADOW_SUFFIX):
                       index["column_names"] for index in found.get_indexes(table.name, schema=schema)}
            assert {name: indexes.get(name) for name in expected} == expected, (table.name, indexes)
            if postgres:
                assert not any(name.endswith(SHADOW_SUFFIX) for name in indexes), indexes
                if table.primary_key.columns:  # named as a fresh install names it, not after the shadow
                    assert found.get_pk_constraint(table.name, schema=schema)["name"] == f"{table.name}_pkey"
        assert not [name for name in found.get_table_names(schema=schema)
                    if name.endswith((SHADOW_SUFFIX, rebuild_module.RETIRED_SUFFIX))]


def test_an_idle_applier_leaves_view_snapshots_and_as_of_reads_start_from_them(database: Database) -> None:
    app = DeliveryApplication(database)
    try:
        with snapshots_every(10), ReadSide(app, live=True) as views:
            assert views.applier is not None
            views.applier.idle_seconds = 0.1
            pid = play(app, [(k % 15, k * 13) for k in range(60)], name="Long")
            version = views.summary(pid).version
            deadline = time.monotonic() + 10
            while views.store.latest_snapshot_version(str(pid)) < version - 9 and time.monotonic() < deadline:
                time.sleep(0.05)
            snapshot = views.store.latest_snapshot_version(str(pid))
            assert snapshot >= version - 9  # within one interval of the head, taken while idle
            events = list(app.events.get(pid))
            positions = {int(e.originator_version): n for n, e in _positions(app, pid)}
            # The cut finds the nearest snapshot at or before it, by position and by time (one statement each).
            at = events[snapshot + 2].timestamp if snapshot + 2 < len(events) else events[-1].timestamp
            last = min(snapshot + 3, len(events))
            assert views.store.as_of_cut(str(pid), position=positions[last], recorded_by=None) == (last, snapshot)
            by_time = max(v for v, e in enumerate(events, 1) if e.timestamp <= at)  # events may share a moment
            assert views.store.as_of_cut(str(pid), position=None, recorded_by=at) == (by_time, snapshot)
            for v in range(max(1, snapshot - 3), len(events) + 1):
                got = views.state_as_of(str(pid), position=positions[v])
                expected = fold(events[:v])
                assert got is not None
                assert view_builders.checklist_view(str(pid), got) == view_builders.checklist_view(str(pid), expected)
                assert view_builders.change_log(str(pid), got) == view_builders.change_log(str(pid), expected)
                assert view_builders.milestone_list(str(pid), got, NOW) == view_builders.milestone_list(
                    str(pid), expected, NOW)
    finally:
        app.close()


@pytest.mark.postgres
def test_one_process_applies_and_another_takes_over_when_it_goes(postgres_url: str) -> None:
    """The applier lock elects one applier; when its holder goes, a waiting one applies within seconds."""
    database = Database(postgres_url)
    first_app, second_app = DeliveryApplication(database), DeliveryApplication(database)
    first = ReadSide(first_app, live=True)
    try:
        deadline = time.monotonic() + 10
        while not (first.applier and first.applier.leading) and time.monotonic() < deadline:
            time.sleep(0.05)
        with ReadSide(second_app, live=True) as second:
            assert second.applier is not None
            time.sleep(1.5)
            assert first.applier is not None and first.applier.leading and not second.applier.leading
            pid = first_app.create_project(name="CRM", client="Northwind", actor="pm").value
            assert second.summary(pid).name == "CRM"  # applied by the first, seen by the second's follower
            first.close()  # the holder goes: its connection, and the lock, with it
            recorded = second_app.add_scope_item(pid, title="Leads", tier="core", actor="pm")
            second.wait_for(recorded.position, timeout=10)
            assert second.applier.leading
            assert [s.title for s in second.summary(pid).scope] == ["Leads"]
    finally:
        first.close()
        first_app.close()
        second_app.close()


def test_a_project_another_process_wrote_is_dropped_from_the_cache_when_announced(postgres_url: str) -> None:
    """PostgreSQL: commands trust cached projects; the views' announcements drop those written elsewhere."""
    database = Database(postgres_url)
    first_app, second_app = DeliveryApplication(database), DeliveryApplication(database)
    first, second = ReadSide(first_app, live=True), ReadSide(second_app, live=True)
    try:
        assert not first_app.repository.fastforward and not second_app.repository.fastforward
        pid = first_app.create_project(name="CRM", client="Northwind", actor="pm").value
        own = first_app.add_scope_item(pid, title="Leads", tier="core", actor="pm")
        first.wait_for(own.position, timeout=10)
        cache: Any = first_app.repository.cache
        assert cache.get(pid).version == 2  # its own write announced: kept
        other = second_app.add_scope_item(pid, title="Deals", tier="core", actor="pm")  # another process
        first.wait_for(other.position, timeout=10)
        deadline = time.monotonic() + 10
        while pid in cache.cache and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pid not in cache.cache  # announced at version 3: the copy at 2 is dropped
        again = first_app.add_scope_item(pid, title="Quotes", tier="core", actor="pm", expected_version=3)
        assert again.version == 4
        # A copy gone stale before the announcement comes fails to save and runs again on a fresh one.
        cache.put(pid, first_app.repository.get(pid, version=2))
        late = first_app.add_scope_item(pid, title="Orders", tier="core", actor="pm")
        assert late.version == 5
        assert [s.title for s in first_app.get_project(pid).scope.values()] == ["Leads", "Deals", "Quotes", "Orders"]
    finally:
        first.close()
        second.close()
        first_app.close()
        second_app.close()
