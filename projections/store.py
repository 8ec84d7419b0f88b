"""Where the views live: SQL tables written together with their positions, one batch per transaction.

Views are kept in three groups, each with its own position and version:
`projects` (each project's header and rows, the portfolio and view snapshots),
`audit` (one row per event) and `chain` (each event's hash links,
projections/chain.py). A batch of events is applied to every group behind it and
the group's position moved forward by compare-and-set in the same transaction:
a batch is never applied twice, by a restart or by a second applier.

Applying an event costs the rows it touches: the batch's headers and named rows
are fetched by key in one query each, folded, and only the changed rows written
back with prepared upserts (projections/state.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.utils import TopicError
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import (
    Engine,
    Select,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from delivery import keyed
from delivery.settings import Database
from projections import chain, reference
from projections.events import ENVELOPE, jsonable, kind
from projections.forecast import Reference, launch_p80
from projections.models import MilestoneRecord, MilestoneRef, NextMilestone, ProjectHeader
from projections.reducers import REDUCERS, apply
from projections.state import ROW_TYPES, Key, ProjectState, Rows, SnapshotParts, parse_snapshot
from projections.tables import (
    ViewTables,
    audit_table,
    chain_table,
    create_all,
    metadata,
    portfolio_table,
    positions_table,
    reference_table,
    rows_table,
    snapshots_table,
    versions_table,
)
from projections.views import launch_days_late, portfolio_columns

__all__ = [
    "GROUP_TABLES",
    "Applied",
    "ApplyFailed",
    "ViewStore",
    "audit_table",
    "chain_table",
    "create_all",
    "make_engine",
    "portfolio_table",
    "rows_table",
    "snapshots_table",
]

log = logging.getLogger(__name__)

# Bump a revision when a reducer's logic changes without changing its state's shape;
# shape changes are caught by the schema hash. A changed version rebuilds the group on start
# (the chain only once its links verify in the form they were made in: CHAIN_FORMS).
# audit 4: version in its time index (the *as of* cut); 5: (project, position) unique by an index, no primary key;
# 6: the project as a UUID (16 bytes), on SQLite the time as microseconds (types the schema hash does not see)
REVISIONS = {"projects": 3, "audit": 6, "chain": 2}
# The chain form (projections.chain) of the links each revision of the chain group made.
CHAIN_FORMS = {1: 1, 2: 2}
GROUP_TABLES: dict[str, tuple[Any, ...]] = {
    "projects": (portfolio_table, rows_table, snapshots_table, reference_table),
    "audit": (audit_table,),
    "chain": (chain_table,),
}
# Never rebuilt from the events as they are now (see ViewStore.rebuildable_groups).
KEPT_GROUPS = frozenset({"chain"})
# Tables of earlier releases, dropped once their groups are rebuilt.
LEGACY_TABLES = ("project_views", "view_tracking")
# Rows fetched by key in chunks of this many (one IN list per query).
CHUNK = 400


def group_version(group: str, revision: int | None = None) -> str:
    """A hash of everything a group's stored rows depend on: its revision, row and table shapes, reducers."""
    return _group_version(group, REVISIONS[group] if revision is None else revision)


@functools.cache  # worked out once per process, not on every start or rebuild
def _group_version(group: str, revision: int) -> str:
    shapes: dict[str, Any] = {"revision": revision}
    if group == "projects":
        shapes["rows"] = {name: model_shape(t) for name, t in ROW_TYPES.items()}
        shapes["header"] = model_shape(ProjectHeader)
        shapes["reducers"] = list(REDUCERS)
    shapes["tables"] = [
        [(c.name, str(c.type)) for c in table.columns] for table in GROUP_TABLES[group]
    ]
    return hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16]


# The number pydantic appends to a model's name in its schema's references (the class's id: it changes per process).
_REFERENCE_ID = re.compile(r"(?<=')([\w.]+):\d+(?=')")


def model_shape(model: type[BaseModel]) -> str:
    """A row model's shape as text: its core schema (fields, types, defaults, nested models), the same in
    every process. Twenty times cheaper than its JSON schema (~0.6 ms for every row model against 11 ms,
    paid by every process that starts on a store); a pydantic release that writes it otherwise costs one
    rebuild, never a missed one."""
    return _REFERENCE_ID.sub(r"\1", repr(model.__pydantic_core_schema__))


def make_engine(database: Database, *, writer: bool = True, ping: bool = True, pool_size: int = 5) -> Engine:
    """An engine on the views' database; on SQLite a writer takes the write lock when it begins.

    On PostgreSQL `ping` checks each connection as it is taken (a round trip), so a connection a restart
    left stale is replaced rather than failing a request; an engine whose user retries on its own (the
    applier) goes without.
    """
    if database.kind == "sqlite":
        engine = create_engine(database.sqlalchemy_url(), connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions (so BEGIN covers reads too).
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            # Debian builds SQLite with secure_delete on: every freed page is overwritten with zeros, so a
            # rebuild's DROP of the old views wrote each of their pages once more. Views hold nothing that
            # is not in the events, which are never deleted: nothing to scrub.
            dbapi_connection.execute("PRAGMA secure_delete=OFF")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers lock up front (no deadlock upgrading a read lock); readers never wait (WAL).
            if writer:
                _take_turn(conn.info, database.sqlite_path)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        if writer:
            @event.listens_for(engine, "checkin")
            @event.listens_for(engine, "invalidate")
            def _sqlite_give_back_turn(_dbapi_connection: Any, record: Any, *_exception: Any) -> None:
                # After the commit or rollback, when the connection goes back to the pool (or is thrown away).
                turn = record.info.pop(TURN, None) if record is not None else None
                if turn is not None:
                    turn.release()

        return engine
    options: dict[str, Any] = {}
    if database.schema:
        options["schema_translate_map"] = {None: database.schema}
    engine = create_engine(
        database.sqlalchemy_url(), pool_size=pool_size, max_overflow=2 * pool_size, pool_pre_ping=ping,
        execution_options=options, connect_args={"connect_timeout": 5},
    )

    if not writer:
        return engine

    @event.listens_for(engine, "connect")
    def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
        # Values a writer's PostgreSQL compresses (a view snapshot's text, ~25 KB at 100 events) in lz4 rather
        # than pglz: a rebuild's COPY of the snapshots took 0.13 s per 100,000 events instead of 0.25. A server
        # built without lz4 (or before 14) refuses the setting and keeps its own. Readers never compress: their
        # connections start without the round trip.
        import psycopg

        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET default_toast_compression = 'lz4'")
            dbapi_connection.commit()
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.UndefinedObject):
            dbapi_connection.rollback()

    return engine


# View snapshots kept in memory, split into rows (KeptSnapshots), by the size of their text.
KEPT_SNAPSHOT_BYTES = 64 * 1024 * 1024

# Project headers the applier keeps between batches (the least recently applied are read again).
KEPT_HEADERS = 2_000

TURN = "delivery_writer_turn"
# A writer that waited this long for its turn goes ahead and lets SQLite's own lock decide (never a deadlock).
TURN_WAIT_SECONDS = 2.0


def _take_turn(info: dict[str, Any], path: str) -> None:
    """Queue behind this process's other writers of the file (see delivery.keyed.writer_lock)."""
    if TURN in info:
        return  # this connection has its turn already (a second transaction before it went back to the pool)
    lock = keyed.writer_lock(path)
    if lock is not None and lock.acquire(timeout=TURN_WAIT_SECONDS):
        info[TURN] = lock


@functools.cache
def _as_of_cut_statement(by_position: bool, by_time: bool) -> Select[Any]:
    """`ViewStore.as_of_cut`'s statement for a cut by position, by time, by both or by neither (built once)."""
    a, s = audit_table, snapshots_table
    # Two parameters for the one project: a parameter takes the type of the column it first meets, and the audit
    # log keeps the project as a UUID (`ProjectKey`), the snapshots as text; shared, the snapshots were never found.
    last = select(a.c.version.label("version")).where(a.c.project_id == bindparam("project"))
    if by_position:
        last = last.where(a.c.position <= bindparam("position"))
    if by_time:
        last = last.where(a.c.recorded_at <= bindparam("recorded_by"))
    if by_position and not by_time:
        last = last.order_by(a.c.position.desc())  # ix_audit_project
    elif by_time and not by_position:
        last = last.order_by(a.c.recorded_at.desc(), a.c.version.desc())  # ix_audit_project_time
    else:
        last = last.order_by(a.c.version.desc())
    cut = last.limit(1).cte("cut")
    nearest = (select(func.max(s.c.version)).where(s.c.project_id == bindparam("pid"), s.c.version <= cut.c.version)
               .scalar_subquery())
    return select(cut.c.version, nearest)


class KeptSnapshots:
    """View snapshots already read, split into rows, least recently used first out, up to `max_bytes` of text.

    An auditor stepping through a long project's history reads the same few snapshots again and
    again; each is a whole project's rows (half a megabyte at 5,000 events). Never stale: a snapshot
    stands for its version's history, which does not change.
    """

    def __init__(self, max_bytes: int = KEPT_SNAPSHOT_BYTES) -> None:
        self._kept: OrderedDict[tuple[str, int], tuple[SnapshotParts, int]] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> SnapshotParts | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                return None
            self._kept.move_to_end(key)
            return found[0]

    def put(self, key: tuple[str, int], parts: SnapshotParts, size: int) -> None:
        with self._lock:
            if key in self._kept or size > self._max:
                return
            self._kept[key] = (parts, size)
            self._bytes += size
            while self._bytes > self._max:
                _, (_, gone) = self._kept.popitem(last=False)
                self._bytes -= gone


class ApplyFailed(Exception):
    """An event the views cannot apply: the store is inconsistent or a reducer is wrong."""

    def __init__(self, position: int, last: int, group: str, cause: BaseException) -> None:
        where = f"position {position}" if position == last else f"positions {position}..{last}"
        views = "the views" if group == "any" else f"the {group} views"
        super().__init__(f"{views} cannot apply the event at {where}: {type(cause).__name__}: {cause}")
        self.position, self.last, self.group, self.cause = position, last, group, cause

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses process boundaries (a parallel rebuild): the cause travels as text.
        return (ApplyFailed, (self.position, self.last, self.group, RuntimeError(f"{type(self.cause).__name__}: "
                                                                                 f"{self.cause}")))


# What decoding or folding a stored event raises when its topic or state was edited in the table.
UNREADABLE = (ValueError, TopicError, KeyError, TypeError, AttributeError)


def decode(mapper: Any, notification: Any) -> Any:
    """A stored event as a domain event; one that cannot be decoded (its topic or state edited in the
    table) is an ApplyFailed naming its position, never a traceback."""
    try:
        return mapper.to_domain_event(notification)
    except UNREADABLE as exc:
        raise ApplyFailed(notification.id, notification.id, "any", exc) from exc


class _Raced(Exception):
    """Another applier moved a group's position first: roll back, nothing applied twice."""


@dataclass
class Applied:
    """What one batch did: events applied (to the group furthest behind), up to where, and each touched
    project's version after it."""

    count: int = 0
    position: int = 0
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def projects(self) -> set[str]:
        return set(self.versions)


class ViewStore(TrackingRecorder):
    """The views' tables and their positions, on the events' database."""

    def __init__(self, database: Database, application_name: str = "delivery") -> None:
        self.database = database
        self.application_name = application_name
        # Writes (the applier's batches, a rebuild) retry on a database error, so on PostgreSQL they go
        # without the round trip that checks each connection as it is taken; reads (a request's) keep it.
        self.engine = make_engine(database, ping=False, pool_size=2)
        # Queries read through their own engine so, on SQLite, they never queue behind a writer.
        self.reader = make_engine(database, writer=False)
        self.dialect = self.engine.dialect.name
        # Where the applier announces each committed batch (PostgreSQL), per store.
        self.views_channel = database.channel("views")
        self.live = ViewTables(self.dialect, schema=database.schema)
        pt = positions_table
        mine = pt.c.application_name == self.application_name
        self._select_positions = select(pt.c.view_group, pt.c.notification_id).where(mine)
        self._lock_positions = select(pt.c.view_group).where(mine).order_by(pt.c.view_group).with_for_update()
        self._advance_position = (
            update(pt).where(mine, pt.c.view_group.in_(bindparam("groups", expanding=True)),
                             pt.c.notification_id == bindparam("old"))
            .values(notification_id=bindparam("new"))
        )
        create_all(self.engine, metadata)
        self._ensure_positions()
        # What this store's own last batch left, valid while the positions stand where it left them: every
        # batch first moves them from there (compare-and-set), so a batch that finds them moved by anyone
        # else (another applier, a rebuild, a reset) rolls back and everything below is forgotten.
        self._claimed: int | None = None
        self._chain_heads = chain.Heads()
        self._references: dict[str | None, Reference] = {}
        self._headers_kept: dict[str, ProjectHeader] = {}
        self.kept_snapshots: KeptSnapshots = KeptSnapshots()

    def forget_applied(self) -> None:
        """Forget what the last batch left (positions, chain heads, reference classes, headers): read them again."""
        self._claimed = None
        self._chain_heads = chain.Heads()
        self._references = {}
        self._headers_kept = {}

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()

    # ------------------------------------------------------------ positions

    def _ensure_positions(self) -> None:
        """One position row per group (0 before any event); carries the chain's over from the old table."""
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(self.database.lock_key("schema"))))
            have = {g for (g,) in conn.execute(
                select(positions_table.c.view_group).where(positions_table.c.application_name == self.application_name)
            )}
            legacy = self._legacy_positions(conn)
            for group in GROUP_TABLES:
                if group not in have:
                    conn.execute(insert(positions_table).values(
                        view_group=group, application_name=self.application_name,
                        notification_id=legacy.get(group, 0) if group in KEPT_GROUPS else 0,
                    ))

    def _legacy_positions(self, conn: Connection) -> dict[str, int]:
        if "view_tracking" not in inspect(conn).get_table_names():
            return {}
        rows = conn.execute(text(
            "SELECT view_group, MAX(notification_id) FROM view_tracking WHERE application_name = :app "
            "GROUP BY view_group"), {"app": self.application_name}).all()
        return {str(g): int(n) for g, n in rows}

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.engine.begin() as conn:
            for group, position in self.positions(conn).items():
                self._advance(conn, [group], position, tracking.notification_id)

    def _advance(self, conn: Connection, groups: list[str], old: int, new: int) -> None:
        """Move these groups from `old` to `new` (compare-and-set): all of them, or raise _Raced."""
        moved = conn.execute(self._advance_position, {"groups": groups, "old": old, "new": new})
        if moved.rowcount != len(groups):
            raise _Raced(groups)

    def set_positions(self, conn: Connection, groups: Iterable[str], position: int) -> None:
        for group in groups:
            conn.execute(
                update(positions_table)
                .where(positions_table.c.view_group == group,
                       positions_table.c.application_name == self.application_name)
                .values(notification_id=position)
            )

    def positions(self, conn: Connection | None = None) -> dict[str, int]:
        """Each group's last applied position (0 before any)."""
        stmt = self._select_positions
        if conn is None:
            with self.reader.connect() as c:
                rows = c.execute(stmt).all()
        else:
            rows = conn.execute(stmt).all()
        found = {str(g): int(n) for g, n in rows}
        return {g: found.get(g, 0) for g in GROUP_TABLES}

    def max_tracking_id(self, application_name: str) -> int | None:
        """The position every group has reached (the views include all events up to it)."""
        reached = min(self.positions().values())
        return reached or None

    # ------------------------------------------------------------ versions

    def rebuildable_groups(self) -> tuple[str, ...]:
        """The groups a rebuild makes anew: all but the chain, whose links are evidence made once, in order.

        Recomputing the links from the events as they are now would bless any edit made
        since; `delivery verify` recomputes them on the side and compares instead.
        """
        return tuple(g for g in GROUP_TABLES if g not in KEPT_GROUPS)

    def groups_needing_rebuild(self) -> list[str]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(versions_table.c.view_group, versions_table.c.version)).all()
        stored = {str(g): str(v) for g, v in rows}
        return [g for g in GROUP_TABLES if stored.get(g) != group_version(g)]

    def chain_form(self) -> int | None:
        """The chain form the links in the chain table were made in (None when no known revision made them)."""
        with self.reader.connect() as conn:
            stored = conn.execute(select(versions_table.c.version)
                                  .where(versions_table.c.view_group == "chain")).scalar()
        for revision, form in CHAIN_FORMS.items():
            if stored == group_version("chain", revision):
                return form
        return None

    def record_versions(self, conn: Connection, groups: Iterable[str]) -> None:
        for group in groups:
            conn.execute(delete(versions_table).where(versions_table.c.view_group == group))
            conn.execute(insert(versions_table).values(view_group=group, version=group_version(group)))

    def reset(self, groups: Iterable[str]) -> None:
        """Empty these groups' tables and positions, and record their current version."""
        groups = list(groups)
        with self.engine.begin() as conn:
            self.lock_groups(conn)
            for group in groups:
                for table in GROUP_TABLES[group]:
                    conn.execute(delete(table))
            self.set_positions(conn, groups, 0)
            self.record_versions(conn, groups)
        self.forget_applied()

    def drop_legacy(self, conn: Connection) -> None:
        present = set(inspect(conn).get_table_names())
        for name in LEGACY_TABLES:
            if name in present:
                conn.execute(text(f"DROP TABLE {self.quote(name)}"))

    def quote(self, name: str) -> str:
        preparer = self.engine.dialect.identifier_preparer
        if self.database.schema and self.dialect == "postgresql":
            return f"{preparer.quote(self.database.schema)}.{preparer.quote(name)}"
        return str(preparer.quote(name))

    # ------------------------------------------------------------- writing

    def lock_groups(self, conn: Connection) -> None:
        """Serialise appliers: two never fold the same events from the same state.

        SQLite's BEGIN IMMEDIATE already holds the write lock; PostgreSQL locks the
        groups' position rows until the transaction ends.
        """
        if self.dialect != "sqlite":
            conn.execute(self._lock_positions)

    def apply(self, batch: Sequence[tuple[Any, Tracking]]) -> int:
        return self.apply_batch(batch).count

    def apply_batch(self, batch: Sequence[tuple[Any, Tracking]], *, notify: bool = False) -> Applied:
        """Apply a batch of (event, tracking) in store order to every group behind it; one transaction.

        Returns what was applied (count 0 when another applier got there first).
        Raises ApplyFailed, naming the positions, when an event cannot be applied.
        """
        result = Applied()
        if not batch:
            return result
        last = batch[-1][1].notification_id
        claimed = self._claimed
        try:
            with self.engine.begin() as conn:
                if claimed is not None and claimed < batch[0][1].notification_id:
                    # Where this store's last batch left every group: move them on first (compare-and-set, which
                    # also locks them), so nothing needs reading; moved by someone else: roll back, read again.
                    self._advance(conn, list(GROUP_TABLES), claimed, last)
                    positions = dict.fromkeys(GROUP_TABLES, claimed)
                else:
                    claimed = None
                    self.forget_applied()  # kept for positions that are not these: read everything
                    self.lock_groups(conn)
                    positions = self.positions(conn)
                behind: dict[int, list[str]] = {}
                for group, position in positions.items():
                    todo = [(e, t) for e, t in batch if t.notification_id > position]
                    if not todo:
                        continue
                    try:
                        if group == "projects":
                            result.versions = self.apply_projects(conn, self.live, [e for e, _ in todo])
                        elif group == "chain":
                            chain.apply_chain(conn, chain_table, todo, self._chain_heads)
                        else:
                            self.apply_audit(conn, self.live, todo)
                    except (IntegrityError, KeyError, AssertionError, ValueError, TypeError, AttributeError) as exc:
                        raise ApplyFailed(todo[0][1].notification_id, last, group, exc) from exc
                    behind.setdefault(position, []).append(group)
                    result.count = max(result.count, len(todo))
                if claimed is None:
                    for old, groups in behind.items():
                        self._advance(conn, groups, old, last)
                result.position = last
                if notify and self.dialect == "postgresql" and result.count:
                    conn.execute(select(func.pg_notify(self.views_channel, announce(last, result.versions))))
        except _Raced:
            self.forget_applied()
            return Applied()
        except BaseException:
            self.forget_applied()  # rolled back: what was kept in memory for this batch is not stored
            raise
        every_group_moved = claimed is not None or sum(len(g) for g in behind.values()) == len(GROUP_TABLES)
        self._claimed = last if every_group_moved else None
        if self._claimed is None:
            self.forget_applied()
        return result

    def apply_projects(self, conn: Connection, tables: ViewTables, events: Sequence[Any]) -> dict[str, int]:
        """Fold events into the stored rows they touch; returns each touched project's new version."""
        by_project: dict[str, list[Any]] = {}
        for e in events:
            by_project.setdefault(str(e.originator_id), []).append(e)
        live = tables is self.live
        kept_headers = self._headers_kept if live else {}
        headers = {pid: h for pid in by_project if (h := kept_headers.pop(pid, None)) is not None}
        if len(headers) < len(by_project):
            headers.update(self._headers(conn, tables, [pid for pid in by_project if pid not in headers]))
        before = {pid: reference.contribution(h) for pid, h in headers.items()}
        wanted = {pid: sorted({k for e in evs for k in referenced(e)}) for pid, evs in by_project.items()}
        found = self._fetch(conn, tables, [(pid, *k) for pid, keys in wanted.items() for k in keys])
        states: dict[str, ProjectState] = {}
        for pid, project_events in by_project.items():
            rows = Rows(load=partial(self._fetch_one, conn, tables, pid))
            rows.preload(found.get(pid, {}), wanted[pid])
            state = ProjectState(headers.get(pid), rows)
            for e in project_events:
                expected = 1 if state.header is None else state.header.version + 1
                if e.originator_version != expected:
                    # A version seen before, or one skipped: the store is not what the views were built from.
                    raise ValueError(f"project {pid} v{e.originator_version} follows v{expected - 1} in the views")
                apply(state, e)
            states[pid] = state
        self.write_rows(conn, tables, states.values())
        for state in states.values():
            if state.milestones_moved:
                state.h.next_milestone = self._next_milestone(conn, tables, state.h.id)
                state.h.last_milestone = self._last_milestone(conn, tables, state.h.id)
        changes = [reference.difference(before.get(pid, {}), reference.contribution(state.header))
                   for pid, state in states.items()]
        reference.add(conn, tables, changes)
        kept = self._references if live else {}
        for change in changes:
            for template, _stage, _slip in change:
                kept.pop(template, None)  # its class changed: read again below
        self.forecast_launches(conn, tables, [s.h for s in states.values() if s.header is not None], kept)
        self.write_headers(conn, tables, states.values())
        if live:
            # Folded in place: the headers as this batch leaves them (forgotten if it does not commit).
            for pid, state in states.items():
                if state.header is not None:
                    kept_headers[pid] = state.header
            while len(kept_headers) > KEPT_HEADERS:
                del kept_headers[next(iter(kept_headers))]
        return {pid: state.h.version for pid, state in states.items()}

    def write_rows(self, conn: Connection, tables: ViewTables, states: Iterable[ProjectState]) -> None:
        values = [
            row_values(state.h.id, k, seq, row) for state in states for k, seq, row in state.rows.changed()
        ]
        for start in range(0, len(values), CHUNK):
            conn.execute(tables.upsert_rows, values[start:start + CHUNK])

    def write_headers(self, conn: Connection, tables: ViewTables, states: Iterable[ProjectState]) -> None:
        values = [header_values(s) for s in states if s.header is not None]
        for start in range(0, len(values), CHUNK):
            conn.execute(tables.upsert_portfolio, values[start:start + CHUNK])

    def apply_audit(self, conn: Connection, tables: ViewTables, batch: Sequence[tuple[Any, Tracking]]) -> None:
        values = [audit_values(e, t.notification_id) for e, t in batch]
        for start in range(0, len(values), CHUNK):
            conn.execute(tables.insert_audit, values[start:start + CHUNK])

    def _headers(self, conn: Connection, tables: ViewTables, pids: list[str]) -> dict[str, ProjectHeader]:
        found: dict[str, ProjectHeader] = {}
        for start in range(0, len(pids), CHUNK):
            for pid, doc in conn.execute(tables.select_headers, {"ids": pids[start:start + CHUNK]}):
                found[pid] = ProjectHeader.model_validate_json(doc)
        return found

    def _fetch(
        self, conn: Connection, tables: ViewTables, keys: list[tuple[str, str, str]],
    ) -> dict[str, dict[Key, Any]]:
        found: dict[str, dict[Key, Any]] = {}
        for start in range(0, len(keys), CHUNK):
            chunk: Any = keys[start:start + CHUNK]
            if tables.rows_by_json:
                chunk = json.dumps(chunk)
            for pid, k, key, seq, doc in conn.execute(tables.select_rows, {"keys": chunk}):
                found.setdefault(pid, {})[(k, key)] = (seq, ROW_TYPES[k].model_validate_json(doc))
        return found

    def _fetch_one(self, conn: Connection, tables: ViewTables, pid: str, keys: list[Key]) -> dict[Key, Any]:
        return self._fetch(conn, tables, [(pid, *k) for k in keys]).get(pid, {})

    def _next_milestone(self, conn: Connection, tables: ViewTables, pid: str) -> NextMilestone | None:
        doc = conn.execute(tables.select_next_milestone, {"pid": pid}).scalar()
        return None if doc is None else next_of(MilestoneRecord.model_validate_json(doc))

    def _last_milestone(self, conn: Connection, tables: ViewTables, pid: str) -> MilestoneRef | None:
        doc = conn.execute(tables.select_last_milestone, {"pid": pid}).scalar()
        return None if doc is None else ref_of(MilestoneRecord.model_validate_json(doc))

    def forecast_launches(
        self, conn: Connection, tables: ViewTables, headers: Iterable[ProjectHeader],
        classes: dict[str | None, Reference] | None = None,
    ) -> None:
        """Each header's launch P80 against its template's reference class as stored now (one read per template,
        none for a class in `classes`, which is filled as classes are read)."""
        classes = {} if classes is None else classes
        for h in headers:
            if h.template not in classes:
                classes[h.template] = reference.load(conn, tables, h.template)
            h.launch_p80_on = launch_p80(h, h.last_milestone, classes[h.template].without(h))

    def launch_forecasts(self, conn: Connection, tables: ViewTables, after: str = "",
                         classes: dict[str | None, Reference] | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """The launch P80 of the next CHUNK projects after `after` (by id) against the whole reference class (a
        rebuild's), as the portfolio's new values (`write_launch_forecasts`); with the last one's id, or None
        once no project is left after it. Reads only: any connection that sees the tables will do."""
        p = tables.portfolio
        docs = conn.execute(select(p.c.project_id, p.c.doc).where(p.c.project_id > after)
                            .order_by(p.c.project_id).limit(CHUNK)).all()
        if not docs:
            return [], None
        headers = [ProjectHeader.model_validate_json(doc) for _pid, doc in docs]
        self.forecast_launches(conn, tables, headers, classes)
        values = [{"pid": h.id, "late": launch_days_late(h), "doc": h.model_dump_json()} for h in headers]
        return values, str(docs[-1].project_id) if len(docs) == CHUNK else None  # a short chunk is the last one

    def write_launch_forecasts(self, conn: Connection, tables: ViewTables, values: list[dict[str, Any]]) -> None:
        if not values:
            return
        p = tables.portfolio
        conn.execute(update(p).where(p.c.project_id == bindparam("pid")).values(
            launch_p80_days_late=bindparam("late"), doc=bindparam("doc")), values)

    # ------------------------------------------------------------- reading

    def load_state(self, project_id: str, conn: Connection | None = None) -> ProjectState | None:
        """One project's complete view state as stored (None when the views have not seen it).

        Header and rows are read in one transaction that sees one moment (SQLite's read
        transaction; REPEATABLE READ on PostgreSQL).
        """
        if conn is None:
            with self.reader.connect() as c:
                if self.dialect == "postgresql":
                    c = c.execution_options(isolation_level="REPEATABLE READ")
                with c.begin():
                    return self.load_state(project_id, c)
        p, r = portfolio_table, rows_table
        doc = conn.execute(select(p.c.doc).where(p.c.project_id == project_id)).scalar()
        if doc is None:
            return None
        by_kind: dict[str, list[tuple[str, int, str]]] = {}
        for k, key, seq, row_doc in conn.execute(
            select(r.c.kind, r.c.key, r.c.seq, r.c.doc).where(r.c.project_id == project_id)
        ):
            by_kind.setdefault(k, []).append((key, seq, row_doc))
        rows = Rows()
        for k, found in by_kind.items():
            # One decoding pass per kind: the rows' JSON joined into one array.
            models = ROW_LISTS[k].validate_json("[" + ",".join(d for _, _, d in found) + "]")
            for (key, seq, _), model in zip(found, models, strict=True):
                rows.add(k, key, seq, model)
        state = ProjectState(ProjectHeader.model_validate_json(doc), rows)
        state.clean()
        return state

    def header(self, project_id: str, conn: Connection) -> ProjectHeader | None:
        """A project's current header (None when the views have not seen it)."""
        p = portfolio_table
        doc = conn.execute(select(p.c.doc).where(p.c.project_id == project_id)).scalar()
        return None if doc is None else ProjectHeader.model_validate_json(doc)

    def snapshot_at_or_before(self, project_id: str, version: int) -> tuple[int, ProjectState] | None:
        s = snapshots_table
        with self.reader.connect() as conn:
            found = conn.execute(
                select(func.max(s.c.version)).where(s.c.project_id == project_id, s.c.version <= version)
            ).scalar()
            if found is None:
                return None
            parts = self.snapshot_parts(project_id, int(found), conn)
        return None if parts is None else (int(found), ProjectState.from_parts(parts))

    def as_of_cut(
        self, project_id: str, *, recorded_by: datetime | None, position: int | None,
    ) -> tuple[int | None, int | None]:
        """The project's last version recorded up to the cut, and its nearest view snapshot's (one statement).

        A project's events are in version order both by position and by time (Project.trigger_event), so
        the cut is the last audit row before it along one index: one lookup, whatever the project's length.
        """
        statement = _as_of_cut_statement(position is not None, recorded_by is not None)
        with self.reader.connect() as conn:
            row = conn.execute(statement, {"project": project_id, "pid": project_id, "position": position,
                                           "recorded_by": recorded_by}).first()
        if row is None:
            return None, None
        version, snapshot = row
        return int(version), (int(snapshot) if snapshot is not None else None)

    def snapshot_parts(self, project_id: str, version: int, conn: Connection | None = None) -> SnapshotParts | None:
        """A view snapshot split into its rows, kept in memory (history does not change: nor do its snapshots)."""
        parts = self.kept_snapshots.get((project_id, version))
        if parts is not None:
            return parts
        s = snapshots_table
        stmt = select(s.c.doc).where(s.c.project_id == project_id, s.c.version == version)
        if conn is None:
            with self.reader.connect() as own:
                doc = own.execute(stmt).scalar()
        else:
            doc = conn.execute(stmt).scalar()
        if doc is None:
            return None
        parts = parse_snapshot(doc)
        self.kept_snapshots.put((project_id, version), parts, len(doc))
        return parts

    def latest_snapshot_version(self, project_id: str) -> int:
        s = snapshots_table
        with self.reader.connect() as conn:
            found = conn.execute(select(func.max(s.c.version)).where(s.c.project_id == project_id)).scalar()
        return int(found or 0)

    def save_snapshots(self, values: list[dict[str, Any]]) -> None:
        """Keep view snapshots an *as of* fold passed (ignored when a rebuild or another reader won)."""
        if not values:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(self.live.upsert_snapshots, values)
        except (OperationalError, IntegrityError, ProgrammingError):
            log.debug("view snapshots not saved (busy or being rebuilt)", exc_info=True)


# ------------------------------------------------------------------ rows


ROW_LISTS: dict[str, TypeAdapter[list[Any]]] = {k: TypeAdapter(list[t]) for k, t in ROW_TYPES.items()}  # type: ignore[valid-type]


def referenced(event: Any) -> list[Key]:
    """The rows an event names by id, fetched ahead of folding it."""
    keys: list[Key] = []
    d = event.__dict__
    for attr, kind_ in _REFERENCES:
        value = d.get(attr)
        if isinstance(value, str) and value:
            keys.append((kind_, value))
    if kind(event) == "BaselineFrozen":
        keys.extend(("scope", i["id"]) for i in event.items)
    keys.extend(("scope", i) for i in d.get("scope_item_ids") or ())
    return keys


_REFERENCES = (
    ("item_id", "scope"), ("scope_item_id", "scope"), ("milestone_id", "milestone"),
    ("criterion_id", "criterion"), ("change_request_id", "change"), ("release_id", "release"),
    ("proposal_id", "proposal"),
)


def row_values(project_id: str, key: Key, seq: int, row: Any, doc: str | None = None) -> dict[str, Any]:
    """A view row as stored; `doc`, when given, is the row's JSON already made."""
    open_due = row.due_on if key[0] == "milestone" and row.completed_on is None else None
    return {"project_id": project_id, "kind": key[0], "key": key[1], "seq": seq, "due_open": open_due,
            "doc": row.model_dump_json() if doc is None else doc}


def header_values(state: ProjectState) -> dict[str, Any]:
    return {**portfolio_columns(state), "doc": state.h.model_dump_json()}


# The audit table's columns, in order (`audit_row`).
AUDIT_COLUMNS = ("position", "project_id", "version", "type", "actor", "recorded_at")


def audit_row(e: Any, position: int, project_id: str | UUID) -> tuple[Any, ...]:
    """An audit row as a tuple in AUDIT_COLUMNS' order (a rebuild writes ~one per event, with the project's UUID:
    PostgreSQL's binary COPY takes it as it is)."""
    return position, project_id, e.originator_version, type(e).__name__, getattr(e, "actor", ""), e.timestamp


def audit_values(e: Any, position: int, project_id: str | None = None) -> dict[str, Any]:
    """An audit row: where and when, by whom; its data stays in the event the position names (`audit_data`)."""
    return dict(zip(AUDIT_COLUMNS, audit_row(e, position, project_id or str(e.originator_id)), strict=True))


def audit_data(event: Any) -> dict[str, Any]:
    """An event's own fields as JSON values, in key order: what the audit log shows of it (for an event
    missing from the store or that cannot be decoded, what is wrong with it)."""
    if event is None:
        return {"unreadable": "the event is not in the store"}
    if isinstance(event, BaseException):
        return {"unreadable": f"{type(event).__name__}: {event}"}
    fields = event.__dict__
    return {k: jsonable(fields[k]) for k in sorted(fields) if k not in ENVELOPE}


def next_of(m: MilestoneRecord) -> NextMilestone:
    return NextMilestone(id=m.id, title=m.title, stage=m.stage, due_on=m.due_on)


def ref_of(m: MilestoneRecord) -> MilestoneRef:
    return MilestoneRef(id=m.id, stage=m.stage, due_on=m.due_on, original_due_on=m.original_due_on)


def next_milestone_in_memory(state: ProjectState) -> NextMilestone | None:
    """The open milestone due first (ties by creation), from a complete state."""
    best: tuple[Any, int, MilestoneRecord] | None = None
    for (k, _key), seq, row in state.rows.items():
        if k == "milestone" and row.completed_on is None:  # type: ignore[attr-defined]
            m: MilestoneRecord = row  # type: ignore[assignment]
            if best is None or (m.due_on, seq) < (best[0], best[1]):
                best = (m.due_on, seq, m)
    return None if best is None else next_of(best[2])


def last_milestone_in_memory(state: ProjectState) -> MilestoneRef | None:
    """The open milestone due last (ties: the latest created), from a complete state."""
    best: tuple[Any, int, MilestoneRecord] | None = None
    for (k, _key), seq, row in state.rows.items():
        if k == "milestone" and row.completed_on is None:  # type: ignore[attr-defined]
            m: MilestoneRecord = row  # type: ignore[assignment]
            if best is None or (m.due_on, seq) > (best[0], best[1]):
                best = (m.due_on, seq, m)
    return None if best is None else ref_of(best[2])


def announce(position: int, versions: dict[str, int]) -> str:
    """A NOTIFY payload: the position, then each project touched with its version now (`id:version`; '*' when
    too many to list)."""
    listed = " ".join(f"{pid}:{version}" for pid, version in sorted(versions.items()))
    return f"{position} {listed if len(listed) < 7000 else '*'}"
