"""`delivery worker --metrics-port`: the worker's read side served to Prometheus from its own thread."""

from __future__ import annotations

import socket

import httpx

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections import metrics
from projections.service import ReadSide


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_worker_serves_its_positions_lag_and_counters(sqlite_url: str) -> None:
    app = DeliveryApplication(Database(sqlite_url))
    reads = ReadSide(app)
    try:
        recorded = app.create_project(name="CRM", client="Northwind", actor="pm")
        reads.wait_for(recorded.position)
        port = _free_port()
        metrics.serve(app, reads, port)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        reads.close()
        app.close()
    for line in ("delivery_events_recorded_total 1.0", "delivery_views_position 1.0",
                 "delivery_projection_lag_events 0.0", "delivery_applier_errors_total 0.0",
                 "delivery_events_applied_total 1.0"):
        assert line in text, line
