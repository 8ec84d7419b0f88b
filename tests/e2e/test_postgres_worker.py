"""Several API processes and one worker on PostgreSQL: a read right after a write sees it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.service import ReadSide
from tests.e2e.conftest import Api, make_api

pytestmark = pytest.mark.postgres


@pytest.fixture
def worker(postgres_url: str) -> Iterator[None]:
    """`delivery worker` in this process: its own application, its own view store, the applier lock."""
    app = DeliveryApplication(Database(postgres_url))
    views = ReadSide(app, live=True)
    yield
    views.close()
    app.close()


@pytest.fixture
def two_apis(postgres_url: str, worker: None) -> Iterator[tuple[Api, Api]]:
    first = make_api(Database(postgres_url), live=False)
    second = make_api(Database(postgres_url), live=False)
    a, b = next(first), next(second)
    b.tokens = a.tokens  # one token table, shared by every process
    yield a, b
    for gen in (first, second):
        next(gen, None)


def test_a_write_through_one_process_is_read_at_once_through_another(two_apis: tuple[Api, Api]) -> None:
    a, b = two_apis
    created = a.ok("pm", "POST", "/api/v1/projects", {"name": "CRM rollout", "client": "Northwind"}, status=201)
    pid = created["id"]
    for i in range(5):
        a.ok("pm", "POST", f"/api/v1/projects/{pid}/scope-items", {"title": f"Feature {i}", "tier": "core"},
             status=201)
        summary = a.ok("pm", "GET", f"/api/v1/projects/{pid}")
        assert len(summary["scope"]) == i + 1  # read-your-writes: the API waited for the worker
    b.ok("pm", "POST", f"/api/v1/projects/{pid}/milestones",
         {"title": "Interviews", "stage": "research", "due_on": "2026-12-01", "deliverables": []}, status=201)
    assert [m["title"] for m in a.ok("pm", "GET", f"/api/v1/projects/{pid}/milestones")["items"]] == ["Interviews"]
    rows = b.ok("pm", "GET", "/api/v1/projects")["items"]
    assert [r["name"] for r in rows] == ["CRM rollout"]
    events = a.ok("auditor", "GET", f"/api/v1/projects/{pid}/events")["items"]
    assert len(events) == 7
