"""An event the views cannot apply is reported loudly: /readyz and /metrics say where, writes answer 503 at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from delivery.settings import Database
from tests.e2e.conftest import Api, make_api


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(Database(sqlite_url))


def test_health_probes_answer_while_all_is_well(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["lag_events"] == 0 and ready.json()["lag_seconds"] == 0
    assert "delivery_views_stuck 0.0" in api.client.get("/metrics").text  # the Prometheus text format


def test_a_store_the_views_cannot_follow_is_reported_with_its_position(api: Api) -> None:
    pid = api.ok("pm", "POST", "/api/v1/projects", {"name": "CRM", "client": "Northwind"}, status=201)["id"]
    api.ok("pm", "POST", f"/api/v1/projects/{pid}/scope-items", {"title": "Leads", "tier": "core"}, status=201)
    services = api.app.state.services
    with services.reads.store.engine.begin() as conn:  # a bad restore: event 2 reappears at position 99
        conn.execute(text("UPDATE stored_events SET rowid = 99 WHERE rowid = 2"))

    started = time.monotonic()
    refused = api.post("pm", f"/api/v1/projects/{pid}/scope-items", {"title": "Quotes", "tier": "core"})
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"]
    body = refused.json()["error"]
    assert body["code"] == "views_behind" and body["details"]["recorded"] is True
    assert body["details"]["stuck_at"] == 99 and "99" in body["message"]
    assert time.monotonic() - started < 9  # said at once, not after the whole wait

    ready = api.client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"]
    assert ready.json()["error"]["code"] == "views_stuck"
    assert ready.json()["error"]["details"]["stuck_at"] == 99
    # Behind by the events from the stuck one on, the oldest of them waiting since it was recorded.
    assert ready.json()["error"]["details"]["lag_events"] >= 1
    assert ready.json()["error"]["details"]["lag_seconds"] >= 0
    metrics = api.client.get("/metrics").text
    assert "delivery_views_stuck 1" in metrics and "delivery_apply_failures_total" in metrics
