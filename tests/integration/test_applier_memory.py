"""What the applier keeps between batches (positions, chain heads, headers, reference classes) and the events a
process hands it from its own saves: never a different view from reading everything again.

- two appliers taking turns on one store (each finds the positions moved by the other, forgets what it kept
  and reads again) build the same views and chain as one applier;
- a batch right after the applier's own reads neither the positions nor the chain's heads;
- a live applier takes its own process's saves from the save, and still applies what another process saved.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import event, select

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.integrity import Verifier
from projections.service import ReadSide
from projections.tables import chain_table
from tests.histories import play
from tests.integration.test_views_engine import stored

HISTORY = [(k % 15, k * 7) for k in range(40)]


def _source(folder: str) -> DeliveryApplication:
    app = DeliveryApplication(Database(f"sqlite:///{Path(folder) / 'source.sqlite3'}"))
    for i in range(3):
        play(app, HISTORY, name=f"Project {i}")
    return app


def _copy_one(source: Any, target: DeliveryApplication) -> None:
    target.recorder.insert_events([StoredEvent(
        originator_id=source.originator_id, originator_version=source.originator_version, topic=source.topic,
        state=source.state,
    )])


def _plain(tables: dict[str, Any]) -> dict[str, Any]:
    """Stored rows with datetimes as naive UTC (PostgreSQL gives them with a zone, SQLite without)."""
    def plain(value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    return {name: [tuple(plain(v) for v in row) for row in rows] for name, rows in tables.items()}


def _chain(views: ReadSide) -> list[tuple[Any, ...]]:
    with views.store.reader.connect() as conn:
        return [tuple(r) for r in conn.execute(select(chain_table).order_by(chain_table.c.position))]


def test_two_appliers_taking_turns_build_what_one_builds(database: Database) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = _source(folder)
        one_app = DeliveryApplication(Database(f"sqlite:///{Path(folder) / 'one.sqlite3'}"))
        app = DeliveryApplication(database)
        try:
            with ReadSide(one_app) as one, ReadSide(app) as a, ReadSide(app) as b:
                turns = "aabab" "bbaaa" "babba"
                notifications = source.recorder.select_notifications(1, 100_000)
                for i, n in enumerate(notifications):
                    _copy_one(n, one_app)
                    _copy_one(n, app)
                    if i % 3 == 2:  # batches of three events, then of one
                        continue
                    one.catch_up()
                    (a if turns[i % len(turns)] == "a" else b).catch_up()
                one.catch_up()
                a.catch_up()
                b.catch_up()
                assert _plain(stored(a)) == _plain(stored(one))
                assert _chain(a) == _chain(one)
                assert Verifier(app, a.store).walk().valid
        finally:
            app.close()
            one_app.close()
            source.close()


def test_a_batch_after_the_appliers_own_reads_neither_positions_nor_chain_heads(database: Database) -> None:
    app = DeliveryApplication(database)
    try:
        with ReadSide(app) as views:
            pid = play(app, HISTORY[:5], name="Kept")
            views.catch_up()
            app.add_scope_item(pid, title="First", tier="core", actor="pm@agency")
            views.catch_up()  # reads once: after a batch of its own the applier knows where things stand
            sent: list[str] = []
            event.listen(views.store.engine, "before_cursor_execute",
                         lambda _c, _cur, statement, *_a: sent.append(" ".join(statement.split())))
            app.add_scope_item(pid, title="Second", tier="core", actor="pm@agency")
            assert views.catch_up() == 1
            reads = [s for s in sent if s.upper().startswith("SELECT")]
            assert not [s for s in reads if "view_positions" in s or "event_chain" in s], reads
            assert not [s for s in reads if "FROM portfolio" in s], reads  # the header kept from the last batch
            assert views.summary(pid).version == app.get_project(pid).version
    finally:
        app.close()


def test_a_live_applier_takes_its_own_saves_and_reads_what_another_process_saved(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = DeliveryApplication(Database(url))
    other = DeliveryApplication(Database(url))  # another process writing the same file: no hand-over from it
    try:
        with ReadSide(app, live=True) as views:
            mine = play(app, [], name="Mine")  # in research: scope items may be added
            # Saves of this process one after another: the applier takes them from the saves. (Right after
            # another process's event it reads from the store, and its own events in that run with it.)
            for k in range(3):
                app.add_scope_item(mine, title=f"Mine {k}", tier="core", actor="pm@agency")
            theirs = play(other, [], name="Theirs")
            for k in range(3, 6):
                app.add_scope_item(mine, title=f"Mine {k}", tier="core", actor="pm@agency")
                other.add_scope_item(theirs, title=f"Theirs {k}", tier="core", actor="pm@agency")
            app.add_scope_item(mine, title="Last", tier="core", actor="pm@agency")  # waits for its views
            # Each save hands its event before it wakes the applier; one may still meet the applier's idle look
            # between its commit and the hand-over, and be read instead.
            assert views.metrics["events_handed"] >= 2
            assert views.summary(mine).version == app.get_project(mine).version
            assert views.summary(theirs).version == other.get_project(theirs).version
            assert views.metrics["events_applied"] == app.recorder.max_notification_id()
            with tempfile.TemporaryDirectory() as folder:
                ref_app = DeliveryApplication(Database(f"sqlite:///{Path(folder) / 'ref.sqlite3'}"))
                try:
                    for n in app.recorder.select_notifications(1, 100_000):
                        _copy_one(n, ref_app)
                    with ReadSide(ref_app) as ref:
                        ref.catch_up()
                        assert _chain(views) == _chain(ref)
                        assert {r.project_id: r.version for r in views.portfolio_all(now=_now())} == \
                            {r.project_id: r.version for r in ref.portfolio_all(now=_now())}
                finally:
                    ref_app.close()
    finally:
        other.close()
        app.close()


def _now() -> Any:
    from tests.integration.test_as_of_property import NOW

    return NOW


def test_a_project_another_process_wrote_to_is_read_again_before_its_write_shows(tmp_path: Path) -> None:
    """SQLite, views applied in the process: cached projects are used without a query per command, and the
    applier drops the ones another process wrote to before those writes show in a view."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    app = DeliveryApplication(Database(url))
    other = DeliveryApplication(Database(url))  # another process writing the same file
    try:
        with ReadSide(app, live=True) as views:
            assert app.repository.fastforward is False
            pid = play(app, [], name="Shared")
            app.add_scope_item(pid, title="Ours", tier="core", actor="pm@agency")  # cached here now
            item = other.add_scope_item(pid, title="Theirs", tier="core", actor="pm@agency").value
            theirs = other.get_project(pid).version
            deadline = time.monotonic() + 10
            while views.summary(pid).version < theirs:  # the applier finds it within its idle look
                assert time.monotonic() < deadline, "the other process's write never showed"
                time.sleep(0.05)
            # Their item is known here as soon as it shows: the command runs on the project read again.
            app.retitle_scope_item(pid, item_id=item, title="Theirs, retitled", actor="pm@agency")
            # A client that saw a newer version than a stale copy holds (If-Match) is not refused for it.
            other.add_scope_item(pid, title="Later", tier="core", actor="pm@agency")
            latest = other.get_project(pid).version
            app.add_scope_item(pid, title="Mine", tier="core", actor="pm@agency", expected_version=latest)
            assert [s.title for s in app.get_project(pid).scope.values()][-1] == "Mine"
        # Without views in the process (a CLI command), every command asks the store for what is new.
        assert other.repository.fastforward is True
    finally:
        other.close()
        app.close()
