"""Verify the hash chains against the events as the store holds them now.

The events are read straight from the store (through the library's recorder, or
for one project through SQL, to learn their positions) and the links recomputed;
the chain table only says what each link *was* when the event was first seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import func, select, text

from delivery.application import DeliveryApplication, parse_project_id
from delivery.errors import NotFound
from projections.chain import Recorded, Stored, Verdict, canonical, recompute, verify
from projections.store import ViewStore, chain_table

Progress = Callable[[int, int], None]
BATCH = 1000


def stored_events(app: DeliveryApplication, *, upto: int | None = None) -> Iterator[tuple[int, Any]]:
    """Every (position, domain event) in store order, up to a position."""
    start = 1
    while True:
        batch = app.recorder.select_notifications(start, BATCH, stop=upto, inclusive_of_start=True)
        if not batch:
            return
        for n in batch:
            yield n.id, app.mapper.to_domain_event(n)
        start = batch[-1].id + 1


def _stored(position: int, event: Any) -> Stored:
    return Stored(position, str(event.originator_id), int(event.originator_version), canonical(event))


class Verifier:
    """Recomputes the chains of one store and compares them with the recorded links."""

    def __init__(self, app: DeliveryApplication, store: ViewStore) -> None:
        self.app = app
        self.store = store

    def head_position(self) -> int:
        with self.store.reader.connect() as conn:
            return int(conn.execute(select(func.max(chain_table.c.position))).scalar() or 0)

    def store_chain(self, progress: Progress | None = None) -> Verdict:
        """The whole store's chain, in position order."""
        head = self.head_position()
        total = self.app.recorder.max_notification_id() or 0
        tick = (lambda done: progress(done, total) if done % 2000 == 0 else None) if progress else None
        verdict = verify(
            "store", (_stored(p, e) for p, e in stored_events(self.app)), self._recorded(None),
            project=False, head_position=head, in_chain=self.in_chain, in_store=self.in_store, progress=tick,
        )
        if progress is not None:
            progress(total, total)
        return verdict

    def project_chain(self, project_id: str | UUID) -> Verdict:
        """One project's chain, in version order."""
        pid = str(parse_project_id(project_id))
        events = list(self._project_events(pid))
        recorded = self._recorded(pid)
        if not events and not recorded:
            raise NotFound("project", pid)
        return verify(
            pid, events, recorded, project=True, head_position=self.head_position(),
            in_chain=self.in_chain, in_store=self.in_store,
        )

    def recompute(self, upto: int) -> tuple[int, str]:
        """The count and store-chain head of the events up to a position, from the events alone."""
        return recompute(_stored(p, e) for p, e in stored_events(self.app, upto=upto))

    # ----------------------------------------------------------- lookups

    def in_chain(self, project_id: str, version: int) -> bool:
        stmt = select(chain_table.c.position).where(
            chain_table.c.project_id == project_id, chain_table.c.version == version,
        )
        with self.store.reader.connect() as conn:
            return conn.execute(stmt).first() is not None

    def in_store(self, project_id: str, version: int) -> bool:
        found = self.app.recorder.select_events(UUID(project_id), gt=version - 1, lte=version)
        return bool(found)

    def _recorded(self, project_id: str | None) -> list[Recorded]:
        stmt = select(chain_table)
        if project_id is None:
            stmt = stmt.order_by(chain_table.c.position)
        else:
            stmt = stmt.where(chain_table.c.project_id == project_id).order_by(chain_table.c.version)
        with self.store.reader.connect() as conn:
            return [
                Recorded(r.position, r.project_id, r.version, r.project_link, r.store_link)
                for r in conn.execute(stmt)
            ]

    def _project_events(self, project_id: str) -> Iterator[Stored]:
        """One project's stored events with their store positions, in version order."""
        pid = UUID(project_id)
        if self.store.database.kind == "sqlite":
            sql = (f"SELECT rowid AS position, originator_version, topic, state "
                   f"FROM {self.app.recorder.events_table_name} "  # type: ignore[attr-defined]
                   "WHERE originator_id = :pid ORDER BY originator_version")
            key: Any = pid.hex
        else:
            sql = (f"SELECT notification_id AS position, originator_version, topic, state "
                   f"FROM {events_table(self.store)} WHERE originator_id = :pid ORDER BY originator_version")
            key = pid
        with self.store.reader.connect() as conn:
            rows = conn.execute(text(sql), {"pid": key}).all()
        for row in rows:
            event = self.app.mapper.to_domain_event(StoredEvent(
                originator_id=pid, originator_version=row.originator_version, topic=row.topic,
                state=bytes(row.state),
            ))
            yield _stored(int(row.position), event)


def events_table(store: ViewStore) -> str:
    """The events table's qualified name (PostgreSQL keeps it in the URL's schema)."""
    schema = store.database.schema
    return f'"{schema}".delivery_events' if schema else "delivery_events"
