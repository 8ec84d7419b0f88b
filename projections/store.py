"""Where the views live: SQLAlchemy tables written together with their tracking records.

Views are kept in three groups, each with its own tracking position and version:
`projects` (the per-project reducer states and the portfolio table built from
them), `audit` (one row per event) and `chain` (each event's hash links,
projections/chain.py). A batch of events is applied to a group
and its tracking record inserted in one transaction; inserting a position twice
violates the tracking table's primary key, so a batch is never applied twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking, TrackingRecorder
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from delivery.settings import Database
from projections import chain
from projections.events import data, jsonable, kind
from projections.reducers import STATE_TYPES, fold
from projections.views import portfolio_columns

metadata = MetaData()

tracking_table = Table(
    "view_tracking", metadata,
    Column("view_group", String(32), primary_key=True),
    Column("application_name", String(64), primary_key=True),
    Column("notification_id", BigInteger, primary_key=True),
)

versions_table = Table(
    "view_versions", metadata,
    Column("view_group", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
)

project_views_table = Table(
    "project_views", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("view", String(32), primary_key=True),
    Column("doc", Text, nullable=False),
)

portfolio_table = Table(
    "portfolio", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("client", String(120), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("stage_index", Integer, nullable=False),
    Column("stage_entered_at", DateTime(timezone=True), nullable=False),
    Column("next_milestone_id", String(16)),
    Column("next_milestone_title", String(200)),
    Column("next_milestone_stage", String(32)),
    Column("next_milestone_due_on", Date),
    Column("next_milestone_stage_index", Integer),
    Column("open_criteria", Integer, nullable=False),
    Column("rejected_criteria", Integer, nullable=False),
    Column("pending_change_requests", Integer, nullable=False),
    Column("drift_pct", Float, nullable=False),
    Column("release_percent", Integer),
    Column("release_state", String(16)),
    Column("launched", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_portfolio_name", "name", "project_id"),
    Index("ix_portfolio_stage", "stage", "name", "project_id"),
    Index("ix_portfolio_client", "client", "name", "project_id"),
    Index("ix_portfolio_due", "next_milestone_due_on"),
)

audit_table = Table(
    "audit_log", metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("project_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("data", Text, nullable=False),
    Index("ix_audit_project", "project_id", "position"),
)

chain_table = chain.define_table(metadata)

# Bump a revision when a reducer's logic changes without changing its state's shape;
# shape changes are caught by the schema hash. A changed version rebuilds the group on start.
REVISIONS = {"projects": 1, "audit": 1, "chain": 1}
GROUP_TABLES: dict[str, tuple[Table, ...]] = {
    "projects": (project_views_table, portfolio_table),
    "audit": (audit_table,),
    "chain": (chain_table,),
}
# Never emptied by a rebuild (see ViewStore.groups); a changed version still resets it.
KEPT_GROUPS = frozenset({"chain"})


def group_version(group: str) -> str:
    shapes: dict[str, Any] = {"revision": REVISIONS[group]}
    if group == "projects":
        shapes["states"] = {name: t.model_json_schema() for name, t in STATE_TYPES.items()}
    shapes["tables"] = [
        [(c.name, str(c.type)) for c in table.columns] for table in GROUP_TABLES[group]
    ]
    return hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16]


def make_engine(database: Database, *, writer: bool = True) -> Engine:
    """An engine on the views' database; on SQLite a writer takes the write lock when it begins."""
    if database.kind == "sqlite":
        engine = create_engine(database.sqlalchemy_url(), connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions (so BEGIN covers reads too).
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Writers lock up front (no deadlock upgrading a read lock); readers never wait (WAL).
            conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")

        return engine
    options: dict[str, Any] = {}
    if database.schema:
        options["schema_translate_map"] = {None: database.schema}
    return create_engine(
        database.sqlalchemy_url(), pool_size=5, max_overflow=5, pool_pre_ping=True,
        execution_options=options,
    )


class ViewStore(TrackingRecorder):
    """The views' tables and their tracking records, on the events' database."""

    def __init__(self, database: Database, application_name: str = "delivery") -> None:
        self.database = database
        self.application_name = application_name
        self.engine = make_engine(database)
        # Queries read through their own engine so, on SQLite, they never queue behind a writer.
        self.reader = make_engine(database, writer=False) if database.kind == "sqlite" else self.engine
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        self.reader.dispose()

    # ------------------------------------------------------------ tracking

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.engine.begin() as conn:
            for group in GROUP_TABLES:
                self._track(conn, group, tracking)

    def _track(self, conn: Connection, group: str, tracking: Tracking) -> None:
        conn.execute(insert(tracking_table).values(
            view_group=group, application_name=tracking.application_name,
            notification_id=tracking.notification_id,
        ))

    def positions(self, conn: Connection | None = None) -> dict[str, int]:
        """Each group's last applied position (0 before any)."""
        stmt = (
            select(tracking_table.c.view_group, func.max(tracking_table.c.notification_id))
            .where(tracking_table.c.application_name == self.application_name)
            .group_by(tracking_table.c.view_group)
        )
        if conn is None:
            with self.reader.connect() as c:
                rows = c.execute(stmt).all()
        else:
            rows = conn.execute(stmt).all()
        found = {g: int(n) for g, n in rows}
        return {g: found.get(g, 0) for g in GROUP_TABLES}

    def max_tracking_id(self, application_name: str) -> int | None:
        """The position every group has reached (the views include all events up to it)."""
        reached = min(self.positions().values())
        return reached or None

    # ------------------------------------------------------------ versions

    def groups(self) -> tuple[str, ...]:
        """The groups a rebuild empties: all but the chain, whose links are evidence made once, in order.

        Recomputing the links from the events as they are now would bless any edit made
        since; `delivery verify` recomputes them on the side and compares instead.
        """
        return tuple(g for g in GROUP_TABLES if g not in KEPT_GROUPS)

    def groups_needing_rebuild(self) -> list[str]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(versions_table.c.view_group, versions_table.c.version)).all()
        stored = {str(g): str(v) for g, v in rows}
        return [g for g in GROUP_TABLES if stored.get(g) != group_version(g)]

    def reset(self, groups: Iterable[str]) -> None:
        """Empty these groups' tables and tracking, and record their current version."""
        with self.engine.begin() as conn:
            self._lock_groups(conn)
            for group in groups:
                for table in GROUP_TABLES[group]:
                    conn.execute(delete(table))
                conn.execute(delete(tracking_table).where(tracking_table.c.view_group == group))
                conn.execute(delete(versions_table).where(versions_table.c.view_group == group))
                conn.execute(insert(versions_table).values(view_group=group, version=group_version(group)))

    # ------------------------------------------------------------- writing

    def apply(self, batch: Sequence[tuple[Any, Tracking]]) -> int:
        """Apply a batch of (event, tracking) in order to every group behind it; one transaction.

        Returns how many events were applied to the group furthest behind, or 0
        when another process applied the same batch first.
        """
        if not batch:
            return 0
        last = batch[-1][1]
        try:
            with self.engine.begin() as conn:
                self._lock_groups(conn)
                positions = self.positions(conn)
                applied = 0
                for group, position in positions.items():
                    todo = [(e, t) for e, t in batch if t.notification_id > position]
                    if not todo:
                        continue
                    if group == "projects":
                        self._apply_projects(conn, [e for e, _ in todo])
                    elif group == "chain":
                        chain.apply_chain(conn, chain_table, todo)
                    else:
                        self._apply_audit(conn, todo)
                    self._track(conn, group, last)
                    applied = max(applied, len(todo))
                return applied
        except IntegrityError:
            return 0  # another process recorded this position first: nothing applied twice

    def _lock_groups(self, conn: Connection) -> None:
        """Serialise appliers: two workers never fold the same events from the same state.

        SQLite's BEGIN IMMEDIATE already holds the write lock; PostgreSQL locks the
        groups' version rows until the transaction ends.
        """
        if self.engine.dialect.name != "sqlite":
            conn.execute(select(versions_table.c.view_group).order_by(versions_table.c.view_group).with_for_update())

    def _apply_projects(self, conn: Connection, events: list[Any]) -> None:
        by_project: dict[str, list[Any]] = {}
        for e in events:
            by_project.setdefault(str(e.originator_id), []).append(e)
        states = self._load_states(conn, list(by_project))
        for project_id, project_events in by_project.items():
            new = fold(project_events, states.get(project_id))
            conn.execute(delete(project_views_table).where(project_views_table.c.project_id == project_id))
            conn.execute(insert(project_views_table), [
                {"project_id": project_id, "view": view, "doc": state.model_dump_json()}
                for view, state in new.items()
            ])
            conn.execute(delete(portfolio_table).where(portfolio_table.c.project_id == project_id))
            conn.execute(insert(portfolio_table).values(**portfolio_columns(new)))

    def _apply_audit(self, conn: Connection, batch: list[tuple[Any, Tracking]]) -> None:
        conn.execute(insert(audit_table), [
            {
                "position": t.notification_id, "project_id": str(e.originator_id),
                "version": e.originator_version, "type": kind(e),
                "actor": getattr(e, "actor", ""), "recorded_at": e.timestamp,
                "data": json.dumps(jsonable(data(e)), ensure_ascii=False, sort_keys=True),
            }
            for e, t in batch
        ])

    # ------------------------------------------------------------- reading

    def _load_states(self, conn: Connection, project_ids: list[str]) -> dict[str, dict[str, Any]]:
        states: dict[str, dict[str, Any]] = {}
        for chunk_start in range(0, len(project_ids), 500):
            chunk = project_ids[chunk_start:chunk_start + 500]
            rows = conn.execute(
                select(project_views_table).where(project_views_table.c.project_id.in_(chunk))
            ).all()
            for row in rows:
                states.setdefault(row.project_id, {})[row.view] = (
                    STATE_TYPES[row.view].model_validate_json(row.doc)
                )
        return states

    def load_states(self, project_id: str, views: Iterable[str] | None = None) -> dict[str, Any]:
        """The stored reducer states of one project (empty when the views have not seen it)."""
        stmt = select(project_views_table).where(project_views_table.c.project_id == project_id)
        if views is not None:
            stmt = stmt.where(project_views_table.c.view.in_(list(views)))
        with self.reader.connect() as conn:
            rows = conn.execute(stmt).all()
        return {row.view: STATE_TYPES[row.view].model_validate_json(row.doc) for row in rows}
