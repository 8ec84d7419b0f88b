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
from projections.chain import FORM, GENESIS, Recorded, Stored, Verdict, canonical, link, recompute, verify
from projections.checkpoint import Checkpoint
from projections.snapshots import check_snapshots
from projections.store import UNREADABLE, ViewStore, chain_table

Progress = Callable[[int, int], None]
BATCH = 1000


def stored_records(app: DeliveryApplication, *, upto: int | None = None) -> Iterator[Any]:
    """Every stored event (a notification: id, originator, version, topic, state) in store order."""
    start = 1
    while True:
        batch = app.recorder.select_notifications(start, BATCH, stop=upto, inclusive_of_start=True)
        if not batch:
            return
        yield from batch
        start = batch[-1].id + 1


def stored_events(app: DeliveryApplication, *, upto: int | None = None) -> Iterator[tuple[int, Any]]:
    """Every (position, domain event) in store order, up to a position."""
    for n in stored_records(app, upto=upto):
        yield n.id, app.mapper.to_domain_event(n)


def read_stored(app: DeliveryApplication, position: int, record: StoredEvent, form: int = FORM) -> Stored:
    """One stored event as the chain sees it; one that cannot be decoded is kept, with the reason."""
    pid, version = str(record.originator_id), int(record.originator_version)
    try:
        event = app.mapper.to_domain_event(record)
        return Stored(position, pid, version, canonical(event, form))
    except UNREADABLE as exc:  # an edited topic or state: a finding at this position, never a traceback
        return Stored(position, pid, version, b"", error=f"{type(exc).__name__}: {exc}")


_UNKNOWN_FORM: dict[str, Any] = {
    "problem": "unknown_form", "chain": "store", "position": None, "project_id": None, "version": None,
    "message": "the chain table's version record is missing or unknown, so no form of the links is known to "
               "check them in (it was deleted or edited in view_versions)",
}


def _in_form(verdict: Verdict, form: int) -> Verdict:
    """Say so when the links are still of an earlier form (an upgrade found they do not verify)."""
    if verdict.first_bad is not None and form != FORM:
        verdict.first_bad["message"] = (f"the links are still in chain form {form} (not linked anew: they do "
                                        f"not verify): {verdict.first_bad['message']}")
    return verdict


class Verifier:
    """Recomputes the chains of one store and compares them with the recorded links."""

    def __init__(self, app: DeliveryApplication, store: ViewStore) -> None:
        self.app = app
        self.store = store

    def head_position(self) -> int:
        """The position the chain group was linked up to (kept with the group, not read off the links:
        links deleted from the end are then missing, not merely not made yet)."""
        return self.store.positions()["chain"]

    def chain_end(self) -> int:
        """The position of the last link in the chain table (0 when it is empty)."""
        with self.store.reader.connect() as conn:
            return int(conn.execute(select(func.max(chain_table.c.position))).scalar() or 0)

    def store_chain(self, progress: Progress | None = None, snapshots: Progress | None = None) -> Verdict:
        """The whole store's chain, in position order; then every snapshot against the events."""
        form = self.links_form()
        if form is None:
            return Verdict("store", head_position=self.head_position(), first_bad=dict(_UNKNOWN_FORM))
        verdict = self.walk(progress, form)
        if verdict.valid and form == FORM:
            verdict.snapshots, verdict.first_bad = check_snapshots(self.app, self.store, self.locate,
                                                                   progress=snapshots)
        return _in_form(verdict, form)

    def links_form(self) -> int | None:
        """The chain form the stored links were made in: the current one unless an upgrade could not relink them."""
        if "chain" not in self.store.groups_needing_rebuild() or not self.head_position():
            return FORM
        return self.store.chain_form()

    def walk(self, progress: Progress | None = None, form: int = FORM) -> Verdict:
        """The store chain recomputed in a chain form and walked beside the recorded links."""
        head = self.head_position()
        total = self.app.recorder.max_notification_id() or 0
        tick = (lambda done: progress(done, total) if done % 2000 == 0 else None) if progress else None
        verdict = verify(
            "store", (read_stored(self.app, n.id, n, form) for n in stored_records(self.app)),
            self._recorded(None), project=False, head_position=head, in_chain=self.in_chain,
            in_store=self.in_store, progress=tick, chain_end=self.chain_end(),
        )
        if progress is not None:
            progress(total, total)
        return verdict

    def project_chain(self, project_id: str | UUID) -> Verdict:
        """One project's chain, in version order; then its snapshots against its events."""
        pid = str(parse_project_id(project_id))
        form = self.links_form()
        events = list(self._project_events(pid, form or FORM))
        recorded = self._recorded(pid)
        if not events and not recorded:
            raise NotFound("project", pid)
        if form is None:
            return Verdict(pid, head_position=self.head_position(), first_bad=dict(_UNKNOWN_FORM))
        verdict = verify(
            pid, events, recorded, project=True, head_position=self.head_position(),
            in_chain=self.in_chain, in_store=self.in_store, chain_end=self.chain_end(),
        )
        if verdict.valid and form == FORM:
            verdict.snapshots, verdict.first_bad = check_snapshots(self.app, self.store, self.locate, pid)
        return _in_form(verdict, form)

    def recompute(self, upto: int, form: int = FORM) -> tuple[int, str]:
        """The count and store-chain head of the events up to a position, from the events alone."""
        return recompute(read_stored(self.app, n.id, n, form) for n in stored_records(self.app, upto=upto))

    def project_heads(self, upto: int) -> dict[str, tuple[int, str]]:
        """Each project's last linked version at a position and its project link there (what a checkpoint signs)."""
        c = chain_table
        last = (select(c.c.project_id, func.max(c.c.version).label("version"))
                .where(c.c.position <= upto).group_by(c.c.project_id).subquery())
        stmt = select(c.c.project_id, c.c.version, c.c.project_link).join(
            last, (c.c.project_id == last.c.project_id) & (c.c.version == last.c.version))
        with self.store.reader.connect() as conn:
            return {str(pid): (int(v), str(h)) for pid, v, h in conn.execute(stmt)}

    def check_checkpoint(self, signed: Checkpoint) -> dict[str, Any]:
        """Recompute the history up to a signed checkpoint from the events alone; name where it changed."""
        heads: dict[str, tuple[int, bytes]] = {}
        store_head, count = GENESIS, 0
        for n in stored_records(self.app, upto=signed.position):
            found = read_stored(self.app, n.id, n, signed.form)
            _version, head = heads.get(found.project_id, (0, GENESIS))
            heads[found.project_id] = (found.version, link(head, found.body))
            store_head, count = link(store_head, found.body), count + 1
        result: dict[str, Any] = {
            "holds": (count, store_head.hex()) == (signed.events, signed.head), "position": signed.position,
            "signed_at": signed.time, "events": count, "signed_events": signed.events,
            "head": store_head.hex(), "signed_head": signed.head,
        }
        if result["holds"]:
            result["reason"] = "the history up to the checkpoint is unchanged"
            return result
        result["first_bad"] = self._where_changed(signed, {k: (v, h.hex()) for k, (v, h) in heads.items()})
        bad = result["first_bad"]
        result["reason"] = ("the history up to the checkpoint was changed: " + bad["message"] if bad
                            else "the history up to the checkpoint was changed")
        return result

    def _where_changed(self, signed: Checkpoint, heads: dict[str, tuple[int, str]]) -> dict[str, Any] | None:
        """The first event the chain table locates, else the first project whose signed head differs."""
        if signed.form == FORM:
            verdict = verify(
                "store", (read_stored(self.app, n.id, n) for n in stored_records(self.app, upto=signed.position)),
                [r for r in self._recorded(None) if r.position <= signed.position], project=False,
                head_position=signed.position, in_chain=self.in_chain, in_store=self.in_store,
                chain_end=self.chain_end(),
            )
            if verdict.first_bad is not None:
                return verdict.first_bad
        for pid in sorted(set(signed.projects) | set(heads)):
            mine, theirs = heads.get(pid), signed.projects.get(pid)
            if mine == theirs:
                continue
            version = (theirs or mine or (0, ""))[0]
            have = f"v1..v{mine[0]}" if mine else "no events"
            return {"problem": "changed", "chain": "project", "position": self.locate(pid, version),
                    "project_id": pid, "version": version,
                    "message": f"project {pid} has {have} up to position {signed.position} whose project chain "
                               f"differs from the signed one ({'v1..v' + str(theirs[0]) if theirs else 'none'}); "
                               "the chain table was rewritten to agree, so no record says which of its events"}
        return None

    # ----------------------------------------------------------- lookups

    def project_events(self, project_id: str) -> list[Stored]:
        """One project's stored events (position, version, canonical bytes), in version order."""
        return list(self._project_events(project_id))

    def recorded_links(self, project_id: str) -> list[Recorded]:
        """The links the chain table holds for one project's events, in version order."""
        return self._recorded(project_id)

    def in_chain(self, project_id: str, version: int) -> bool:
        stmt = select(chain_table.c.position).where(
            chain_table.c.project_id == project_id, chain_table.c.version == version,
        )
        with self.store.reader.connect() as conn:
            return conn.execute(stmt).first() is not None

    def locate(self, project_id: str, version: int) -> int | None:
        """The store position of a project's event (None when the store has no such event)."""
        if self.store.database.kind == "sqlite":
            sql = (f"SELECT rowid FROM {self.app.recorder.events_table_name} "  # type: ignore[attr-defined]
                   "WHERE originator_id = :pid AND originator_version = :v")
            key: Any = UUID(project_id).hex
        else:
            sql = (f"SELECT notification_id FROM {events_table(self.store)} "
                   "WHERE originator_id = :pid AND originator_version = :v")
            key = UUID(project_id)
        with self.store.reader.connect() as conn:
            found = conn.execute(text(sql), {"pid": key, "v": version}).scalar()
        return None if found is None else int(found)

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

    def _project_events(self, project_id: str, form: int = FORM) -> Iterator[Stored]:
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
            yield read_stored(self.app, int(row.position), StoredEvent(
                originator_id=pid, originator_version=row.originator_version, topic=row.topic,
                state=bytes(row.state),
            ), form)


def events_table(store: ViewStore) -> str:
    """The events table's qualified name (PostgreSQL keeps it in the URL's schema)."""
    schema = store.database.schema
    return f'"{schema}".delivery_events' if schema else "delivery_events"
