"""What a Prometheus scrape reads from the store and the read side: positions, lag, the read side's counters.

Asked at each scrape (not per request or per event). `/metrics` of every API process serves it, and
`delivery worker --metrics-port` serves it for the worker.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from delivery.application import DeliveryApplication
from projections.service import ReadSide

# The counters the read side keeps (`ReadSide.metrics`), shown even before they first move.
READ_COUNTERS = {
    "events_applied": "Events the views applied in this process.",
    "batches_applied": "Batches (one transaction each) the views applied in this process.",
    "events_handed": "Events this process's applier took from its own saves instead of reading the store.",
    "apply_failures": "Events the views could not apply (the views stop there: see /readyz).",
    "applier_errors": "Errors of this process's applier thread (database away...); it backs off and retries.",
    "kept_reads": "Reads answered from kept bytes before routing (api/fastpath.py KeptReads).",
    "direct_commands": "Commands run without FastAPI's routing (api/fastpath.py DirectCommands).",
}


class ReadSideCollector(Collector):
    """The store's last position, the views' position and lag, and the read side's counters."""

    def __init__(self, app: DeliveryApplication, reads: ReadSide) -> None:
        self.app = app
        self.reads = reads

    def collect(self) -> Iterator[Metric]:
        reads = self.reads
        views = reads.position()
        yield GaugeMetricFamily("delivery_views_position", "The store position every view has reached.", views)
        yield GaugeMetricFamily("delivery_views_stuck", "1 while the views cannot apply an event.",
                                1 if reads.failure is not None else 0)
        try:
            stored = self.app.recorder.max_notification_id() or 0
        except Exception:  # the database is away: /readyz says so; the scrape still answers
            stored = None
        yield GaugeMetricFamily("delivery_database_up", "1 when the database answered this scrape.",
                                0 if stored is None else 1)
        if stored is not None:
            yield CounterMetricFamily("delivery_events_recorded", "Events recorded in the store (its last position).",
                                      stored)
            yield GaugeMetricFamily("delivery_projection_lag_events",
                                    "Events recorded that the views have not applied yet.", max(0, stored - views))
        together = getattr(self.app.recorder, "group_commit", None)
        if together is not None:
            yield CounterMetricFamily("delivery_saves", "Saves of events this process wrote (commands, mostly).",
                                      together.saves)
            yield CounterMetricFamily("delivery_save_transactions",
                                      "Transactions those saves took: saves that meet share one (group commit).",
                                      together.transactions)
        counts = reads.metrics
        for name in sorted(set(READ_COUNTERS) | set(counts)):
            yield CounterMetricFamily(f"delivery_{name}", READ_COUNTERS.get(name, name.replace("_", " ")),
                                      counts.get(name, 0))


def serve(app: DeliveryApplication, reads: ReadSide, port: int, host: str = "127.0.0.1",
          more: tuple[Collector, ...] = ()) -> None:
    """Serve these metrics (and `more`) at http://host:port/metrics from a daemon thread (for `delivery worker`)."""
    registry = CollectorRegistry()
    registry.register(ReadSideCollector(app, reads))
    for collector in more:
        registry.register(collector)
    start_http_server(port, addr=host, registry=registry)
