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

import copy
import fcntl
import gc
import logging
import multiprocessing
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from sqlalchemy import Connection, DateTime, Engine, Index, Table, event, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from delivery.application import DeliveryApplication
from projections import integrity, reference
from projections import state as view_state
from projections.decoding import FastDecoder
from projections.forecast import Reference
from projections.reducers import apply
from projections.state import Key, ProjectState
from projections.store import (
    AUDIT_COLUMNS,
    UNREADABLE,
    ApplyFailed,
    ViewStore,
    audit_row,
    decode,
    header_values,
    last_milestone_in_memory,
    make_engine,
    next_milestone_in_memory,
    row_values,
)
from projections.tables import (
    SHADOW_SUFFIX,
    ViewTables,
    epoch_microseconds,
    primary_key_name,
    rows_table,
    shadow_indexes,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

# Projects folded and written together: at most this many, and about this many events in all.
WINDOW = 200
WINDOW_EVENTS = 10_000
# Folding processes when the caller names none: this one alone. `delivery rebuild` asks for `cpu_processes()`.
DEFAULT_PROCESSES = 1
# Below this many events a store is folded in this process alone: a helper's fork and its first window
# would cost about what it saves. (At 10,000 events on 2 cores: 0.29 s with a helper, 0.39 without.)
PARALLEL_FROM = 5_000
# Smaller windows when several processes fold: the last ones to finish leave the others idle. Each process
# holds a window's rows at once (~6 MB at 2,000 events), so peak memory is the same from 10k events to 1M.
PARALLEL_WINDOW_EVENTS = 2_000
MIN_WINDOW_EVENTS = 500
# The last windows of a parallel rebuild are this many times smaller (see `_windows`).
TAPER_SHARE = 4
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
    with _file_lock(Path(str(store.database.sqlite_path) + ".rebuild-lock")):
        yield


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on a file beside the store, held by one process at a time (waiting, not polling)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cpu_processes() -> int:
    """Folding processes for a rebuild run from the command line: one per core this process may use, up to
    MAX_PROCESSES (the one writer is the limit beyond that); one where processes cannot be forked."""
    if not hasattr(os, "fork") or not hasattr(os, "sched_getaffinity"):
        return 1
    return max(1, min(MAX_PROCESSES, len(os.sched_getaffinity(0))))


# More folding processes than this only queue on the writer (this process).
MAX_PROCESSES = 4


@contextmanager
def few_collections() -> Iterator[None]:
    """No cyclic garbage collection while folding: a window's objects are freed by reference counts.

    Objects alive before are frozen out of the collector's sight, and the collector runs on
    the young generations once per window (`_collect`) instead of every few hundred
    allocations: a rebuild spent ~6 % of its time in it. All is put back afterwards, but
    in a process that had frozen its long-lived objects itself (`delivery rebuild`), which
    keeps them frozen: thawed, they cost a full collection right after (~50 ms, whatever
    the store's size, for the modules' ~80,000 objects).
    """
    enabled = gc.isenabled()
    frozen_before = gc.get_freeze_count() > 0
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        if not frozen_before:
            gc.unfreeze()


def rebuild(
    store: ViewStore, app: DeliveryApplication, progress: Progress | None = None, processes: int | None = None,
    *, only_if_stale: bool = False,
) -> int:
    """Build every rebuildable view anew from the events; returns the events folded (up to the swap).

    With `processes` above 1, this process and that many less forked helpers fold windows of
    projects at once; this one writes them all (see `_in_parallel`). `only_if_stale` (a process
    starting on a changed view version) skips the work when another process did it meanwhile.
    """
    with rebuild_lock(store), few_collections():
        if only_if_stale and not set(store.groups_needing_rebuild()) & set(store.rebuildable_groups()):
            return 0  # another process rebuilt them while this one waited for the lock
        with shadow_writer(store) as writer:
            done = _build_shadow(store, app, writer, progress, processes)
        if progress is not None:
            progress(done, done)
        return done


def _build_shadow(store: ViewStore, app: DeliveryApplication, writer: Engine, progress: Progress | None,
                  processes: int | None) -> int:
    """Fold every project into shadow tables through `writer`, index them, swap them in; the events folded."""
    cut = app.recorder.max_notification_id() or 0
    shadow = ViewTables(store.dialect, rebuilding=True, schema=store.database.schema)

    def create_shadow() -> None:
        with writer.begin() as conn:
            _drop_retired(store, conn)  # a rebuild that stopped between its swap and its drops left them
            for table in reversed(shadow.all):
                table.drop(conn, checkfirst=True)
            for table in shadow.all:
                table.create(conn)

    folder = Folder(app, store, store.reader, cut)
    workers = processes if processes is not None else DEFAULT_PROCESSES
    if workers > 1 and cut >= PARALLEL_FROM and hasattr(os, "fork"):
        done = _in_parallel(store, writer, folder, shadow, workers, progress, create_shadow)
    else:
        create_shadow()
        done = 0
        for pids in _windows(store, folder.events, folder.position, cut):
            done += _write(store, writer, shadow, folder.fold(pids))
            _collect()
            if progress is not None:
                progress(min(done, cut), cut)
    _finish_shadow(store, writer, shadow, max(workers, 1))
    if store.dialect == "sqlite":
        _checkpoint(writer)  # the log the shadow writes left, copied here rather than in the swap's commit
    return done + _swap(store, app, shadow, cut)


# SQLite: how often the rebuild's checkpointing thread copies the write-ahead log into the database.
CHECKPOINT_EVERY = 0.05


@contextmanager
def shadow_writer(store: ViewStore) -> Iterator[Engine]:
    """The engine the rebuild writes its shadow tables through (`_shadow_engine`).

    PostgreSQL: commits that do not wait for the server's log to reach the disk. SQLite: commits
    that never checkpoint the write-ahead log, while a thread beside
    them copies the write-ahead log into the database every CHECKPOINT_EVERY seconds (a passive
    checkpoint, which waits for no reader or writer), and a writer that finds the log past LOG_LIMIT
    finishes the copy before it writes (`_bound_log`), so the next write starts the log over. The
    log stays within LOG_LIMIT and one transaction: 11 MB at 100,000 events, 75 MB at 1M (where one
    audit index build writes ~70 MB; waiting for the checkpoint before each build costs ~2 s of 50).
    It used to hold every view the rebuild wrote (78-100 MB at 100,000 events, 300 MB at 1M with the
    index builds added up), as an open read pinned it (`_windows`). Checkpointing inside the writers'
    commits instead would hold each writer's turn while the disk syncs (~11 ms per 4 MB here): 3 %
    slower at 100,000 events. The checkpoints still sync (`synchronous=NORMAL`) before the log is
    reused: a crash loses no more than it did.
    """
    writer = _shadow_engine(store, pool_size=2)
    if store.dialect != "sqlite":
        try:
            yield writer
        finally:
            writer.dispose()
        return
    stop = threading.Event()
    thread = threading.Thread(target=_checkpoints, args=(writer, stop), name="rebuild-checkpoints", daemon=True)
    thread.start()
    try:
        yield writer
    finally:
        stop.set()
        thread.join()
        writer.dispose()


# SQLite: a rebuild's writer that finds the write-ahead log longer than this checkpoints what the thread has not.
LOG_LIMIT = 16 << 20


def _shadow_engine(store: ViewStore, pool_size: int) -> Engine:
    """A writer of shadow tables, which nobody reads before the swap.

    SQLite: its commits never checkpoint (`shadow_writer` does), and it cuts the log back to LOG_LIMIT when it
    starts it over (a log's file otherwise keeps the largest size it ever had: `_bound_log` reads that size).
    PostgreSQL: `synchronous_commit = off`, so a commit does not wait for the server's log to reach the disk.
    Nothing is lost that the swap needs: the swap commits through the store's own engine, which waits, and the
    server's log reaches the disk in order, so the swap's commit on disk means every shadow row before it is.
    A crash before the swap loses at most shadow rows, which the next rebuild drops and writes anew.
    """
    engine = make_engine(store.database, ping=False, pool_size=pool_size)  # fresh connections: no round trip

    @event.listens_for(engine, "connect")
    def _shadow_session(dbapi_connection: Any, _record: Any) -> None:
        if store.dialect == "sqlite":
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
            dbapi_connection.execute(f"PRAGMA journal_size_limit={LOG_LIMIT}")
            return
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
        dbapi_connection.commit()

    return engine


def _bound_log(store: ViewStore, writer: Engine) -> None:
    """SQLite, in the writer's turn: a log past LOG_LIMIT is checkpointed to its end before the next write, so the
    write starts the log over (SQLite reuses a log only once all of it is in the database)."""
    if store.dialect != "sqlite":
        return
    try:
        size = os.stat(f"{store.database.sqlite_path}-wal").st_size
    except OSError:
        return
    if size > LOG_LIMIT:
        _checkpoint(writer)


def _checkpoints(engine: Engine, stop: threading.Event) -> None:
    """Passive checkpoints until `stop` (the thread of `shadow_writer`). One that fails is logged and tried again
    at the next tick: the writers' own bound (`_bound_log`) keeps the log short meanwhile, and a database gone
    away fails the rebuild itself."""
    while not stop.wait(CHECKPOINT_EVERY):
        try:
            _checkpoint(engine)
        except (sqlite3.Error, SQLAlchemyError) as exc:
            log.warning("rebuild: a background checkpoint failed (%s); trying again", exc)


def _checkpoint(engine: Engine) -> None:
    """One passive checkpoint on a connection of its own, outside any transaction (SQLite runs it in C, the GIL
    released)."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # type: ignore[union-attr]
    finally:
        raw.close()


@dataclass
class Folded:
    """One window of projects folded: each table's rows as tuples in its columns' order (plain data, so a
    helper process hands it over pickled), and what the projects add to the reference class."""

    events: int
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    headers: list[tuple[Any, ...]] = field(default_factory=list)
    snapshots: list[tuple[Any, ...]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    references: list[dict[Any, int]] = field(default_factory=list)

    def written(self) -> Folded:
        """What is left to hand over once the rows are written where they were folded."""
        return Folded(self.events, references=self.references)


def _columns(table: Table) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's values (a dict by column name) as a tuple in the table's column order."""
    return itemgetter(*[c.name for c in table.columns])  # type: ignore[return-value]


class Folder:
    """Reads windows of projects up to the cut and folds each project's whole history in memory."""

    def __init__(self, app: DeliveryApplication, store: ViewStore, reader: Engine, cut: int) -> None:
        self.store = store
        self.reader = reader
        self.cut = cut
        self.events, self.position = events_table(app, store)
        self.decoder = FastDecoder(app.mapper)
        # Run on the driver's own cursor (`_read`): SQLAlchemy's result rows cost ~0.3 us an event on SQLite.
        select_from = f"SELECT {self.position}, originator_id, originator_version, topic, state FROM {self.events} "
        order = " ORDER BY originator_id, originator_version"
        if store.dialect == "sqlite":
            self.sql = select_from + f"WHERE originator_id IN ({{}}) AND {self.position} <= ?" + order
        else:
            self.sql = select_from + f"WHERE originator_id = ANY(%s) AND {self.position} <= %s" + order
        live = store.live
        self.row_tuple, self.header_tuple = _columns(live.rows), _columns(live.portfolio)
        # SQLite: the audit and rows tuples are made as SQLite stores them, here, in every folding process,
        # rather than converted one by one in the writer's turn (`_insert_many(..., stored=True)`).
        self.sqlite = store.dialect == "sqlite"
        if self.sqlite:  # every other column of those tables goes to SQLite as it is
            dialect = store.engine.dialect
            assert all(c.type._cached_bind_processor(dialect) is None
                       for t in (live.rows, live.snapshots, live.audit) for c in t.columns
                       if (t.name, c.name) not in CONVERTED_HERE), "a column SQLite stores converted"
        # Tuples built by hand below follow these tables' columns.
        assert [c.name for c in live.snapshots.columns] == ["project_id", "version", "doc"]
        assert tuple(c.name for c in live.audit.columns) == AUDIT_COLUMNS

    def fold(self, pids: list[str]) -> Folded:
        """One window: every event of these projects read in one query, decoded and folded."""
        found = self._read(pids)
        decoder = self.decoder
        every = view_state.SNAPSHOT_EVERY
        folded = Folded(len(found))
        audit = folded.audit
        # Each project's state and its rows' JSON as of its latest snapshot (rows changed since are dirty).
        states: list[tuple[ProjectState, dict[Key, str]]] = []
        last: Any = None
        uuid = UUID(int=0)
        pid = ""
        state = ProjectState()
        texts: dict[Key, str] = {}
        make_audit_row = sqlite_audit_row if self.sqlite else audit_row
        for position, originator_id, version, topic, stored in found:
            if originator_id != last:
                last = originator_id
                uuid = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
                pid = str(uuid)
                state, texts = ProjectState(), {}
                states.append((state, texts))
            try:
                event = decoder(position, uuid, version, topic, stored)
                apply(state, event)
            except (*UNREADABLE, AssertionError) as exc:
                raise ApplyFailed(int(position), int(position), "projects", exc) from exc
            if version % every == 0:
                _encode_changed(state, texts)
                folded.snapshots.append((pid, version, state.dumps(texts)))
            audit.append(make_audit_row(event, position, uuid))
        row_tuple = self.row_tuple
        for state, texts in states:
            header = state.h
            header.next_milestone = next_milestone_in_memory(state)
            header.last_milestone = last_milestone_in_memory(state)
            _encode_changed(state, texts)
            rows = [row_tuple(row_values(header.id, k, seq, row, texts[k])) for k, seq, row in state.rows.items()]
            if self.sqlite:
                rows = [r if r[DUE_OPEN] is None else (*r[:DUE_OPEN], r[DUE_OPEN].isoformat(), *r[DUE_OPEN + 1:])
                        for r in rows]
            folded.rows += rows
            folded.headers.append(self.header_tuple(header_values(state)))
            folded.references.append(reference.contribution(header))
        return folded

    def _read(self, pids: list[str]) -> list[tuple[Any, ...]]:
        """Every event of these projects up to the cut, (position, id, version, topic, state) in each project's
        order, through the driver's cursor. PostgreSQL sends them in its binary format: the state's bytes as
        they are, not as hexadecimal text that both ends convert (~0.7 us an event here, and the server's
        time)."""
        with self.reader.connect() as conn:
            raw: Any = conn.connection.driver_connection
            if self.sqlite:
                cursor = raw.execute(self.sql.format(", ".join("?" * len(pids))), [*pids, self.cut])
                try:
                    rows: list[tuple[Any, ...]] = cursor.fetchall()
                    return rows
                finally:
                    cursor.close()
            with raw.cursor(binary=True) as cursor:
                cursor.execute(self.sql, [[UUID(p) for p in pids], self.cut])
                found: list[tuple[Any, ...]] = cursor.fetchall()
            return found  # the pool ends the read's transaction


def _encode_changed(state: ProjectState, texts: dict[Key, str]) -> None:
    """The JSON of the rows changed since the last call (every change goes through `Rows.add` or `edit`,
    which mark the row dirty, as the live applier relies on); the others' stays as it was."""
    rows = state.rows
    for key in rows.dirty:
        texts[key] = rows.get(*key).model_dump_json()
    rows.dirty.clear()


def _collect() -> None:
    """The young objects a window left (few_collections holds the collector off while folding)."""
    gc.collect(1)


def _in_parallel(store: ViewStore, writer: Engine, folder: Folder, shadow: ViewTables, workers: int,
                 progress: Progress | None, prepare: Callable[[], None]) -> int:
    """Fold and write windows here and in `workers - 1` forked helpers (`prepare` runs once they are forked:
    their start overlaps it).

    A helper is this process forked (its modules loaded, nothing to start): it reads, folds and
    writes its windows through engines of its own, and hands back only the count and what its
    projects add to the reference class (written here, in one place). This process keeps two
    windows in flight per helper and folds the next one itself while they are all busy: each
    window costs about the same wherever it is folded, so the work balances without a knob.
    On SQLite the writers take turns on a lock file (`_write_turn`), not SQLite's busy loop.
    """
    global _forked
    done, cut = 0, folder.cut
    # What the helpers' projects add to the reference class, written with this process's next window.
    references: list[dict[Any, int]] = []
    _forked = (store, folder)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers - 1, mp_context=context, initializer=_helper_start) as pool:
            pending: set[Future[Folded]] = set()
            started = [pool.submit(_helper_ready) for _ in range(workers - 1)]  # forks every helper now
            prepare()
            for future in started:
                future.result()

            def take_finished(block: bool) -> None:
                nonlocal pending, done
                if not pending:
                    return
                finished, pending = wait(pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
                for future in finished:
                    folded = future.result()
                    done += folded.events
                    references.extend(folded.references)
                if finished and progress is not None:
                    progress(min(done, cut), cut)

            # Windows small enough that every process gets several, even in a small store.
            window_events = min(PARALLEL_WINDOW_EVENTS, max(MIN_WINDOW_EVENTS, cut // (6 * workers)))
            taper = 2 * (workers - 1) * window_events + window_events
            for pids in _windows(store, folder.events, folder.position, cut, window_events, taper):
                take_finished(block=False)
                if len(pending) < 2 * (workers - 1):
                    pending.add(pool.submit(_helper_fold, pids))
                    continue
                folded = folder.fold(pids)
                folded.references += references
                references.clear()
                done += _write(store, writer, shadow, folded)
                _collect()
                if progress is not None:
                    progress(min(done, cut), cut)
            while pending:
                take_finished(block=True)
            _write(store, writer, shadow, Folded(0, references=references))
    finally:
        _forked = None
    return done


# What a forked helper inherits: the store and the folder of the rebuild that forked it.
_forked: tuple[ViewStore, Folder] | None = None
_helper: dict[str, Any] = {}


def _helper_start() -> None:
    """In a helper just forked: engines of its own (the inherited connections stay the parent's, unused)."""
    assert _forked is not None
    store, folder = _forked
    own = copy.copy(folder)
    own.reader = make_engine(store.database, writer=False, pool_size=1)
    _helper.update(store=store, folder=own, writer=_shadow_engine(store, pool_size=1),
                   shadow=ViewTables(store.dialect, rebuilding=True, schema=store.database.schema))


def _helper_ready() -> None:
    """Nothing: submitted first, it makes the pool fork its helpers (and run `_helper_start`) at once."""


def _helper_fold(pids: list[str]) -> Folded:
    folded: Folded = _helper["folder"].fold(pids)
    _collect()
    _write(_helper["store"], _helper["writer"], _helper["shadow"], folded, references=False)
    return folded.written()


@contextmanager
def _write_turn(store: ViewStore) -> Iterator[None]:
    """SQLite: the rebuild's processes write one at a time, each waiting on a lock file (PostgreSQL takes
    concurrent writers)."""
    if store.dialect != "sqlite":
        yield
        return
    with _file_lock(Path(str(store.database.sqlite_path) + ".rebuild-write-lock")):
        yield


def _windows(store: ViewStore, table: str, position: str, cut: int,
             window_events: int = WINDOW_EVENTS, taper: int = 0) -> Iterator[list[str]]:
    """The ids of the projects created up to the cut, in order of creation, a window at a time.

    A window holds at most WINDOW projects and about WINDOW_EVENTS events (a project longer
    than that is a window of its own), so memory is bounded whatever the projects' sizes. The
    projects' ids and lengths are read in one short query (~100 bytes a project) rather than
    through a cursor held open: on SQLite an open read pins the write-ahead log, so nothing the
    rebuild wrote could be checkpointed before it ended (the log grew to hold every view).
    With `taper`, the windows of the last `taper` events (of about `cut`) shrink to a quarter:
    the processes folding in parallel then finish close together.
    """
    sql = text(f"SELECT originator_id, MAX(originator_version) FROM {table} WHERE {position} <= :cut "
               f"GROUP BY originator_id ORDER BY MIN({position})")
    with store.reader.connect() as conn:
        projects = conn.execute(sql, {"cut": cut}).tuples().all()
    window: list[str] = []
    events = taken = 0
    size = window_events
    for pid, versions in projects:
        if window and (len(window) == WINDOW or events + versions > size):
            yield window
            window, events = [], 0
            if taper and cut - taken <= taper:
                size = max(1, window_events // TAPER_SHARE)
        window.append(pid if isinstance(pid, str) else str(pid))
        events += versions
        taken += versions
    if window:
        yield window


def _write(store: ViewStore, writer: Engine, tables: ViewTables, folded: Folded, *, references: bool = True) -> int:
    """A folded window into the shadow tables, in one transaction; returns its events. A helper writes its rows
    but not `references` (the parent writes every process's, in one place)."""
    with _write_turn(store):
        _bound_log(store, writer)
        with writer.begin() as conn:
            _write_into(store, conn, tables, folded)
            if references:
                reference.add(conn, tables, folded.references)
    return folded.events


def _write_into(store: ViewStore, conn: Connection, tables: ViewTables, folded: Folded) -> None:
    for table, values in ((tables.rows, folded.rows), (tables.portfolio, folded.headers),
                          (tables.snapshots, folded.snapshots), (tables.audit, folded.audit)):
        if store.dialect == "postgresql":
            _copy(store, conn, table, values)
        else:
            _insert_many(conn, table, values, stored=table is not tables.portfolio)


def _drop_retired(store: ViewStore, conn: Connection, tables: Sequence[Table] | None = None) -> None:
    """SQLite: drop the old views' tables a swap renamed aside (`_replace`), those of `tables` or all."""
    if store.dialect != "sqlite":
        return
    quote = store.engine.dialect.identifier_preparer.quote
    for live in tables if tables is not None else store.live.all:
        conn.execute(text(f"DROP TABLE IF EXISTS {quote(live.name + RETIRED_SUFFIX)}"))


# Where the rows table's `due_open` date is in a row's tuple (the Folder makes it SQLite's text on SQLite).
DUE_OPEN = [c.name for c in rows_table.columns].index("due_open")


# The columns whose values the folding processes convert to what SQLite stores (`Folder`, `sqlite_audit_row`).
CONVERTED_HERE = frozenset({("view_rows", "due_open"), ("audit_log", "project_id"), ("audit_log", "recorded_at")})


def sqlite_audit_row(e: Any, position: int, project_id: UUID) -> tuple[Any, ...]:
    """`audit_row` as SQLite stores it (`ProjectKey`, `Moment`): the project's 16 bytes, the time in microseconds."""
    return (position, project_id.bytes, e.originator_version, type(e).__name__, getattr(e, "actor", ""),
            epoch_microseconds(e.timestamp))


def _insert_many(conn: Connection, table: Table, values: list[tuple[Any, ...]], *, stored: bool = False) -> None:
    """SQLite: one prepared INSERT run over the tuples by the driver; each value converted by its column's type,
    but where the tuples already hold what SQLite stores (`stored`: the folding processes made them so)."""
    if not values:
        return
    dialect = conn.dialect
    columns = [(c.name, sqlite_datetime if isinstance(c.type, DateTime) else c.type._cached_bind_processor(dialect))
               for c in table.columns]
    statement = (f"INSERT INTO {dialect.identifier_preparer.quote(table.name)} "
                 f"({', '.join(dialect.identifier_preparer.quote(n) for n, _ in columns)}) "
                 f"VALUES ({', '.join('?' for _ in columns)})")
    converted = [] if stored else [(i, convert) for i, (_, convert) in enumerate(columns) if convert is not None]
    rows: list[Any] = values
    if converted:
        rows = []
        for row in values:
            listed = list(row)
            for i, convert in converted:
                listed[i] = convert(listed[i])
            rows.append(listed)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(statement, rows)
    finally:
        cursor.close()


def sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite DATETIME stores it (its offset dropped), formatted in C: one per audit row."""
    return None if value is None else value.isoformat(" ", "microseconds")[:26]


def _copy(store: ViewStore, conn: Connection, table: Table, values: list[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY in its binary format: rows streamed in one command, not one INSERT each, and each value
    sent as the server stores it rather than as text that both ends convert (~8 % of a rebuild's time)."""
    if not values:
        return
    from psycopg import sql

    columns = [c.name for c in table.columns]
    name = sql.Identifier(store.database.schema, table.name) if store.database.schema else sql.Identifier(table.name)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        name, sql.SQL(", ").join(map(sql.Identifier, columns)))
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(_copy_types(table, conn.dialect))
        for row in values:
            copy.write_row(row)


_COPY_TYPES: dict[str, list[str]] = {}


def _copy_types(table: Table, dialect: Any) -> list[str]:
    """Each column's PostgreSQL type as psycopg names it, for COPY's binary format (which must be told them).
    SQLAlchemy's FLOAT is PostgreSQL's double precision."""
    types = _COPY_TYPES.get(table.name)
    if types is None:
        names = [c.type.compile(dialect=dialect).split("(")[0].lower() for c in table.columns]
        types = _COPY_TYPES[table.name] = ["float8" if n == "float" else n for n in names]
    return types


# Launch forecasts computed ahead while the indexes are built: at most this many projects' (~1.5 KB each).
FORECASTS_AHEAD = 4_000


def _finish_shadow(store: ViewStore, writer: Engine, shadow: ViewTables, connections: int) -> None:
    """The shadow tables' indexes and every project's launch forecast, side by side, before the swap.

    A thread builds the indexes (in the database: SQLite's C code or PostgreSQL's server processes, the GIL
    released) while this thread works out each project's launch P80 against the whole reference class; the
    forecasts are written once the indexes stand, so the two never wait on each other's locks. Each index
    and each chunk of forecasts is a transaction of its own: live writers never wait long. The events the
    swap applies after the cut then move the forecasts of their own projects, as they would live
    (docs/forecast.md).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        built = pool.submit(_index_shadow, store, writer, shadow, connections)
        computed: list[list[dict[str, Any]]] = []
        held = 0
        classes: dict[str | None, Reference] = {}
        after: str | None = ""
        while after is not None:
            with store.reader.connect() as conn:
                values, after = store.launch_forecasts(conn, shadow, after, classes)
            computed.append(values)
            held += len(values)
            if held >= FORECASTS_AHEAD or after is None:
                built.result()  # the indexes first (memory is bounded: wait for them rather than compute on)
                for chunk in filter(None, computed):
                    with writer.begin() as conn:
                        store.write_launch_forecasts(conn, shadow, chunk)
                computed, held = [], 0
        built.result()


def _index_shadow(store: ViewStore, writer: Engine, shadow: ViewTables, connections: int) -> None:
    """Build the shadow tables' indexes before the swap, one transaction each, the largest tables' first.

    PostgreSQL builds several at once, each on a connection (and a server process) of its own, under
    names the swap renames. SQLite builds one at a time under the names the live tables' indexes do not
    hold (its index names are the database's, and cannot be renamed): the live indexes keep theirs, the
    swapped-in ones keep these, and the next rebuild takes the first names back.
    """
    if store.dialect == "sqlite":
        with store.reader.connect() as conn:
            taken = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
    else:
        taken = None
    twins = [twin for live, new in zip(store.live.all, shadow.all, strict=True)
             for twin in shadow_indexes(live, new, taken)]
    twins.sort(key=lambda twin: twin.table is not shadow.audit)
    if store.dialect == "sqlite":
        for twin in twins:
            _bound_log(store, writer)  # an index of 1M rows is ~60 MB of log: one after another, they add up
            with writer.begin() as conn:
                twin.create(conn)
        return
    engine = _shadow_engine(store, pool_size=connections)

    def build(twin: Index) -> None:
        with engine.begin() as conn:
            twin.create(conn)

    try:
        with ThreadPoolExecutor(max_workers=connections) as pool:
            for finished in [pool.submit(build, twin) for twin in twins]:
                finished.result()
    finally:
        engine.dispose()


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
        _replace(store, conn, shadow)
        groups = store.rebuildable_groups()
        store.set_positions(conn, groups, position)
        store.record_versions(conn, groups)
    log.info("views rebuilt up to position %d", position)
    if store.dialect == "sqlite":
        for live in store.live.all:  # each in a transaction of its own: writers wait for one table at a time
            try:
                with store.engine.begin() as conn:
                    _drop_retired(store, conn, [live])
            except SQLAlchemyError as exc:  # the new views are in place: the next rebuild drops what is left
                log.warning("the old %s table stays aside until the next rebuild (%s)", live.name, exc)
    return applied


# SQLite: the old views' tables, renamed aside in the swap and dropped after it (`_replace`).
RETIRED_SUFFIX = "_retired"


def _replace(store: ViewStore, conn: Connection, shadow: ViewTables) -> None:
    """The shadow tables in the live ones' place. PostgreSQL drops the old tables here (the server unlinks
    their files at the commit). SQLite renames them aside, to be dropped after the commit: its DROP reads
    every page of the table to free it, 0.25 s for the views of 1M events with the file in the page cache
    and 3.7 s once the machine had evicted it, during which every writer of the database (commands too)
    waited for the swap."""
    store.drop_legacy(conn)
    quote = store.engine.dialect.identifier_preparer.quote
    present = set(inspect(conn).get_table_names()) if store.dialect == "sqlite" else set()
    for live, new in zip(store.live.all, shadow.all, strict=True):
        if store.dialect == "sqlite":
            if live.name in present:
                conn.execute(text(f"ALTER TABLE {quote(live.name)} RENAME TO {quote(live.name + RETIRED_SUFFIX)}"))
            conn.execute(text(f"ALTER TABLE {quote(new.name)} RENAME TO {quote(live.name)}"))
            continue  # SQLite: the indexes were built under names of their own and stay (`_index_shadow`)
        live.drop(conn, checkfirst=True)
        conn.execute(text(f"ALTER TABLE {store.quote(new.name)} RENAME TO {quote(live.name)}"))
        names = [str(index.name) for index in live.indexes]
        if live.primary_key.columns:
            names.append(primary_key_name(live))  # the key's index, and with it the key (`tables.shadow`)
        for name in names:
            # Built before the swap (`_index_shadow`); IF EXISTS: an index whose condition did not hold.
            conn.execute(text(f"ALTER INDEX IF EXISTS {store.quote(name + SHADOW_SUFFIX)} RENAME TO {quote(name)}"))
