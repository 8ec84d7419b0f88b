"""The hash chain on SQLite and PostgreSQL: edits, deletions, insertions and reorderings made
directly in the events table are each caught and located."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import pytest

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.chain import GENESIS, canonical, link
from projections.integrity import Verifier, stored_events
from projections.service import ReadSide
from tests.conftest import PG_URL
from tests.golden.make_golden import play_full_lifecycle
from tests.histories import play

SECOND = [(0, 1), (1, 2), (2, 3), (0, 4), (3, 5), (6, 1), (9, 2)]


class Tamperer:
    """Changes the events table behind the application's back, as a database administrator could."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.sqlite = database.kind == "sqlite"
        self.table = "stored_events" if self.sqlite else f'"{database.schema}".delivery_events'
        self.pos = "rowid" if self.sqlite else "notification_id"

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if self.sqlite:
            with sqlite3.connect(self.database.sqlite_path) as conn:
                return conn.execute(sql, params).fetchall()
        with psycopg.connect(PG_URL, autocommit=True) as pg:
            cur = pg.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def row(self, position: int) -> tuple[Any, int, str, bytes]:
        found = self._run(f"SELECT originator_id, originator_version, topic, state FROM {self.table} "
                          f"WHERE {self.pos} = ?", (position,))
        oid, version, topic, state = found[0]
        return oid, int(version), topic, bytes(state)

    def edit(self, position: int, **changes: Any) -> None:
        """Decode the stored state (the transcoder's compact JSON), change fields, store it again."""
        *_, state = self.row(position)
        fields = json.loads(state)
        fields.update(changes)
        encoded = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        self._run(f"UPDATE {self.table} SET state = ? WHERE {self.pos} = ?", (encoded, position))

    def delete(self, position: int) -> None:
        self._run(f"DELETE FROM {self.table} WHERE {self.pos} = ?", (position,))

    def move(self, position: int, to: int) -> None:
        self._run(f"UPDATE {self.table} SET {self.pos} = ? WHERE {self.pos} = ?", (to, position))

    def swap(self, a: int, b: int) -> None:
        self.move(a, -7)
        self.move(b, a)
        self.move(-7, b)

    def insert_copy(self, position: int, of: int, version: int) -> None:
        """Forge an event: a copy of the one at `of` with a new version, slipped in at `position`."""
        oid, _version, topic, state = self.row(of)
        self._run(f"UPDATE {self.table} SET {self.pos} = {self.pos} + 1000000 WHERE {self.pos} >= ?", (position,))
        self._run(f"UPDATE {self.table} SET {self.pos} = {self.pos} - 999999 WHERE {self.pos} >= 1000000")
        self._run(f"INSERT INTO {self.table} (originator_id, originator_version, topic, state, {self.pos}) "
                  "VALUES (?, ?, ?, ?, ?)", (oid, version, topic, state, position))


@pytest.fixture
def history(database: Database) -> Iterator[tuple[DeliveryApplication, ReadSide, UUID, UUID]]:
    """Two projects, one after the other: the full lifecycle (62 events), then a short one."""
    app = DeliveryApplication(database)
    reads = ReadSide(app)
    first = play_full_lifecycle(app)
    second = play(app, SECOND, name="Second", start=datetime(2026, 5, 1, tzinfo=UTC))
    reads.catch_up()
    yield app, reads, first, second
    reads.close()
    app.close()


def test_links_are_the_documented_sha256_chain(history: tuple[Any, ...]) -> None:
    app, reads, first, _second = history
    verifier = Verifier(app, reads.store)
    verdict = verifier.store_chain()
    assert verdict.valid and verdict.events == app.recorder.max_notification_id()
    head = GENESIS
    for _position, event in stored_events(app):
        head = link(head, canonical(event))
    assert verdict.head == head.hex()
    first_events = list(app.events.get(first))
    project_head = GENESIS
    for event in first_events:
        project_head = link(project_head, canonical(event))
    assert verifier.project_chain(first).head == project_head.hex()
    assert verifier.project_chain(first).events == len(first_events) == 62
    body = json.loads(canonical(first_events[0]))
    assert set(body) == {"stream", "version", "topic", "type", "time", "actor", "data"}
    assert body["type"] == "Created" and body["version"] == 1 and body["stream"] == str(first)
    # Everything the store keeps and the domain is rebuilt from is linked: the class topics too.
    assert body["topic"] == "delivery.project:Project.Created"
    assert body["data"]["originator_topic"] == "delivery.project:Project"


def test_untouched_store_verifies_and_new_events_wait_for_their_link(history: tuple[Any, ...]) -> None:
    app, reads, _first, second = history
    verifier = Verifier(app, reads.store)
    assert verifier.store_chain().valid and verifier.project_chain(second).valid
    app.add_scope_item(second, title="Late feature", tier="core", actor="pm")
    verdict = verifier.store_chain()
    assert verdict.valid and verdict.unchained == 1
    reads.catch_up()
    assert verifier.store_chain().unchained == 0
    reads.rebuild()  # a rebuild keeps the links made when the events were first seen
    assert verifier.store_chain().valid


def test_an_edited_event_is_located(history: tuple[Any, ...]) -> None:
    app, reads, first, _second = history
    Tamperer(reads.store.database).edit(10, actor="mallory")
    verifier = Verifier(app, reads.store)
    bad = verifier.store_chain().first_bad
    assert bad is not None and (bad["problem"], bad["position"], bad["version"]) == ("altered", 10, 10)
    bad = verifier.project_chain(first).first_bad
    assert bad is not None and (bad["problem"], bad["chain"], bad["version"]) == ("altered", "project", 10)


def test_a_deleted_event_is_located(history: tuple[Any, ...]) -> None:
    app, reads, first, _second = history
    Tamperer(reads.store.database).delete(20)
    verifier = Verifier(app, reads.store)
    bad = verifier.store_chain().first_bad
    assert bad is not None and (bad["problem"], bad["position"], bad["version"]) == ("deleted", 20, 20)
    bad = verifier.project_chain(first).first_bad
    assert bad is not None and (bad["problem"], bad["version"]) == ("deleted", 20)


def test_an_inserted_event_is_located(history: tuple[Any, ...]) -> None:
    app, reads, _first, second = history
    versions = len(list(app.events.get(second)))
    Tamperer(reads.store.database).insert_copy(30, of=64, version=versions + 1)
    verifier = Verifier(app, reads.store)
    bad = verifier.store_chain().first_bad
    assert bad is not None and (bad["problem"], bad["position"]) == ("inserted", 30)
    assert bad["project_id"] == str(second)
    bad = verifier.project_chain(second).first_bad
    assert bad is not None and (bad["problem"], bad["version"]) == ("inserted", versions + 1)


def test_reordered_events_are_located(history: tuple[Any, ...]) -> None:
    app, reads, first, second = history
    Tamperer(reads.store.database).swap(12, 64)
    verifier = Verifier(app, reads.store)
    bad = verifier.store_chain().first_bad
    assert bad is not None and (bad["problem"], bad["position"]) == ("reordered", 12)
    assert bad["project_id"] == str(second) and bad["expected"] == {"project_id": str(first), "version": 12}
    # Each project's own order is untouched: its chain still holds.
    assert verifier.project_chain(first).valid and verifier.project_chain(second).valid
