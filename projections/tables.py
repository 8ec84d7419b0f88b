"""The views' tables, and the statements that write them, built once per set of tables.

A `ViewTables` names one generation of the rebuildable tables: the live ones, or
the shadow copies a rebuild fills before it swaps them in (projections/rebuild.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

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
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.types import TupleType, TypeDecorator, TypeEngine

from delivery.settings import lock_key
from projections import chain

log = logging.getLogger(__name__)

metadata = MetaData()

# One row per (view group, application): the position the group has reached.
# Moved forward by compare-and-set, so two appliers never apply the same batch.
positions_table = Table(
    "view_positions", metadata,
    Column("view_group", String(32), primary_key=True),
    Column("application_name", String(64), primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
)

versions_table = Table(
    "view_versions", metadata,
    Column("view_group", String(32), primary_key=True),
    Column("version", String(64), nullable=False),
)


def _with_trigrams(ddl: Any, target: Any, bind: Connection | None, tables: Any = None, state: Any = None,
                   **_kw: Any) -> bool:
    return trigrams_available(bind)


def trigrams_available(conn: Connection | None) -> bool:
    """Whether PostgreSQL's pg_trgm is installed, installing it when this role may (else: no trigram index)."""
    if conn is None:
        return False
    present = "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"
    if conn.execute(text(present)).first() is not None:
        return True
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except DBAPIError:
        log.warning("pg_trgm is not available: the portfolio search scans instead of using a trigram index")
        return False
    return True


# The portfolio: one row per project, its columns queried and sorted by the database,
# and `doc`, the project's header (projections.models.ProjectHeader) the reducers keep.
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
    Column("milestones_planned", Integer, nullable=False),
    Column("warnings", Integer, nullable=False),
    # The P80 forecast of the last open milestone less its due date, in days (projections/forecast.py).
    Column("launch_p80_days_late", Integer),
    # The ISO 4217 code of the project's costs.
    Column("currency", String(3), nullable=False, server_default="CNY"),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("doc", Text, nullable=False),
    # Name and client lower-cased, for the case-insensitive substring search (projections/portfolio.py).
    Column("search", String(330), nullable=False, server_default=""),
    Index("ix_portfolio_name", "name", "project_id"),
    Index("ix_portfolio_stage", "stage", "name", "project_id"),
    Index("ix_portfolio_client", "client", "name", "project_id"),
    Index("ix_portfolio_due", "next_milestone_due_on"),
    # A trigram index answers `search LIKE '%term%'` on PostgreSQL (pg_trgm, see `trigrams_available`);
    # SQLite walks the name index and stops at the page's end (docs/views.md).
    Index("ix_portfolio_search_trgm", "search", postgresql_using="gin",
          postgresql_ops={"search": "gin_trgm_ops"}).ddl_if(dialect="postgresql", callable_=_with_trigrams),
)

# Every row of every project's views: (kind, key) within the project, the version that
# created it (`seq`, for order) and its JSON. `due_open` is an open milestone's due date,
# so the portfolio's next milestone is one index lookup.
rows_table = Table(
    "view_rows", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("due_open", Date),
    Column("doc", Text, nullable=False),
    Index("ix_view_rows_due", "project_id", "due_open", "seq"),
)

# A project's whole view state every SNAPSHOT_EVERY versions: *as of* starts from the nearest.
snapshots_table = Table(
    "view_snapshots", metadata,
    Column("project_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("doc", Text, nullable=False),
)

# The forecast's reference class (projections/reference.py): per template, stage and slip (days), how many
# milestones of the template's projects were completed that late; the row (template, "", 0) counts the projects
# that completed any. Small (templates x stages x distinct slips) and changed by addition, per event.
reference_table = Table(
    "reference_slips", metadata,
    Column("template", String(64), primary_key=True),
    Column("stage", String(32), primary_key=True),
    Column("slip_days", Integer, primary_key=True),
    Column("milestones", Integer, nullable=False),
)


class ProjectKey(TypeDecorator[str]):
    """A project's id (its UUID's text in Python) as the database holds a UUID most compactly: PostgreSQL's
    uuid, SQLite's 16 bytes. The audit log repeats it in the table and in each of its four indexes: as
    36 characters it was ~100 bytes of every event's ~350 there (docs/views.md)."""

    impl = String(36)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        if dialect.name == "sqlite":
            return dialect.type_descriptor(LargeBinary(16))
        return dialect.type_descriptor(String(36))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return (value if isinstance(value, UUID) else UUID(value)).bytes

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "sqlite":
            return None if value is None else str(value)
        return str(UUID(bytes=bytes(value)))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_microseconds(moment: datetime) -> int:
    """A moment as SQLite's audit log keeps it (`Moment`): microseconds since 1970 in UTC; a naive one is UTC."""
    return ((moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)) - EPOCH) // _MICROSECOND


class Moment(TypeDecorator[datetime]):
    """A moment: PostgreSQL's timestamptz; on SQLite an integer of microseconds since 1970 in UTC (7 bytes)
    rather than SQLAlchemy's 26 characters of text, which also dropped the offset of a moment not in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return epoch_microseconds(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None or dialect.name != "sqlite":
            return value  # type: ignore[no-any-return]
        return EPOCH + timedelta(microseconds=value)


# Keyed by (project, position) through a unique index, not a primary key: a rebuild loads the rows a project at a
# time (positions out of order) and builds the index afterwards, at about half the cost of keeping a key while
# loading. Every query names the project: no index leads with the position alone.
audit_table = Table(
    "audit_log", metadata,
    Column("position", BigInteger, nullable=False, autoincrement=False),
    Column("project_id", ProjectKey(), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("recorded_at", Moment(), nullable=False),
    Index("ix_audit_project", "project_id", "position", unique=True),
    # The *as of* cut: a project's last event recorded by a moment (projections.store.as_of_cut).
    Index("ix_audit_project_time", "project_id", "recorded_at", "version"),
    # The audit page's filters, each keyset-paged by position.
    Index("ix_audit_project_type", "project_id", "type", "position"),
    Index("ix_audit_project_actor", "project_id", "actor", "position"),
)

chain_table = chain.define_table(metadata)

SHADOW_SUFFIX = "_rebuild"




def key_columns(table: Table) -> list[str]:
    """The columns that name one row: the primary key's, or else the first unique index's (the audit log's
    project and position), for whatever compares or orders rows one by one (replay, backups)."""
    if table.primary_key.columns:
        return [c.name for c in table.primary_key.columns]
    unique = sorted((i for i in table.indexes if i.unique), key=lambda i: str(i.name))
    assert unique, f"{table.name} has no key"
    return [c.name for c in unique[0].columns]


def schema_key(engine: Engine) -> int:
    """The advisory lock key for creating tables in the engine's schema (the store's own)."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    return lock_key(schema, "schema")


def create_all(engine: Engine, tables: MetaData) -> None:
    """Create what is missing; several processes starting at once take turns (PostgreSQL advisory lock)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(schema_key(engine))))
        tables.create_all(conn)


def primary_key_name(table: Table) -> str:
    """The name PostgreSQL gives a table's unnamed primary key (and its index), as a fresh install has it."""
    return f"{table.name}_pkey"


def shadow(table: Table, into: MetaData) -> Table:
    """A copy of `table` under another name, with its primary key and no other index. The key is named as
    PostgreSQL names the live table's, suffixed: the swap renames it (without a name of its own, the swapped-in
    table kept the shadow's, `view_rows_rebuild_pkey`, and the next shadow took the next free one)."""
    columns = [c._copy() for c in table.columns]
    key = [c.name for c in table.primary_key.columns]
    constraints = [PrimaryKeyConstraint(*key, name=primary_key_name(table) + SHADOW_SUFFIX)] if key else []
    return Table(table.name + SHADOW_SUFFIX, into, *columns, *constraints)


def shadow_indexes(live: Table, copy: Table, taken: set[str] | None = None) -> list[Index]:
    """The live table's indexes made on its shadow copy under names of their own: PostgreSQL builds them
    before the swap and renames them in it. SQLite cannot rename an index: with `taken` (the database's
    index names), each is named as the live one is not, with or without the suffix, and keeps that name."""
    twins = []
    for index in sorted(live.indexes, key=lambda i: str(i.name)):
        name = base = str(index.name)
        if taken is None or base in taken:
            name = base + SHADOW_SUFFIX
        twin = Index(name, *[copy.c[c.name] for c in index.columns],
                     unique=index.unique, **index.dialect_kwargs)
        condition = index._ddl_if
        if condition is not None:
            twin.ddl_if(dialect=condition.dialect, callable_=condition.callable_, state=condition.state)
        twins.append(twin)
    return twins


class ViewTables:
    """One generation of the rebuildable tables and their statements, built once (compiled once, cached)."""

    def __init__(self, dialect: str, *, rebuilding: bool = False, schema: str | None = None) -> None:
        if rebuilding:
            own = MetaData()
            self.portfolio, self.rows, self.snapshots, self.audit, self.reference = (
                shadow(t, own) for t in (portfolio_table, rows_table, snapshots_table, audit_table, reference_table)
            )
        else:
            self.portfolio, self.rows, self.snapshots, self.audit, self.reference = (
                portfolio_table, rows_table, snapshots_table, audit_table, reference_table,
            )
        schema = schema if dialect == "postgresql" else None
        self.upsert_portfolio = upsert(self.portfolio, schema)
        self.upsert_rows = upsert(self.rows, schema)
        self.upsert_snapshots = upsert(self.snapshots, schema)
        self.insert_audit = self.audit.insert()
        self.add_reference = upsert(self.reference, schema, add=("milestones",))
        ref = self.reference
        self.select_reference = select(ref.c.stage, ref.c.slip_days, ref.c.milestones).where(
            ref.c.template == bindparam("template"), ref.c.milestones != 0,
        )
        p, r = self.portfolio, self.rows
        self.select_headers = select(p.c.project_id, p.c.doc).where(
            p.c.project_id.in_(bindparam("ids", expanding=True))
        )
        # Rows by (project, kind, key). PostgreSQL searches the primary key once per tuple of the IN list;
        # SQLite (3.40) scans the whole table for a row-value IN, so there the keys go in as one JSON array
        # and are joined to the primary key one by one (CROSS JOIN keeps the array the outer loop).
        self.rows_by_json = dialect == "sqlite"
        self.select_rows: TextClause | Select[Any]
        if self.rows_by_json:
            self.select_rows = text(
                f"SELECT r.project_id, r.kind, r.key, r.seq, r.doc FROM json_each(:keys) AS k "
                f"CROSS JOIN {r.name} AS r ON r.project_id = k.value ->> 0 AND r.kind = k.value ->> 1 "
                f"AND r.key = k.value ->> 2"
            )
        else:
            self.select_rows = select(r.c.project_id, r.c.kind, r.c.key, r.c.seq, r.c.doc).where(
                tuple_(r.c.project_id, r.c.kind, r.c.key).in_(
                    bindparam("keys", expanding=True, type_=TupleType(String(), String(), String()))
                )
            )
        self.select_next_milestone = (
            select(r.c.doc).where(r.c.project_id == bindparam("pid"), r.c.due_open.is_not(None))
            .order_by(r.c.due_open, r.c.seq).limit(1)
        )
        self.select_last_milestone = (
            select(r.c.doc).where(r.c.project_id == bindparam("pid"), r.c.due_open.is_not(None))
            .order_by(r.c.due_open.desc(), r.c.seq.desc()).limit(1)
        )

    @property
    def all(self) -> tuple[Table, ...]:
        return (self.portfolio, self.rows, self.snapshots, self.audit, self.reference)


def upsert(table: Table, schema: str | None, add: tuple[str, ...] = ()) -> TextClause:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE every other column, for executemany.

    Columns in `add` are added to what is stored (a counter) instead of replacing it.

    Written as text (the same on SQLite and PostgreSQL) with typed parameters: the dialects'
    own upsert constructs are not cached by SQLAlchemy, and compiling one per batch cost
    more than the batch.
    """
    keys = [c.name for c in table.primary_key.columns]
    columns = [c.name for c in table.columns]
    name = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
    sql = (
        f"INSERT INTO {name} AS stored ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
        + ", ".join(f"{c} = stored.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
                    for c in columns if c not in keys)
    )
    return text(sql).bindparams(*[bindparam(c, type_=table.c[c].type) for c in columns])
