"""The one applier of a store's views, and how other processes hear that the views moved.

- SQLite: one background thread in the serving process applies the views, woken
  after each save; it also looks every half second for events other processes recorded.
- PostgreSQL: exactly one process applies. `delivery worker` and every API process
  try for an advisory lock; the holder applies, woken by the store's NOTIFY, and
  announces each committed batch on the views' channel. When it dies its
  connection closes, the lock is released and another process takes over within a second.
  Every API process follows the announcements (`Follower`) to wake its waiting writers
  and drop cached reads.

Nothing here can wedge: database errors back off and retry (0.5 s doubling to 5 s),
an event that cannot be applied is reported (log line with its position, a counter,
`/readyz`) and retried with back-off, and a stop is seen within half a second.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from projections.leader import Leadership, pg_connect
from projections.store import ApplyFailed

if TYPE_CHECKING:
    from projections.service import ReadSide

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
# At most this long between tries while the database is away: the views move again soon after it is back.
RETRY_MAX_SECONDS = 5.0
# How long an idle applier sleeps between looks at the store (a save or a NOTIFY wakes it sooner).
IDLE_SECONDS = 0.5
# A follower that heard nothing re-reads the views' position this often (a missed NOTIFY costs no more).
FOLLOWER_CHECK_SECONDS = 1.0
# No wait is longer than this, so a stop is seen at once.
STOP_SECONDS = 0.25
# Once woken, the applier lets the commands already under way in this process land first, at most this long,
# and applies them in one batch: under load a batch carries several commands' events for the cost of one
# (at 32 connections on SQLite, ~4 events a batch against ~2 with 2 ms and only saves already writing counted).
GATHER_SECONDS = 0.010


class Applier:
    """Applies every new event to the views in one thread; on PostgreSQL only while it holds the lock."""

    def __init__(self, reads: ReadSide, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self.reads = reads
        self.idle_seconds = idle_seconds
        self.postgres = reads.app.database.kind == "postgresql"
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.leadership = Leadership(reads.app.database, "applier")
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="views-applier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._disconnect()

    def run(self) -> None:
        """Follow the store until stopped."""
        delay = RETRY_FIRST_SECONDS
        while not self.stop_event.is_set():
            try:
                if self.postgres and not self._lead():
                    self.stop_event.wait(1.0)
                    continue
                self.reads.app.let_commands_land(GATHER_SECONDS)
                self.reads.catch_up()
                self.reads.failure = None
                delay = RETRY_FIRST_SECONDS
                if self._idle() is False:
                    # Nothing woke it: another process may have applied events (a CLI command),
                    # and there is time to leave view snapshots for *as of* reads.
                    self.reads.advanced_elsewhere()
                    self.reads.take_snapshots()
            except ApplyFailed as exc:
                self.reads.report_failure(exc)
                self.stop_event.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            except Exception as exc:  # the database went away, a network error: back off and try again
                log.warning("views applier: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                self.reads.metrics["applier_errors"] += 1
                self._disconnect()
                self.stop_event.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    def _lead(self) -> bool:
        """Hold the applier lock (PostgreSQL); LISTEN on the store's channel to be woken."""
        if self.leadership.leading:
            return True
        if not self.leadership.take():
            return False
        # Listen only once leading: a waiting process would pile up notifications it never reads.
        channel = getattr(self.reads.app.recorder, "channel_name", None)
        if channel:
            from psycopg import sql

            self.leadership.conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(channel)))
        log.info("this process now applies the views (position %d)", self.reads.position())
        return True

    def _idle(self) -> bool:
        """Wait for a save or a NOTIFY (True), or the idle time out (False)."""
        conn = self.leadership.conn
        if conn is not None:
            # Woken by the store's NOTIFY (a commit); stop is seen within STOP_SECONDS.
            deadline = time.monotonic() + self.idle_seconds
            while not self.stop_event.is_set() and time.monotonic() < deadline:
                if self.wake.is_set() or any(True for _ in conn.notifies(timeout=STOP_SECONDS, stop_after=1)):
                    self.wake.clear()
                    return True
            return False
        woken = self.wake.wait(self.idle_seconds)
        self.wake.clear()
        return woken

    def _disconnect(self) -> None:
        self.leadership.release()


class Follower:
    """Hears the applier's announcements on PostgreSQL and passes them to the read side."""

    def __init__(self, reads: ReadSide, on_advance: Callable[[int, dict[str, int] | None], None]) -> None:
        self.reads = reads
        self.on_advance = on_advance
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self.run, name="views-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self._thread.join(timeout)

    def run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while not self.stop_event.is_set():
            conn = None
            try:
                conn = pg_connect(self.reads.app.database)
                from psycopg import sql

                conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.reads.store.views_channel)))
                # Whatever was announced while not listening is unknown: start from the stored position.
                self.on_advance(self.reads.stored_position(), None)
                delay = RETRY_FIRST_SECONDS
                checked = time.monotonic()
                while not self.stop_event.is_set():
                    for note in conn.notifies(timeout=STOP_SECONDS, stop_after=50):
                        checked = time.monotonic()
                        self.on_advance(*parse_announcement(note.payload))
                    if time.monotonic() - checked > FOLLOWER_CHECK_SECONDS:
                        checked = time.monotonic()
                        self.on_advance(self.reads.stored_position(), {})
            except Exception as exc:  # the database went away: listen again when it is back
                log.warning("views follower: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):  # already gone with the database
                        conn.close()


# The version given to a project announced without one (by a process from before versions were announced).
UNKNOWN_VERSION = 2**62


def parse_announcement(payload: str) -> tuple[int, dict[str, int] | None]:
    """(position, each project touched with its version now), or None for the projects when they were too many."""
    head, _, rest = payload.partition(" ")
    if rest.strip() == "*":
        return int(head), None
    versions: dict[str, int] = {}
    for item in rest.split():
        pid, _, version = item.partition(":")
        versions[pid] = int(version) if version.isdigit() else UNKNOWN_VERSION
    return int(head), versions

