"""Export a project's (or the whole store's) events as JSON Lines with their links, and import them.

The first line is a header: `{"format": "delivery-export/1", "scope": ..., "events": N, "head": ...}`.
Every other line is one event in store order:

    {"position", "event": <the canonical form the links cover>, "project_link", "store_link",
     "topic", "state": <the stored state exactly as the library wrote it>}

`event` is for people (and for recomputing the links by hand); `topic` and `state`
let an import store the very same event again. Nothing in a file depends on when it
was written, so exporting an imported store gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import and_, func, select

from delivery.application import DeliveryApplication, parse_project_id
from delivery.errors import DeliveryError, NotFound
from projections.chain import GENESIS, canonical_bytes, canonical_dict, link
from projections.store import UNREADABLE, ViewStore, chain_table

FORMAT = "delivery-export/2"
# The chain form each format's `event` and links are in (projections.chain).
FORMS = {"delivery-export/1": 1, FORMAT: 2}
BATCH = 500

Progress = Callable[[int, int], None]


class ImportRefused(DeliveryError):
    """The file cannot be imported: the store is not empty, or its chain does not verify."""

    code = "import_refused"


def _line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


class Unreadable(DeliveryError):
    """A stored event that cannot be decoded (its topic or state was edited): the export stops there."""

    code = "unreadable_event"


def _entry(app: DeliveryApplication, record: Any, row: Any) -> dict[str, Any]:
    try:
        event = app.mapper.to_domain_event(record)
    except UNREADABLE as exc:
        pid, version = str(record.originator_id), int(record.originator_version)
        raise Unreadable(f"The event at position {row.position} (project {pid} v{version}) cannot be read "
                         f"({type(exc).__name__}: {exc}); `delivery verify` names what changed.",
                         {"position": int(row.position), "project_id": pid, "version": version}) from exc
    return {
        "position": int(row.position), "event": canonical_dict(event),
        "project_link": row.project_link, "store_link": row.store_link,
        "topic": record.topic, "state": json.loads(bytes(record.state)),
    }


def export_lines(
    app: DeliveryApplication, store: ViewStore, project_id: str | UUID | None = None,
    progress: Progress | None = None,
) -> Iterator[str]:
    """The export, line by line (the events the chain has linked so far)."""
    with store.reader.connect() as conn:
        if project_id is None:
            rows = conn.execute(
                select(chain_table.c.position, chain_table.c.store_link).order_by(chain_table.c.position.desc())
                .limit(1)
            ).first()
            head_position, head = (int(rows.position), rows.store_link) if rows else (0, GENESIS.hex())
            count = conn.execute(select(func.count()).select_from(chain_table)).scalar() or 0
            header = {"format": FORMAT, "scope": "store", "events": int(count), "head": head}
        else:
            pid = str(parse_project_id(project_id))
            links = conn.execute(
                select(chain_table).where(chain_table.c.project_id == pid).order_by(chain_table.c.version)
            ).all()
            if not links:
                raise NotFound("project", pid)
            header = {"format": FORMAT, "scope": "project", "project_id": pid, "events": len(links),
                      "head": links[-1].project_link}
    yield _line(header)
    total = int(header["events"])
    if project_id is None:
        yield from _store_lines(app, store, head_position, total, progress)
        return
    records = app.recorder.select_events(UUID(pid), lte=links[-1].version)
    for done, (record, row) in enumerate(zip(records, links, strict=False), start=1):
        yield _line(_entry(app, record, row))
        if progress is not None:
            progress(done, total)


def _store_lines(
    app: DeliveryApplication, store: ViewStore, head_position: int, total: int, progress: Progress | None,
) -> Iterator[str]:
    start, done = 1, 0
    while start <= head_position:
        batch = app.recorder.select_notifications(start, BATCH, stop=head_position, inclusive_of_start=True)
        if not batch:
            break
        with store.reader.connect() as conn:
            rows = {r.position: r for r in conn.execute(select(chain_table).where(and_(
                chain_table.c.position >= batch[0].id, chain_table.c.position <= batch[-1].id,
            )))}
        for record in batch:
            row = rows.get(record.id)
            if row is None:
                continue  # not linked: `delivery verify` reports it as inserted
            yield _line(_entry(app, record, row))
            done += 1
        if progress is not None:
            progress(done, total)
        start = batch[-1].id + 1


# ------------------------------------------------------------------ import


def read_export(lines: Iterable[str | bytes]) -> tuple[dict[str, Any], Iterator[tuple[int, dict[str, Any]]]]:
    """The header, and each later non-blank line as (line number, object); a bad line refuses the import."""
    numbered = _numbered(lines)
    try:
        _, header = next(numbered)
    except StopIteration:
        raise ImportRefused("The file is empty: the first line must be a delivery-export header.",
                            {"line": 1}) from None
    if not isinstance(header, dict) or header.get("format") not in FORMS:
        raise ImportRefused(f"Line 1 must be a {FORMAT} header (or a delivery-export/1 one).", {"line": 1})
    if not isinstance(header.get("events"), int) or not isinstance(header.get("head"), str):
        raise ImportRefused("Line 1: the header needs `events` (a whole number) and `head` (the chain's head).",
                            {"line": 1})
    return header, numbered


def _numbered(lines: Iterable[str | bytes]) -> Iterator[tuple[int, Any]]:
    """Each non-blank line parsed, with its number (lines read as bytes are decoded one by one, so a
    line that is not UTF-8 is named too)."""
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            raise ImportRefused(f"Line {number} is not UTF-8 text: {exc.reason} at byte {exc.start}.",
                                {"line": number}) from None
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportRefused(f"Line {number} is not JSON: {exc.msg} (column {exc.colno}).",
                                {"line": number}) from None
        if not isinstance(value, dict):
            raise ImportRefused(f"Line {number} is not a JSON object: every line is one event.", {"line": number})
        yield number, value


def _stored(entry: dict[str, Any]) -> StoredEvent:
    event = entry["event"]
    state = json.dumps(entry["state"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return StoredEvent(
        originator_id=UUID(event["stream"]), originator_version=int(event["version"]),
        topic=entry["topic"], state=state,
    )


def check_export(
    app: DeliveryApplication, lines: Iterable[str | bytes], progress: Progress | None = None,
) -> dict[str, Any]:
    """Recompute every link in the file; raise ImportRefused at the first that does not hold."""
    header, entries = read_export(lines)
    form = FORMS[header["format"]]
    store_scope = header.get("scope") == "store"
    heads: dict[str, bytes] = {}
    store_head = GENESIS
    total = int(header["events"])
    count = 0
    for count, (number, entry) in enumerate(entries, start=1):
        where = {"line": number}
        try:
            record = _stored(entry)
            event = app.mapper.to_domain_event(record)
            said = canonical_dict(event, form)
        except UNREADABLE as exc:  # refused with its line
            raise ImportRefused(f"Line {number} is not an exported event: {type(exc).__name__}: {exc}",
                                where) from exc
        if said != entry.get("event"):
            raise ImportRefused(f"Line {number}: the stored state does not say what `event` says.", where)
        body = canonical_bytes(said)
        stream = str(record.originator_id)
        heads[stream] = link(heads.get(stream, GENESIS), body)
        store_head = link(store_head, body)
        if heads[stream].hex() != entry.get("project_link") or (
            store_scope and store_head.hex() != entry.get("store_link")
        ):
            raise ImportRefused(
                f"Line {number}: the chain does not verify at project {stream} v{record.originator_version}.",
                {**where, "project_id": stream, "version": record.originator_version},
            )
        if progress is not None and count % 1000 == 0:
            progress(count, total)
    head = store_head.hex() if store_scope else (next(iter(heads.values())).hex() if heads else GENESIS.hex())
    if count != total or head != header.get("head"):
        raise ImportRefused("The file's header does not match its events (truncated or extended?).",
                            {"events": count, "header_events": total})
    if progress is not None:
        progress(count, total)
    return header


def import_events(
    app: DeliveryApplication, lines: Iterable[str | bytes], progress: Progress | None = None,
) -> int:
    """Store every event of an export (already checked) in this empty store; returns how many."""
    if app.recorder.max_notification_id():
        raise ImportRefused("The store already has events; import only into an empty store.")
    header, entries = read_export(lines)
    total = int(header["events"])
    done = 0
    batch: list[StoredEvent] = []
    for _number, entry in entries:
        batch.append(_stored(entry))
        if len(batch) == BATCH:
            app.recorder.insert_events(batch)
            done += len(batch)
            batch = []
            if progress is not None:
                progress(done, total)
    if batch:
        app.recorder.insert_events(batch)
        done += len(batch)
    if progress is not None:
        progress(done, total)
    return done
