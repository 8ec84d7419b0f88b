"""The hash chain: every event linked to the one before it, per project and over the whole store.

`link(previous, event) = SHA-256(previous || canonical(event))`, starting from 32
zero bytes. The canonical form is the event as an auditor reads it (stream id,
version, class topic, type, time, actor, data) in sorted, compact, UTF-8 JSON, so
anyone can recompute it by hand from an export (docs/audit.md). It covers every
column the store keeps for an event and every field of its state: whatever the
domain is rebuilt from (the class topic, a project's `originator_topic`) is linked.
Form 1, before the topic and `originator_topic` were covered, is kept to check
checkpoints and exports made with it.

The view group `chain` stores each event's two links with its store position
(`event_chain`), written by `ViewStore.apply` in the same transaction as the
group's tracking record. `verify_store` and `verify_project` recompute the links
from the stored events, never from that table, and report the first that differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic
from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, bindparam, insert, select
from sqlalchemy.engine import Connection

from projections.events import data, jsonable, kind

GENESIS = bytes(32)
GENESIS_HEX = GENESIS.hex()
# The canonical form links are made with now; 1 is the form before the topic was covered.
FORM = 2
FORMS = (1, 2)
# What the canonical form names outside `data` (the rest of the state goes into `data`).
_NAMED = frozenset({"originator_id", "originator_version", "timestamp", "actor"})


def canonical_dict(event: Any, form: int = FORM) -> dict[str, Any]:
    """The fields an event's link covers, as JSON values."""
    if form == 1:
        fields = data(event)
        actor = fields.pop("actor", "")
    else:
        fields = {k: jsonable(v) for k, v in vars(event).items() if k not in _NAMED}
        actor = vars(event).get("actor", "")
    body = {
        "stream": str(event.originator_id),
        "version": int(event.originator_version),
        "type": kind(event),
        "time": event.timestamp.astimezone(UTC).isoformat(),
        "actor": actor,
        "data": fields,
    }
    if form != 1:
        body["topic"] = get_topic(type(event))
    return body


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical(event: Any, form: int = FORM) -> bytes:
    """The bytes an event contributes to both chains."""
    return canonical_bytes(canonical_dict(event, form))


def link(previous: bytes, event_bytes: bytes) -> bytes:
    return hashlib.sha256(previous + event_bytes).digest()


def define_table(metadata: Any) -> Table:
    return Table(
        "event_chain", metadata,
        Column("position", BigInteger, primary_key=True, autoincrement=False),
        Column("project_id", String(36), nullable=False),
        Column("version", Integer, nullable=False),
        Column("project_link", String(64), nullable=False),
        Column("store_link", String(64), nullable=False),
        Index("ix_event_chain_project", "project_id", "version", unique=True),
    )


class Heads:
    """The heads of both chains as the last batch left them, kept by the applier between batches (the stored
    ones are read when missing). Whoever keeps one forgets it when a batch rolls back or finds the positions
    moved by someone else."""

    # Projects whose head is kept, at most (the least recently linked are read again).
    KEPT = 5_000

    def __init__(self) -> None:
        self.store: bytes | None = None
        self.projects: dict[str, bytes] = {}

    def project(self, pid: str) -> bytes | None:
        head = self.projects.pop(pid, None)
        if head is not None:
            self.projects[pid] = head  # most recent last
        return head

    def keep(self, pid: str, head: bytes) -> None:
        self.projects.pop(pid, None)
        self.projects[pid] = head
        while len(self.projects) > self.KEPT:
            del self.projects[next(iter(self.projects))]


def apply_chain(conn: Connection, table: Table, batch: Sequence[tuple[Any, Tracking]],
                kept: Heads | None = None) -> None:
    """Link a batch of events (in store order) onto the heads of both chains (stored, or `kept` from the last
    batch); `kept` is left at the new heads."""
    store_head_stmt, project_head_stmt, insert_stmt = _statements(table)
    kept = kept or Heads()
    if kept.store is None:
        last = conn.execute(store_head_stmt).scalar()
        kept.store = bytes.fromhex(last) if last else GENESIS
    store_head = kept.store
    heads: dict[str, bytes] = {}
    rows = []
    for event, tracking in batch:
        pid = str(event.originator_id)
        if pid not in heads:
            head = kept.project(pid)
            if head is None:
                previous = conn.execute(project_head_stmt, {"pid": pid}).scalar()
                head = bytes.fromhex(previous) if previous else GENESIS
            heads[pid] = head
        body = canonical(event)
        heads[pid] = link(heads[pid], body)
        store_head = link(store_head, body)
        rows.append({
            "position": tracking.notification_id, "project_id": pid, "version": event.originator_version,
            "project_link": heads[pid].hex(), "store_link": store_head.hex(),
        })
    conn.execute(insert_stmt, rows)
    kept.store = store_head
    for pid, head in heads.items():
        kept.keep(pid, head)


_STATEMENTS: dict[str, tuple[Any, Any, Any]] = {}


def _statements(table: Table) -> tuple[Any, Any, Any]:
    """The chain's three statements, built once (SQLAlchemy caches their compiled form)."""
    if table.name not in _STATEMENTS:
        _STATEMENTS[table.name] = (
            select(table.c.store_link).order_by(table.c.position.desc()).limit(1),
            select(table.c.project_link).where(table.c.project_id == bindparam("pid"))
            .order_by(table.c.version.desc()).limit(1),
            insert(table),
        )
    return _STATEMENTS[table.name]


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Stored:
    """One event as the store holds it now: position, identity and canonical bytes."""

    position: int
    project_id: str
    version: int
    body: bytes
    error: str = ""  # why the event could not be read (then `body` is empty)


@dataclass(frozen=True)
class Recorded:
    """One row of the chain table: what was linked at that position."""

    position: int
    project_id: str
    version: int
    project_link: str
    store_link: str


@dataclass
class Verdict:
    """What a verification found; `first_bad` is None when every link holds."""

    scope: str  # "store" or a project id
    events: int = 0
    head: str = GENESIS_HEX
    head_position: int = 0
    unchained: int = 0
    snapshots: int = 0
    first_bad: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.first_bad is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope, "valid": self.valid, "events": self.events, "head": self.head,
            "head_position": self.head_position, "unchained": self.unchained, "snapshots": self.snapshots,
            "first_bad": self.first_bad,
        }


def _at(problem: str, chain: str, where: Stored | Recorded, message: str, **extra: Any) -> dict[str, Any]:
    return {"problem": problem, "chain": chain, "position": where.position, "project_id": where.project_id,
            "version": where.version, "message": message, **extra}


def _mismatch(
    expected: Recorded | None, found: Stored | None, head_position: int, chain: str,
    in_chain: Callable[[str, int], bool], in_store: Callable[[str, int], bool], chain_end: int,
) -> dict[str, Any]:
    """Name what happened at the first link that does not hold, and where."""
    if found is not None and found.error:
        return _at("unreadable", chain, found, f"the event at position {found.position} (project "
                   f"{found.project_id} v{found.version}) cannot be read: {found.error}")
    if expected is None and found is not None and chain_end < found.position <= head_position:
        return _at("unlinked", chain, found, f"position {found.position} (project {found.project_id} "
                   f"v{found.version}) has no link, though the chain was linked up to position {head_position}: "
                   "links were deleted (the chain table emptied or cut short)")
    if found is None or (expected is not None and found.position > head_position):
        assert expected is not None
        if in_store(expected.project_id, expected.version):
            return _at("reordered", chain, expected, f"project {expected.project_id} v{expected.version}, linked "
                       f"at position {expected.position}, is no longer there")
        return _at("deleted", chain, expected, f"the event linked at position {expected.position} "
                   f"(project {expected.project_id} v{expected.version}) is missing")
    if expected is not None and found.position < expected.position and not in_chain(found.project_id, found.version):
        return _at("unlinked", chain, found, f"position {found.position} (project {found.project_id} "
                   f"v{found.version}) has no link, though links follow it (from position {expected.position}): "
                   "its link was deleted, or the event was slipped into a gap between positions")
    if expected is None or not in_chain(found.project_id, found.version):
        return _at("inserted", chain, found, f"position {found.position} holds an event that was never linked "
                   f"(project {found.project_id} v{found.version})")
    if (expected.project_id, expected.version) == (found.project_id, found.version):
        return _at("altered", chain, found, f"the event at position {found.position} (project {found.project_id} "
                   f"v{found.version}) differs from the one that was linked")
    if not in_store(expected.project_id, expected.version):
        return _at("deleted", chain, expected, f"the event linked at position {expected.position} "
                   f"(project {expected.project_id} v{expected.version}) is missing")
    return _at("reordered", chain, found, f"position {found.position} holds project {found.project_id} "
               f"v{found.version} where the chain linked project {expected.project_id} v{expected.version}",
               expected={"project_id": expected.project_id, "version": expected.version})


def verify(
    scope: str, events: Iterable[Stored], recorded: Iterable[Recorded], *, project: bool, head_position: int,
    in_chain: Callable[[str, int], bool], in_store: Callable[[str, int], bool],
    progress: Callable[[int], None] | None = None, chain_end: int | None = None,
) -> Verdict:
    """Walk the stored events and the recorded links side by side; stop at the first that differs.

    `events` and `recorded` come in chain order (store position, or project version).
    Events after `head_position`, the position the chain was linked up to, are counted as
    not linked yet (the views have not reached them); events before it but after
    `chain_end`, the last link in the table, lost their links.
    """
    end = head_position if chain_end is None else chain_end
    verdict = Verdict(scope=scope, head_position=head_position)
    chain = "project" if project else "store"
    heads: dict[str, bytes] = {}
    store_head = GENESIS
    links = iter(recorded)
    expected = next(links, None)
    for found in events:
        if expected is None and found.position > head_position:
            verdict.unchained += 1
            continue
        same = expected is not None and (expected.project_id, expected.version) == (found.project_id, found.version)
        if not same or found.error:
            verdict.first_bad = _mismatch(expected, found, head_position, chain, in_chain, in_store, end)
            return verdict
        assert expected is not None
        heads[found.project_id] = link(heads.get(found.project_id, GENESIS), found.body)
        store_head = link(store_head, found.body)
        mine = heads[found.project_id] if project else store_head
        if mine.hex() != (expected.project_link if project else expected.store_link):
            verdict.first_bad = _mismatch(expected, found, head_position, chain, in_chain, in_store, end)
            return verdict
        verdict.events += 1
        verdict.head = mine.hex()
        if progress is not None:
            progress(verdict.events)
        expected = next(links, None)
    if expected is not None:
        verdict.first_bad = _mismatch(expected, None, head_position, chain, in_chain, in_store, end)
    return verdict


def recompute(events: Iterable[Stored]) -> tuple[int, str]:
    """How many events and the store chain's head over them, from the events alone."""
    head = GENESIS
    count = 0
    for found in events:
        head = link(head, found.body)
        count += 1
    return count, head.hex()
