"""Replay verification: rebuild every view in a scratch store from the events and compare with the live views.

The scratch store is a temporary SQLite file beside nothing (for a SQLite store) or
a temporary schema in the same PostgreSQL database; it is dropped afterwards.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eventsourcing.persistence import Tracking
from sqlalchemy import Table, select, text

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.integrity import stored_records
from projections.store import GROUP_TABLES, UNREADABLE, ApplyFailed, ViewStore, make_engine, snapshots_table
from projections.tables import key_columns

Progress = Callable[[int, int], None]
BATCH = 500
SHOWN = 50


@dataclass
class Difference:
    table: str
    key: dict[str, Any]
    column: str
    live: Any
    rebuilt: Any

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "key": self.key, "column": self.column, "live": self.live,
                "rebuilt": self.rebuilt}


@dataclass
class ReplayReport:
    position: int
    events: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)
    count: int = 0  # every difference, of which the first SHOWN are kept
    # The first event the views cannot be rebuilt past (a store edited out of order): where and why.
    broken: dict[str, Any] | None = None

    @property
    def same(self) -> bool:
        return self.count == 0 and self.broken is None

    def add(self, difference: Difference) -> None:
        self.count += 1
        if len(self.differences) < SHOWN:
            self.differences.append(difference)


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"] + [("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


@contextmanager
def scratch_store(database: Database) -> Iterator[ViewStore]:
    """An empty view store that disappears afterwards."""
    if database.kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="delivery-replay-") as folder:
            store = ViewStore(Database(f"sqlite:///{Path(folder) / 'views.sqlite3'}"))
            try:
                yield store
            finally:
                store.close()
        return
    schema = f"replay_{uuid.uuid4().hex[:12]}"
    admin = make_engine(Database(database.url.split("?", 1)[0]))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        store = ViewStore(Database(_with_schema(database.url, schema)))
        try:
            yield store
        finally:
            store.close()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _plain(value: Any, column: str) -> Any:
    if column == "doc" and isinstance(value, str):
        return json.loads(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _rows(store: ViewStore, table: Table) -> dict[tuple[Any, ...], dict[str, Any]]:
    keys = key_columns(table)
    with store.reader.connect() as conn:
        return {
            tuple(row[k] for k in keys): {c: _plain(v, c) for c, v in row.items()}
            for row in (r._mapping for r in conn.execute(select(table)))
        }


def compare(live: ViewStore, rebuilt: ViewStore, report: ReplayReport) -> None:
    """Every row of every view table, column by column."""
    for tables in GROUP_TABLES.values():
        for table in tables:
            if table is snapshots_table:
                continue  # made on demand by *as of* reads, not by applying events
            keys = key_columns(table)
            theirs, ours = _rows(live, table), _rows(rebuilt, table)
            report.rows[table.name] = len(ours)
            for key in sorted(set(theirs) | set(ours), key=str):
                named = dict(zip(keys, key, strict=True))
                a, b = theirs.get(key), ours.get(key)
                if a is None or b is None:
                    report.add(Difference(table.name, named, "*", a is not None, b is not None))
                    continue
                for column in a:
                    if a[column] != b[column]:
                        report.add(Difference(table.name, named, column, a[column], b[column]))


def replay_check(app: DeliveryApplication, live: ViewStore, progress: Progress | None = None) -> ReplayReport:
    """Rebuild every view from the events up to the live views' position and compare."""
    position = live.max_tracking_id(app.name) or 0
    report = ReplayReport(position=position)
    with scratch_store(live.database) as scratch:
        scratch.reset(GROUP_TABLES)
        batch: list[tuple[Any, Tracking]] = []
        versions: dict[str, int] = {}
        try:
            for record in stored_records(app, upto=position):
                event, report.broken = _read(app, record, versions)
                if report.broken is not None:
                    break
                batch.append((event, Tracking(app.name, record.id)))
                if len(batch) == BATCH:
                    report.events += scratch.apply(batch)
                    batch = []
                    if progress is not None:
                        progress(report.events, position)
            report.events += scratch.apply(batch)
        except ApplyFailed as exc:
            report.broken = {"problem": "unappliable", "position": exc.position, "project_id": None,
                             "version": None, "message": str(exc)}
        if progress is not None:
            progress(position, position)
        if report.broken is None:
            compare(live, scratch, report)
    return report


def _read(app: DeliveryApplication, record: Any, versions: dict[str, int]) -> tuple[Any, dict[str, Any] | None]:
    """The stored event decoded, or why the views cannot be rebuilt past it: named, never raised."""
    pid, version = str(record.originator_id), int(record.originator_version)
    expected = versions.get(pid, 0) + 1
    where = {"position": record.id, "project_id": pid, "version": version}
    if version != expected:
        return None, {"problem": "reordered", **where,
                      "message": f"position {record.id} holds project {pid} v{version} where that project's "
                                 f"next event is v{expected}: events were moved, deleted or inserted "
                                 "(`delivery verify` names what changed)"}
    try:
        event = app.mapper.to_domain_event(record)
    except UNREADABLE as exc:  # an edited topic or state: reported with its place
        return None, {"problem": "unreadable", **where,
                      "message": f"the event at position {record.id} (project {pid} v{version}) cannot be "
                                 f"read: {type(exc).__name__}: {exc}"}
    versions[pid] = version
    return event, None
