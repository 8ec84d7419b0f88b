"""A process delivering notifications killed with SIGKILL mid-delivery: after a restart every notification
arrives, each delivery id once (a receiver de-duplicating by id sees each exactly once), nothing is lost,
and the milestones the first process found at risk or late are not raised again by the second.

SQLite: the notifier runs inside `delivery serve`; PostgreSQL: inside `delivery worker`."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

import pytest

from delivery import clock
from delivery.application import DeliveryApplication
from delivery.settings import Database
from notify.store import NotifyStore
from projections.store import make_engine
from tests.receivers import Receiver
from tests.served import DELIVERY_CLI, Server

FAST = {"DELIVERY_NOTIFY_RETRY_SECONDS": "0.1", "DELIVERY_NOTIFY_POLL_SECONDS": "0.1",
        "DELIVERY_NOTIFY_TIMEOUT_SECONDS": "5"}
PROJECTS = 4
GATES = 3


def wait_until(what: str, check: Callable[[], bool], timeout: float, log: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s:\n{log()}")
        time.sleep(0.05)


@contextmanager
def notifying_process(database: Database, tmp_path: Path, name: str) -> Iterator[tuple[Callable[[], None],
                                                                                          Callable[[], str]]]:
    """The process that delivers on this store, started; yields (kill -9, its log)."""
    log_path = tmp_path / f"{name}.log"
    if database.kind == "sqlite":
        server = Server(database.url, log_path, FAST)
        server.start()
        try:
            yield server.kill, server.log
        finally:
            server.kill()
        return
    env = {**os.environ, **FAST, "DELIVERY_DATABASE_URL": database.url, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as out:
        proc = subprocess.Popen([str(DELIVERY_CLI), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=tmp_path)

    def kill() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)

    try:
        yield kill, lambda: log_path.read_text(errors="replace")[-4000:]
    finally:
        kill()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def test_a_process_killed_mid_delivery_delivers_each_notification_once_after_restart(
    database: Database, tmp_path: Path,
) -> None:
    receiver = Receiver(delay=0.25).start()
    app = DeliveryApplication(database)
    engine = make_engine(database)
    try:
        store = NotifyStore(engine)
        sub, secret = store.subscribe(name="ops", project_id=None, channel="webhook",
                                      kinds=["gate_passed", "milestone_at_risk", "milestone_late"],
                                      target=receiver.url, language="en", secret=None, start_position=0,
                                      created_by="pm")
        receiver.secret = secret
        for i in range(PROJECTS):
            pid = str(app.create_project(name=f"P{i}", client="Acme", actor="pm").project_id)
            for _ in range(GATES):
                stage = app.get_project(pid).stage
                app.waive_stage_plan(pid, stage=stage, reason="known", actor="pm")
                app.transition(pid, to_stage=stage.next, actor="pm")
        # Two timed notices, raised by the scheduler of the first process, never again by the second.
        late = str(app.create_project(name="Late", client="Acme", actor="pm").project_id)
        app.plan_milestone(late, title="Prototype", stage="research", due_on=clock.today() - timedelta(days=3),
                           actor="pm")
        app.plan_milestone(late, title="Design", stage="research", due_on=clock.today() + timedelta(days=3),
                           actor="pm")
        expected = PROJECTS * GATES + 2

        with notifying_process(database, tmp_path, "first") as (kill, log):
            wait_until("a third of the deliveries", lambda: len(receiver.delivered()) >= expected // 3, 60, log)
            kill()  # while the sender waits on the slow receiver: one delivery is in flight
        sent_before = len(receiver.delivered())
        assert sent_before < expected, "everything was delivered before the kill: nothing was tested"

        with notifying_process(database, tmp_path, "second") as (_kill, log):
            wait_until("every delivery", lambda: len(receiver.delivered()) == expected and
                       all(d.state == "delivered" for d, _ in store.deliveries(sub.id)), 60, log)
            time.sleep(0.5)  # anything sent twice would arrive now

        counts = receiver.delivered()
        assert receiver.refused == []
        planned = {d.delivery_id for d, _ in store.deliveries(sub.id)}
        assert set(counts) == planned and len(planned) == expected
        # Only the one in flight when the process died may arrive twice, with the same delivery id.
        assert sum(counts.values()) - expected <= 1
        unique = {b["delivery_id"]: b for b in receiver.bodies()}
        assert Counter(b["project"]["name"] for b in unique.values()) == {
            **{f"P{i}": GATES for i in range(PROJECTS)}, "Late": 2}
        assert sorted(b["kind"] for b in unique.values() if b["project"]["name"] == "Late") == [
            "milestone_at_risk", "milestone_late"]
    finally:
        engine.dispose()
        app.close()
        receiver.stop()
