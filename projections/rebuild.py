"""Rebuild the views from event zero without readers ever seeing a partial view.

Projects are read a window at a time (their events straight from the store's table,
in version order), each project's whole history folded in memory by the same
reducers the live views use, and every row written once into shadow tables. Then,
in one transaction that holds the appliers back, the events recorded meanwhile are
applied to the shadow tables, the live tables dropped and the shadow ones renamed
into their place. Readers see the old complete views until that commit.
Memory is bounded by the window, not by the store.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking
from sqlalchemy import Connection, DateTime, Table, bindparam, func, select, text

from delivery.application import DeliveryApplication
from projections import integrity, reference
from projections import state as view_state
from projections.reducers import apply
from projections.state import ProjectState
from projections.store import (
    ApplyFailed,
    ViewStore,
    audit_values,
    decode,
    header_values,
    last_milestone_in_memory,
    next_milestone_in_memory,
    row_values,
)
from projections.tables import ViewTables

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# Projects folded and written together: at most this many, and about this many events in all.
WINDOW = 200
WINDOW_EVENTS = 10_000
# Folding processes by default. Several (`delivery rebuild --processes N`) pay for starting them and
# share the database's write lock: at 100,000 events on 2 cores two folded in 4.2 s against 5.3 s on SQLite
# (5.2 against 5.7-6.0 s on PostgreSQL), but each is a whole interpreter: 326 MB at their peaks against
# 120 MB for one (docs/performance.md, fifth pass).
DEFAULT_PROCESSES = 1
# Events recorded while the rebuild ran, applied to the shadow tables per batch inside the swap.
SWAP_BATCH = 500


def events_table(app: DeliveryApplication, store: ViewStore) -> tuple[str, str]:
    """(qualified events table, its position column) in the store's own terms."""
    if store.dialect == "sqlite":
        return str(app.recorder.events_table_name), "rowid"  # type: ignore[attr-defined]
    return integrity.events_table(store), "notification_id"


@contextmanager
def rebuild_lock(store: ViewStore) -> Iterator[None]:
    """One rebuild at a time per database (several processes may start on a changed version at once)."""
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            key = store.database.lock_key("rebuild")
            conn.execute(select(func.pg_advisory_lock(key)))
            conn.commit()
            try:
                yield
            finally:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()
        return
    path = Path(str(store.database.sqlite_path) + ".rebuild-lock")
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def few_collections() -> Iterator[None]:
    """Fewer cyclic garbage collections while folding: a window's objects are freed by reference counts.

    Objects alive before are frozen out of the collector's sight and young-generation
    collections wait for many more allocations; both are put back afterwards.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*view_state.COLLECTOR_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def rebuild(
    store: ViewStore, app: DeliveryApplication, progress: Progress | None = None, processes: int | None = None,
    *, only_if_stale: bool = False,
) -> int:
    """Build every rebuildable view anew from the events; returns the events folded (up to the swap).

    With `processes` above 1, windows of projects are folded by that many worker
    processes, each writing its own windows. `only_if_stale` (a process starting on a
    changed view version) skips the work when another process did it meanwhile.
    """
    with rebuild_lock(store), few_collections():
        if only_if_stale and not set(store.groups_needing_rebuild()) & set(store.rebuildable_groups()):
            return 0  # another process rebuilt them while this one waited for the lock
        cut = app.recorder.max_notification_id() or 0
        shadow = ViewTables(store.dialect, rebuilding=True, schema=store.database.schema)
        with store.engine.begin() as conn:
            for table in reversed(shadow.all):
                table.drop(conn, checkfirst=True)
            for table in shadow.all:
                table.create(conn)
        done = 0
        events, position = events_table(app, store)
        workers = processes if processes is not None else DEFAULT_PROCESSES
        if workers <= 1:
            for pids in _windows(store, events, position, cut):
                done += fold_and_write(app, store, shadow, pids, cut)
                if progress is not None:
                    progress(min(done, cut), cut)
        else:
            done = _in_parallel(store, events, position, cut, workers, progress)
        done += _swap(store, app, shadow, cut)
        if progress is not None:
            progress(done, done)
        return done


def fold_and_write(app: DeliveryApplication, store: ViewStore, shadow: ViewTables, pids: list[str], cut: int) -> int:
    """Fold one window of projects and write its rows into the shadow tables; returns its events."""
    events, position = events_table(app, store)
    states, audit = _fold_window(app, store, events, position, cut, pids)
    _write(store, shadow, states, audit)
    return len(audit)


def _in_parallel(store: ViewStore, events: str, position: str, cut: int, workers: int,
                 progress: Progress | None) -> int:
    """Hand windows to worker processes, a few in flight each (memory stays bounded by the windows)."""
    done = 0
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no connection crosses a fork
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start,
                             initargs=(store.database.url, store.application_name)) as pool:
        pending: set[Future[int]] = set()
        for pids in _windows(store, events, position, cut):
            pending.add(pool.submit(_worker_window, pids, cut))
            if len(pending) >= workers * 2:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    done += future.result()
                if progress is not None:
                    progress(min(done, cut), cut)
        for future in pending:
            done += future.result()
            if progress is not None:
                progress(min(done, cut), cut)
    return done


_worker: dict[str, Any] = {}


def _worker_start(url: str, application_name: str) -> None:
    from delivery.settings import Database

    logging.basicConfig(level=logging.WARNING)
    database = Database(url)
    app = DeliveryApplication(database)
    store = ViewStore(database, application_name)
    _worker.update(app=app, store=store, shadow=ViewTables(store.dialect, rebuilding=True, schema=database.schema))


def _worker_window(pids: list[str], cut: int) -> int:
    return fold_and_write(_worker["app"], _worker["store"], _worker["shadow"], pids, cut)


def _windows(store: ViewStore, table: str, position: str, cut: int) -> Iterator[list[str]]:
    """The ids of the projects created up to the cut, in order of creation, a window at a time.

    A window holds at most WINDOW projects and about WINDOW_EVENTS events (a project longer
    than that is a window of its own), so memory is bounded whatever the projects' sizes.
    """
    sql = text(f"SELECT originator_id, MAX(originator_version) FROM {table} WHERE {position} <= :cut "
               f"GROUP BY originator_id ORDER BY MIN({position})")
    with store.reader.connect() as conn:
        window: list[str] = []
        events = 0
        for pid, versions in conn.execution_options(yield_per=WINDOW).execute(sql, {"cut": cut}):
            if window and (len(window) == WINDOW or events + versions > WINDOW_EVENTS):
                yield window
                window, events = [], 0
            window.append(pid if isinstance(pid, str) else str(pid))
            events += versions
        if window:
            yield window


def _fold_window(
    app: DeliveryApplication, store: ViewStore, table: str, position: str, cut: int, pids: list[str],
) -> tuple[list[tuple[ProjectState, list[dict[str, Any]]]], list[dict[str, Any]]]:
    sql = text(
        f"SELECT {position} AS position, originator_id, originator_version, topic, state FROM {table} "
        f"WHERE originator_id IN :ids AND {position} <= :cut ORDER BY originator_id, originator_version"
    ).bindparams(bindparam("ids", expanding=True))
    keys: list[Any] = pids if store.dialect == "sqlite" else [UUID(p) for p in pids]
    states: dict[str, tuple[ProjectState, list[dict[str, Any]]]] = {}
    audit: list[dict[str, Any]] = []
    mapper = app.mapper
    with store.reader.connect() as conn:
        rows = conn.execute(sql, {"ids": keys, "cut": cut}).tuples().all()
    last: Any = None
    for position_, originator_id, version, topic, stored in rows:
        if originator_id != last:
            last = originator_id
            uuid = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
            pid = str(uuid)
            state, snapshots = states.setdefault(pid, (ProjectState(), []))
        event = decode(mapper, Notification(
            id=position_, originator_id=uuid, originator_version=version, topic=topic, state=stored,
        ))
        try:
            apply(state, event)
        except (KeyError, AssertionError, ValueError, TypeError, AttributeError) as exc:
            raise ApplyFailed(int(position_), int(position_), "projects", exc) from exc
        if version % view_state.SNAPSHOT_EVERY == 0:
            snapshots.append({"project_id": pid, "version": version, "doc": state.dumps()})
        audit.append(audit_values(event, position_, pid))
    for state, _snapshots in states.values():
        state.h.next_milestone = next_milestone_in_memory(state)
        state.h.last_milestone = last_milestone_in_memory(state)
    return list(states.values()), audit


def _write(
    store: ViewStore, tables: ViewTables, states: list[tuple[ProjectState, list[dict[str, Any]]]],
    audit: list[dict[str, Any]],
) -> None:
    rows = [row_values(s.h.id, k, seq, row) for s, _ in states for k, seq, row in s.rows.items()]
    headers = [header_values(s) for s, _ in states]
    snapshots = [snap for _, snaps in states for snap in snaps]
    with store.engine.begin() as conn:
        for table, values in (
            (tables.rows, rows), (tables.portfolio, headers), (tables.snapshots, snapshots), (tables.audit, audit),
        ):
            if store.dialect == "postgresql":
                _copy(store, conn, table, values)
            else:
                _insert_many(conn, table, values)
        reference.add(conn, tables, [reference.contribution(s.header) for s, _ in states])


def _insert_many(conn: Connection, table: Table, values: list[dict[str, Any]]) -> None:
    """SQLite: one prepared INSERT run over plain tuples by the driver (each value converted by its column's type)."""
    if not values:
        return
    dialect = conn.dialect
    columns = [(c.name, sqlite_datetime if isinstance(c.type, DateTime) else c.type._cached_bind_processor(dialect))
               for c in table.columns]
    statement = (f"INSERT INTO {dialect.identifier_preparer.quote(table.name)} "
                 f"({', '.join(dialect.identifier_preparer.quote(n) for n, _ in columns)}) "
                 f"VALUES ({', '.join('?' for _ in columns)})")
    picked = itemgetter(*(name for name, _ in columns))
    converted = [(i, convert) for i, (_, convert) in enumerate(columns) if convert is not None]
    rows: list[Any] = [picked(row) for row in values]
    if converted:
        for n, row in enumerate(rows):
            listed = list(row)
            for i, convert in converted:
                listed[i] = convert(listed[i])
            rows[n] = listed
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


def sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite DATETIME stores it (its offset dropped), formatted in C: one per audit row."""
    return None if value is None else value.isoformat(" ", "microseconds")[:26]


def _copy(store: ViewStore, conn: Connection, table: Table, values: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY: rows streamed in one command, not one INSERT each."""
    if not values:
        return
    from psycopg import sql

    columns = [c.name for c in table.columns]
    name = sql.Identifier(store.database.schema, table.name) if store.database.schema else sql.Identifier(table.name)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(name, sql.SQL(", ").join(map(sql.Identifier, columns)))
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in values:
            copy.write_row([row[c] for c in columns])


def _swap(store: ViewStore, app: DeliveryApplication, shadow: ViewTables, cut: int) -> int:
    """Bring the shadow tables to the head, then put them in the live tables' place; one transaction."""
    applied = 0
    with store.engine.begin() as conn:
        store.lock_groups(conn)
        position = cut
        while True:
            # Read through the followers' own pool: inside this writer's turn, the library's one queue for
            # connections may hold a writer waiting for that turn (delivery/keyed.py writer_lock).
            notifications = app.follower_recorder.select_notifications(
                position + 1, SWAP_BATCH, inclusive_of_start=True)
            if not notifications:
                break
            batch = [(decode(app.mapper, n), Tracking(app.name, n.id)) for n in notifications]
            try:
                store.apply_projects(conn, shadow, [e for e, _ in batch])
                store.apply_audit(conn, shadow, batch)
            except (KeyError, AssertionError, ValueError, TypeError, AttributeError) as exc:
                raise ApplyFailed(notifications[0].id, notifications[-1].id, "projects", exc) from exc
            applied += len(batch)
            position = notifications[-1].id
        store.refresh_launch_forecasts(conn, shadow)
        _replace(store, conn, shadow)
        groups = store.rebuildable_groups()
        store.set_positions(conn, groups, position)
        store.record_versions(conn, groups)
    log.info("views rebuilt up to position %d", position)
    return applied


def _replace(store: ViewStore, conn: Connection, shadow: ViewTables) -> None:
    store.drop_legacy(conn)
    for live, new in zip(store.live.all, shadow.all, strict=True):
        live.drop(conn, checkfirst=True)
        name = store.engine.dialect.identifier_preparer.quote(live.name)
        conn.execute(text(f"ALTER TABLE {store.quote(new.name)} RENAME TO {name}"))
        for index in live.indexes:
            index.create(conn)
