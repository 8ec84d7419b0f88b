"""`delivery worker`: apply the views of a store from a process of their own.

On PostgreSQL the worker takes part in the same election as the API processes
(projections/applier.py): whoever holds the applier lock applies, so a worker
beside the API processes relieves them of it, and none is needed for the views
to move. It waits for the database when it is down at start, rides through a
restart, and stops within a second of SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

from delivery import logs
from delivery.application import DeliveryApplication
from projections import metrics
from projections.applier import RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS
from projections.service import ReadSide

if TYPE_CHECKING:
    from notify.runner import Notifier

log = logging.getLogger(__name__)


class Stopper:
    """Turns SIGTERM / SIGINT into a stop the worker sees at once."""

    def __init__(self) -> None:
        self.event = threading.Event()

    @property
    def stopped(self) -> bool:
        return self.event.is_set()

    def stop(self) -> None:
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.event.set()


def open_views(stopper: Stopper) -> tuple[DeliveryApplication, ReadSide] | None:
    """The application and its applying read side, once the database answers (None if stopped first)."""
    delay = RETRY_FIRST_SECONDS
    while not stopper.stopped:
        app: DeliveryApplication | None = None
        try:
            app = DeliveryApplication()
            return app, ReadSide(app, live=True, follow=False, stopping=stopper.event)
        except Exception as exc:  # the database is not there yet: wait for it
            log.warning("cannot open the store (%s: %s); trying again in %.1f s", type(exc).__name__, exc, delay)
            if app is not None:
                app.close()
            stopper.event.wait(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
    return None


def start_worker_notifier(app: DeliveryApplication, views: ReadSide, stopper: Stopper) -> Notifier | None:
    """The notifier runs beside the views (docs/notifications.md); its tables wait for the database too."""
    from notify.runner import Notifier
    from notify.store import NotifyStore

    delay = RETRY_FIRST_SECONDS
    while not stopper.stopped:
        try:
            notifier = Notifier(app, NotifyStore(views.store.engine))
        except Exception as exc:  # the database went away between the views and here
            log.warning("cannot open the notification tables (%s); trying again in %.1f s", exc, delay)
            stopper.event.wait(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        notifier.start()
        return notifier
    return None


def run_worker(poll_seconds: float = 0.5, metrics_port: int | None = None) -> int:
    logs.configure()
    stopper = Stopper()
    stopper.install()
    opened = open_views(stopper)
    if opened is None:
        return 0
    app, views = opened
    if views.applier is not None:
        views.applier.idle_seconds = poll_seconds
    log.info("worker following %s from position %d", app.database.kind, views.position())
    notifier = start_worker_notifier(app, views, stopper)
    if metrics_port:
        from notify.metrics import NotifyCollector

        more = (NotifyCollector(app, notifier.store),) if notifier is not None else ()
        metrics.serve(app, views, metrics_port, more=more)
        log.info("worker metrics at http://127.0.0.1:%d/metrics", metrics_port)
    try:
        stopper.event.wait()
        log.info("worker stopping at position %d", views.position())
    finally:
        if notifier is not None:
            notifier.stop()
        views.close()
        app.close()
    return 0
