"""`delivery worker`: follow the store and keep the views current (one per PostgreSQL database).

Several API processes write events; this process applies them to the views. It
polls `select_notifications` from the views' tracking position, so a restart
resumes where it stopped; two workers by mistake are safe (the store serialises
appliers and the tracking table refuses a position twice) but pointless.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from delivery.application import DeliveryApplication
from projections.service import ReadSide

log = logging.getLogger(__name__)

# After a failure (database restarting, network), wait this long before trying again, doubling up to the max.
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class Stopper:
    """Turns SIGTERM / SIGINT into a clean stop between batches."""

    def __init__(self) -> None:
        self.stopped = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopped = True


Idle = Callable[[float], None]


def listen_for_events(app: DeliveryApplication) -> tuple[Idle, Callable[[], None]]:
    """On PostgreSQL, wake as soon as the store NOTIFYs a new event instead of sleeping out the poll."""
    channel = getattr(app.recorder, "channel_name", None)
    if app.database.kind != "postgresql" or channel is None:
        return time.sleep, lambda: None
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(app.database.url.split("?", 1)[0], autocommit=True)
    conn.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(channel)))

    def idle(seconds: float) -> None:
        for _ in conn.notifies(timeout=seconds, stop_after=1):
            pass

    return idle, conn.close


def follow(
    views: ReadSide, stopper: Stopper, poll_seconds: float, max_rounds: int | None = None,
    idle: Idle = time.sleep,
) -> int:
    """Catch up, then wait for more; returns the number of events applied. `max_rounds` bounds it for tests."""
    applied = 0
    rounds = 0
    delay = RETRY_FIRST_SECONDS
    while not stopper.stopped and (max_rounds is None or rounds < max_rounds):
        rounds += 1
        try:
            count = views.catch_up()
        except Exception:
            # Keep following through a database restart; the tracking position makes retries safe.
            log.exception("catching up failed; retrying in %.1f s", delay)
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        delay = RETRY_FIRST_SECONDS
        applied += count
        if count:
            log.info("applied %d events; views at position %d", count, views.position())
        else:
            idle(poll_seconds)
    return applied


def run_worker(poll_seconds: float = 0.5) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    stopper = Stopper()
    stopper.install()
    app = DeliveryApplication()
    try:
        with ReadSide(app) as views:
            log.info("worker following %s from position %d", app.database.kind, views.position())
            idle, stop_listening = listen_for_events(app)
            try:
                follow(views, stopper, poll_seconds, idle=idle)
            finally:
                stop_listening()
            log.info("worker stopped at position %d", views.position())
    finally:
        app.close()
    return 0
