"""Backup and restore: the whole store in one file, with its positions, its links and who may read it.

Unlike an export (which renumbers positions and carries events only), a backup keeps
each event at its position (notification id), the chain table's links as they were
made, and the rows of the tables it is given (the API's hashed tokens, the pages'
share links, the Idempotency-Keys of recent commands), so a checkpoint signed
before the backup verifies on the restored store and a command retried with its
key after a restore is answered, not recorded again. A backup is JSON Lines:

    {"format": "delivery-backup/1", "position": P, "events": N, "head": "<store link at P>", "tables": {...}}
    {"event": [position, originator_id, originator_version, topic, state], "links": [project, store]}
    {"table": "api_tokens", "row": {...}}                                       each kept table's rows
    {"end": {"lines": <lines before this one>, "sha256": "<digest of their bytes>"}}

A restore reads the file twice: first to check it (the digest, every link recomputed
from the events, the header's counts), then to write it, all in one transaction, into
a store that has no events, links, tokens or share links. Views are then built from
the events; library snapshots and sessions are not kept (each is made again as it is
needed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import DateTime, Table, func, insert, inspect, select, text
from sqlalchemy.engine import Connection

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.errors import DeliveryError
from projections.chain import GENESIS, canonical, link
from projections.integrity import Verifier, events_table, stored_records
from projections.store import UNREADABLE, ViewStore, chain_table
from projections.tables import create_all, key_columns

FORMAT = "delivery-backup/1"
BATCH = 500

Progress = Callable[[int, int], None]


class BackupRefused(DeliveryError):
    """The store cannot be backed up (its chain does not verify) or the file cannot be restored."""

    code = "backup_refused"


def _present(conn: Connection, store: ViewStore, table: Table) -> bool:
    schema = store.database.schema if store.dialect == "postgresql" else None
    return bool(inspect(conn).has_table(table.name, schema=schema))


def _line(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _jsonable(value: Any) -> Any:
    """A kept row's value as JSON; times in UTC (SQLite hands them back without their zone), ids as text."""
    if isinstance(value, datetime):
        return clock.as_utc(value).isoformat()
    return str(value) if isinstance(value, UUID) else value


# ------------------------------------------------------------------ backup


def write_backup(
    app: DeliveryApplication, store: ViewStore, tables: Sequence[Table], out: IO[bytes],
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the store up to its chain's head; refused (nothing written) unless the chain verifies."""
    verifier = Verifier(app, store)
    verdict = verifier.store_chain()
    if not verdict.valid:
        bad = verdict.first_bad or {}
        raise BackupRefused(
            f"The store does not verify, so it is not backed up: {bad.get('problem')} at position "
            f"{bad.get('position')} (project {bad.get('project_id')} v{bad.get('version')}): {bad.get('message')}",
            {key: bad.get(key) for key in ("problem", "position", "project_id", "version")},
        )
    position = verdict.head_position
    with store.reader.connect() as conn:
        tables = [t for t in tables if _present(conn, store, t)]  # one never written to is not made for this
        counts = {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in tables}
    header = {"format": FORMAT, "position": position, "events": verdict.events, "head": verdict.head,
              "tables": counts}
    digest = hashlib.sha256()
    lines = 0

    def emit(value: dict[str, Any]) -> None:
        nonlocal lines
        data = _line(value)
        digest.update(data)
        out.write(data)
        lines += 1

    emit(header)
    done = 0
    c = chain_table

    def flush(batch: list[Any]) -> None:
        """A batch of events, each with its links (fetched in one query)."""
        nonlocal done
        with store.reader.connect() as conn:
            links = {r.position: (r.project_link, r.store_link) for r in conn.execute(
                select(c.c.position, c.c.project_link, c.c.store_link)
                .where(c.c.position >= batch[0].id, c.c.position <= batch[-1].id))}
        for r in batch:
            emit({"event": [r.id, str(r.originator_id), r.originator_version, r.topic,
                            bytes(r.state).decode("utf-8")], "links": list(links[r.id])})
        done += len(batch)
        if progress is not None:
            progress(done, verdict.events)

    batch: list[Any] = []
    for record in stored_records(app, upto=position):
        batch.append(record)
        if len(batch) == BATCH:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    with store.reader.connect() as conn:
        for table in tables:
            keys = key_columns(table)
            for row in conn.execute(select(table).order_by(*[table.c[k] for k in keys])):
                emit({"table": table.name, "row": {k: _jsonable(v) for k, v in row._mapping.items()}})
    out.write(_line({"end": {"lines": lines, "sha256": digest.hexdigest()}}))
    return header


# ------------------------------------------------------------------ restore


def _entries(lines: Iterable[bytes]) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """Each line (number, bytes, object); a line that is not a JSON object is refused by its number."""
    for number, raw in enumerate(lines, start=1):
        try:
            value = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BackupRefused(f"Line {number} of the backup is not JSON: {exc}.", {"line": number}) from None
        if not isinstance(value, dict):
            raise BackupRefused(f"Line {number} of the backup is not a JSON object.", {"line": number})
        yield number, raw, value


def _event(number: int, value: Any) -> tuple[int, StoredEvent]:
    try:
        position, oid, version, topic, state = value
        return int(position), StoredEvent(originator_id=UUID(oid), originator_version=int(version),
                                          topic=str(topic), state=str(state).encode("utf-8"))
    except (TypeError, ValueError, AttributeError) as exc:
        raise BackupRefused(f"Line {number}: not a stored event ({exc}).", {"line": number}) from None


def check_backup(
    app: DeliveryApplication, lines: Iterable[bytes], tables: Sequence[Table], progress: Progress | None = None,
) -> dict[str, Any]:
    """Check a backup before anything is written: its digest, shape and every link; returns its header."""
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    names = {t.name for t in tables}
    heads: dict[str, bytes] = {}
    store_head = GENESIS
    last = 0
    rows: dict[str, int] = {}
    end: dict[str, Any] | None = None
    count = 0
    for number, raw, value in _entries(lines):
        if end is not None:
            raise BackupRefused(f"Line {number}: the backup goes on after its end line.", {"line": number})
        if number == 1:
            if value.get("format") != FORMAT or not all(isinstance(value.get(k), int) for k in ("position", "events")):
                raise BackupRefused(f"Line 1 must be a {FORMAT} header.", {"line": 1})
            header = value
        elif header is None:
            raise BackupRefused(f"Line 1 must be a {FORMAT} header.", {"line": 1})
        elif "event" in value:
            position, record = _event(number, value["event"])
            try:
                body = canonical(app.mapper.to_domain_event(record))
            except UNREADABLE as exc:
                raise BackupRefused(f"Line {number}: the event at position {position} cannot be read: "
                                    f"{type(exc).__name__}: {exc}", {"line": number}) from None
            pid, version = str(record.originator_id), record.originator_version
            heads[pid] = link(heads.get(pid, GENESIS), body)
            store_head = link(store_head, body)
            if value.get("links") != [heads[pid].hex(), store_head.hex()] or not last < position <= header["position"]:
                raise BackupRefused(
                    f"Line {number}: the chain in the backup does not verify at position {position} (project {pid} "
                    f"v{version}): the event is not the one that was linked there.",
                    {"line": number, "position": position, "project_id": pid, "version": version})
            last = position
            count += 1
            if progress is not None and count % 1000 == 0:
                progress(count, int(header["events"]))
        elif value.get("table") in names and isinstance(value.get("row"), dict):
            rows[value["table"]] = rows.get(value["table"], 0) + 1
        elif "end" in value:
            end = value["end"]
            if not isinstance(end, dict) or end.get("lines") != number - 1 or end.get("sha256") != digest.hexdigest():
                raise BackupRefused(
                    "The backup was changed after it was written: its digest (last line) does not match "
                    f"lines 1..{number - 1}.", {"line": number})
            continue
        else:
            raise BackupRefused(f"Line {number} is neither an event, a link nor a row of a kept table.",
                                {"line": number})
        digest.update(raw)
    if header is None or end is None:
        raise BackupRefused("The backup is cut short: it has no end line (or no header).")
    if count != header["events"] or store_head.hex() != header.get("head"):
        raise BackupRefused(f"The backup holds {count:,} events with head {store_head.hex()}; its header says "
                            f"{header['events']:,} with head {header.get('head')}.")
    if rows != {k: v for k, v in header.get("tables", {}).items() if v}:
        raise BackupRefused(f"The backup's rows {rows} are not the ones its header counts {header.get('tables')}.")
    if progress is not None:
        progress(count, count)
    return header


def restore_is_refused(app: DeliveryApplication, store: ViewStore, tables: Sequence[Table]) -> str | None:
    """Why this store cannot take a restore (None when it is empty)."""
    if app.recorder.max_notification_id():
        return "the store already has events; restore only into an empty store"
    with store.reader.connect() as conn:
        for table in (chain_table, *tables):
            found = int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
            if found:
                return f"the store already has {found} rows in {table.name}; restore only into an empty store"
    return None


def restore(
    app: DeliveryApplication, store: ViewStore, lines: Iterable[bytes], tables: Sequence[Table],
    progress: Progress | None = None,
) -> int:
    """Write a checked backup into this empty store in one transaction; returns the events written."""
    for table in tables:
        create_all(store.engine, table.metadata)
    refused = restore_is_refused(app, store, tables)
    if refused:
        raise BackupRefused(refused[0].upper() + refused[1:] + ".")
    by_name = {t.name: t for t in tables}
    header: dict[str, Any] = {}
    done = 0
    with store.engine.begin() as conn:
        store.lock_groups(conn)
        events: list[dict[str, Any]] = []
        for number, _raw, value in _entries(lines):
            if number == 1:
                header = value
            elif "event" in value:
                position, record = _event(number, value["event"])
                events.append({"position": position, "oid": record.originator_id,
                               "version": record.originator_version, "topic": record.topic, "state": record.state,
                               "project_link": value["links"][0], "store_link": value["links"][1]})
                if len(events) == BATCH:
                    done += _insert_events(conn, app, store, events)
                    events = []
                    if progress is not None:
                        progress(done, int(header["events"]))
            elif "table" in value:
                table = by_name[value["table"]]
                conn.execute(insert(table).values(**_row(table, value["row"])))
        done += _insert_events(conn, app, store, events)
        store.set_positions(conn, ["chain"], int(header["position"]))
        store.record_versions(conn, ["chain"])
        if store.dialect == "postgresql" and done:
            name = events_table(store).replace('"', "")
            conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'notification_id'), :p)"),
                         {"t": name, "p": int(header["position"])})
    if progress is not None:
        progress(done, done)
    return done


def _insert_events(conn: Connection, app: DeliveryApplication, store: ViewStore, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    if store.dialect == "sqlite":
        name = app.recorder.events_table_name  # type: ignore[attr-defined]
        sql = (f"INSERT INTO {name} (rowid, originator_id, originator_version, topic, state) "
               "VALUES (:position, :oid, :version, :topic, :state)")
        values = [{**r, "oid": r["oid"].hex} for r in rows]
    else:
        sql = (f"INSERT INTO {events_table(store)} (notification_id, originator_id, originator_version, topic, "
               "state) VALUES (:position, :oid, :version, :topic, :state)")
        values = rows
    columns = ("position", "oid", "version", "topic", "state")
    values = [{k: v[k] for k in columns} for v in values]
    conn.execute(text(sql), values)
    conn.execute(insert(chain_table), [
        {"position": r["position"], "project_id": str(r["oid"]), "version": r["version"],
         "project_link": r["project_link"], "store_link": r["store_link"]} for r in rows
    ])
    return len(rows)


def _row(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """A kept table's row as stored, its times parsed back (the file holds them as ISO 8601)."""
    row = {}
    for column in table.columns:
        value = values.get(column.name)
        if isinstance(column.type, DateTime) and isinstance(value, str):
            value = datetime.fromisoformat(value)
        row[column.name] = value
    return row


