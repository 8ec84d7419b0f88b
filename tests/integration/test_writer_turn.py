"""SQLite: the views' writers and the library's writers of one file take turns on one lock (delivery/keyed.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from delivery import keyed
from delivery.application import DeliveryApplication
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
