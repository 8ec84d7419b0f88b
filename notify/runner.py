"""The notifier: plans notices from the event stream into the outbox, raises the timed ones, delivers.

Two threads of their own, so a receiver that is slow or down never holds up a command or the views:

- the planner reads the events after its position, and in one transaction records the outbox rows,
  the attention list and its new position (compare-and-set: a batch is planned once, whatever restarts);
  every `schedule_seconds` it raises milestones turning at risk or late (once per transition, persisted);
- the sender takes the due outbox rows, delivers each with a timeout, and records the outcome: delivered,
  tried again after an exponential back-off with jitter (capped), or dead after `max_attempts`.

On SQLite `delivery serve` runs it; on PostgreSQL `delivery worker` does, while it holds an advisory lock
(a second worker waits, and takes over within a second or two when the first dies).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine

from delivery import clock
from delivery.application import DeliveryApplication
from notify import channels
from notify.kinds import Effects, effects_of
from notify.store import Delivery, NotifyStore, Raced
from projections.events import data as event_data
from projections.leader import Leadership

log = logging.getLogger(__name__)

BATCH = 200
STOP_SECONDS = 0.25
ERROR_FIRST_SECONDS = 0.5
ERROR_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class Policy:
    """Retries and pace, from the environment (docs/notifications.md)."""

    max_attempts: int = 8
    retry_seconds: float = 10.0
    retry_max_seconds: float = 3600.0
    poll_seconds: float = 0.5
    schedule_seconds: float = 60.0
    # After a save wakes the planner it waits this long, so a burst of saves is planned in one transaction
    # (on SQLite every planner transaction holds the store's one write lock that saves and the views need).
    gather_seconds: float = 0.2

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Policy:
        env = os.environ if environ is None else environ

        def number(name: str, default: float) -> float:
            text = env.get(name, "").strip()
            return float(text) if text else default

        return cls(max_attempts=max(1, int(number("DELIVERY_NOTIFY_MAX_ATTEMPTS", cls.max_attempts))),
                   retry_seconds=number("DELIVERY_NOTIFY_RETRY_SECONDS", cls.retry_seconds),
                   retry_max_seconds=number("DELIVERY_NOTIFY_RETRY_MAX_SECONDS", cls.retry_max_seconds),
                   poll_seconds=number("DELIVERY_NOTIFY_POLL_SECONDS", cls.poll_seconds),
                   schedule_seconds=number("DELIVERY_NOTIFY_SCHEDULE_SECONDS", cls.schedule_seconds),
                   gather_seconds=number("DELIVERY_NOTIFY_GATHER_SECONDS", cls.gather_seconds))

    def backoff(self, attempt: int) -> float:
        """Seconds before try `attempt + 1`: doubling from retry_seconds, capped, with jitter (half to all)."""
        ceiling = min(self.retry_max_seconds, self.retry_seconds * 2 ** (attempt - 1))
        return float(ceiling * random.uniform(0.5, 1.0))


class Notifier:
    """Plans and delivers the notifications of one store."""

    def __init__(self, app: DeliveryApplication, store: NotifyStore, *, policy: Policy | None = None,
                 settings: channels.Settings | None = None, today: Callable[[], date] = clock.today) -> None:
        self.app = app
        self.store = store
        self.policy = policy or Policy.from_env()
        self.settings = settings or channels.Settings.from_env()
        self.today = today
        self.postgres = app.database.kind == "postgresql"
        self.leadership = Leadership(app.database, "notifier")
        self.stop_event = threading.Event()
        self.wake_planner = threading.Event()
        self.wake_sender = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduled_at = 0.0

    @classmethod
    def on(cls, app: DeliveryApplication, engine: Engine, **kwargs: Any) -> Notifier:
        return cls(app, NotifyStore(engine), **kwargs)

    # ------------------------------------------------------------ one step each (tests call these)

    def plan_once(self) -> int:
        """Plan the next batch of events; returns how many events it covered."""
        old = self.store.position()
        notes = self.app.follower_recorder.select_notifications(old + 1, BATCH)
        if not notes:
            return 0
        batch: list[Effects] = []
        for note in notes:
            event = self.app.mapper.to_domain_event(note)
            batch.append(effects_of(type(event).__name__, event_data(event), project_id=str(event.originator_id),
                                    position=note.id, occurred_at=clock.as_utc(event.timestamp)))  # type: ignore[attr-defined]
        try:
            planned = self.store.plan(old, notes[-1].id, batch)
        except Raced:
            return 0
        if planned:
            self.wake_sender.set()
        return len(notes)

    def schedule_once(self) -> int:
        raised = self.store.schedule(self.today(), self.store.position())
        if raised:
            self.wake_sender.set()
        return raised

    def send_once(self, limit: int = 20) -> int:
        """Deliver what is due; returns how many attempts were made."""
        due = self.store.due(clock.now(), limit)
        for d in due:
            if self.stop_event.is_set():
                break
            self.deliver(d)
        return len(due)

    def deliver(self, d: Delivery) -> None:
        sub = self.store.subscription(d.subscription_id)
        try:
            detail = channels.send(sub.channel, target=sub.target, secret=self.store.secret_of(sub.id),
                                   language=sub.language, delivery_id=d.delivery_id, notice=d.notice,
                                   settings=self.settings)
        except channels.SendFailed as exc:
            attempt = d.attempts + 1
            if attempt >= self.policy.max_attempts:
                log.warning("notification %s to %s is dead after %d attempts: %s", d.delivery_id, sub.id, attempt, exc)
                self.store.record(d, ok=False, detail=str(exc), next_at=None)
            else:
                wait = self.policy.backoff(attempt)
                self.store.record(d, ok=False, detail=str(exc), next_at=clock.now() + timedelta(seconds=wait))
            return
        self.store.record(d, ok=True, detail=detail, next_at=None)

    # ------------------------------------------------------------ threads

    def start(self) -> None:
        for name, target in (("notify-planner", self._plan_loop), ("notify-sender", self._send_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self, _position: int = 0) -> None:
        """A save happened (SQLite): plan now rather than at the next poll."""
        self.wake_planner.set()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.wake_planner.set()
        self.wake_sender.set()
        for thread in self._threads:
            thread.join(timeout)
        self._disconnect()

    def _plan_loop(self) -> None:
        delay = ERROR_FIRST_SECONDS
        while not self.stop_event.is_set():
            try:
                if not self._lead():
                    self.stop_event.wait(1.0)
                    continue
                while not self.stop_event.is_set() and self.plan_once():
                    pass
                if time.monotonic() - self._scheduled_at >= self.policy.schedule_seconds:
                    self._scheduled_at = time.monotonic()
                    self.schedule_once()
                delay = ERROR_FIRST_SECONDS
                if self.wake_planner.wait(self.policy.poll_seconds):
                    self.stop_event.wait(self.policy.gather_seconds)
                self.wake_planner.clear()
            except Exception as exc:  # the database went away: back off and try again
                log.warning("notification planner: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                self._disconnect()
                self.stop_event.wait(delay)
                delay = min(delay * 2, ERROR_MAX_SECONDS)

    def _send_loop(self) -> None:
        delay = ERROR_FIRST_SECONDS
        while not self.stop_event.is_set():
            try:
                if not self.leading:
                    self.stop_event.wait(1.0)
                    continue
                if not self.send_once():
                    self.wake_sender.wait(self.policy.poll_seconds)
                    self.wake_sender.clear()
                delay = ERROR_FIRST_SECONDS
            except Exception as exc:  # the database went away: back off and try again
                log.warning("notification sender: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, ERROR_MAX_SECONDS)

    @property
    def leading(self) -> bool:
        return self.leadership.leading

    def _lead(self) -> bool:
        """On PostgreSQL, hold the notifier's advisory lock (one process plans and sends)."""
        if self.leadership.leading:
            return True
        if self.leadership.take():
            log.info("this process now delivers the notifications (position %d)", self.store.position())
        return self.leadership.leading

    def _disconnect(self) -> None:
        self.leadership.release()


def start_notifier(app: DeliveryApplication, store: NotifyStore) -> Notifier:
    """A running notifier, woken after each save of this process."""
    notifier = Notifier(app, store)
    app.after_save.append(notifier.wake)
    notifier.start()
    return notifier
