"""Writers taking turns: on SQLite the views' and the library's writers share one lock; on both stores saves that
meet share one transaction (delivery/keyed.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from delivery import keyed
from delivery.application import LOCK_STRIPES, DeliveryApplication
from delivery.settings import Database
from projections.store import ViewStore


def test_a_views_transaction_holds_the_turn_until_its_connection_goes_back(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    app = DeliveryApplication(database)
    store = ViewStore(database)
    try:
        turn = keyed.writer_lock(database.sqlite_path)
        assert turn is not None and not turn.locked()
        with store.engine.begin():
            assert turn.locked()
        assert not turn.locked()
        # A connection thrown away mid-transaction gives the turn back too.
        with store.engine.connect() as conn:
            conn.begin()
            assert turn.locked()
            conn.invalidate()
        assert not turn.locked()
        # A library save waits for a views transaction to end, then goes ahead.
        saved: list[float] = []
        with store.engine.begin():
            began = time.monotonic()
            writer = threading.Thread(target=lambda: (app.create_project(name="Turns", client="C", actor="pm"),
                                                      saved.append(time.monotonic())))
            writer.start()
            time.sleep(0.3)
            assert not saved
        writer.join(10)
        assert saved and saved[0] - began >= 0.3
    finally:
        store.close()
        app.close()


def test_saves_that_meet_share_a_transaction_and_a_conflict_among_them_fails_alone(database: Database) -> None:
    app = DeliveryApplication(database)
    try:
        # Five projects under five different locks: the application's project locks are striped, and a save
        # waiting in the queue holds its stripe (two projects sharing one would not both reach the queue).
        pids: list[Any] = []
        created = 0
        while len(pids) < 5:
            pid = app.create_project(name=f"Together {created}", client="C", actor="pm").project_id
            created += 1
            if all(pid.int % LOCK_STRIPES != other.int % LOCK_STRIPES for other in pids):
                pids.append(pid)
        recorder: Any = app.recorder
        together = recorder.group_commit
        first = recorder.select_notifications(1, 1)[0]  # project 0's creation: stored again, it conflicts
        again = StoredEvent(originator_id=first.originator_id, originator_version=first.originator_version,
                            topic=first.topic, state=first.state)
        before = (together.saves, together.transactions)
        outcomes: dict[str, Any] = {}

        def add(i: int) -> None:
            key = keyed.CommandKey("token", f"key {i}", f"fingerprint {i}") if i % 2 else None
            with app.keyed(key):  # keyed and unkeyed saves meet: each key's row gets its own save's position
                outcomes[f"add {i}"] = app.add_scope_item(pids[i], title=f"Item {i}", tier="core", actor="pm")

        def conflict() -> None:
            try:
                recorder.insert_events([again])
            except IntegrityError as exc:
                outcomes["conflict"] = exc

        # The first save leads and is held inside its transaction until the rest have queued behind it.
        write_all, held, release = together._write_all, threading.Event(), threading.Event()

        def first_held(saves: list[Any]) -> Any:
            if not held.is_set():
                held.set()
                release.wait(10)
            return write_all(saves)

        together._write_all = first_held
        threads = [threading.Thread(target=add, args=(i,)) for i in range(5)] + [threading.Thread(target=conflict)]
        threads[0].start()
        assert held.wait(10)
        for t in threads[1:]:
            t.start()
        deadline = time.monotonic() + 10
        while len(together._waiting) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(together._waiting) == 5
        release.set()
        for t in threads:
            t.join(10)
        assert isinstance(outcomes["conflict"], IntegrityError)
        assert all(outcomes[f"add {i}"].version == 2 for i in range(5))
        assert together.saves - before[0] == 6
        # The leader alone, then the five that met: shared, rolled back for the conflict, then each alone.
        assert together.transactions - before[1] == 1 + 1 + 5
        positions = sorted(outcomes[f"add {i}"].position for i in range(5))
        assert len(set(positions)) == 5
        stored = recorder.select_notifications(1, 100)
        assert len(stored) == created + 5  # the creations, five scope items: nothing twice
        assert all(app.get_project(pid).version == 2 for pid in pids)
        for i in (1, 3):
            kept = app.kept_command(keyed.CommandKey("token", f"key {i}", f"fingerprint {i}"))
            recorded = outcomes[f"add {i}"]
            assert kept is not None and (kept.position, kept.version) == (recorded.position, 2)
    finally:
        app.close()
