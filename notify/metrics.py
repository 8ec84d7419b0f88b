"""What a Prometheus scrape reads of the notifications: deliveries by state, and how far the planner is behind."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from delivery.application import DeliveryApplication
from notify.store import NotifyStore
from notify.tables import outbox

STATES = ("pending", "delivered", "dead")


class NotifyCollector(Collector):
    """`delivery_notifications{state}` and `delivery_notify_lag_events`, asked at each scrape."""

    def __init__(self, app: DeliveryApplication, store: NotifyStore) -> None:
        self.app = app
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            with self.store.reader.connect() as conn:
                rows = conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
            counts = {str(state): int(n) for state, n in rows}
            lag = max(0, (self.app.recorder.max_notification_id() or 0) - self.store.position())
        except Exception:  # the database is away: delivery_database_up says so; the scrape still answers
            return
        family = GaugeMetricFamily("delivery_notifications", "Planned deliveries by state (dead: the dead letters).",
                                   labels=["state"])
        for state in STATES:
            family.add_metric([state], int(counts.get(state, 0)))
        yield family
        yield GaugeMetricFamily("delivery_notify_lag_events",
                                "Events recorded that the notifier has not planned yet.", lag)
