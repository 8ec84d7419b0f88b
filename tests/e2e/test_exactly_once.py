"""Exactly once across crashes: a `delivery serve` killed between save and answer, then a retry with the key.

The server runs as a real process with DELIVERY_TEST_EXIT_AFTER_SAVE naming one
Idempotency-Key: it exits (as kill -9 would) right after the command sent with
that key is recorded and before it answers. Restarted, the retry must answer
what the first request recorded and record nothing again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from delivery.settings import Database
from tests.served import Server, create_token, served

V1 = "/api/v1"
CRASH_KEY = "crash-after-save"


def _send(server: Server, token: str, path: str, body: Any, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(server.base + path, json=body, headers=headers, timeout=30.0)


def _crash_then_retry(server: Server, token: str, path: str, body: Any, key: str = CRASH_KEY) -> httpx.Response:
    with pytest.raises(httpx.HTTPError):  # the connection closes with no answer
        _send(server, token, path, body, key)
    assert server.wait_exit() == 137, server.log()
    server.start()
    retried = _send(server, token, path, body, key)
    again = _send(server, token, path, body, key)
    assert retried.status_code == again.status_code
    assert retried.json() == again.json() and retried.headers["ETag"] == again.headers["ETag"]
    assert retried.headers["Idempotent-Replayed"] == again.headers["Idempotent-Replayed"] == "true"
    return retried


def test_a_retry_after_a_crash_between_save_and_answer_records_nothing_again(
    database: Database, tmp_path: Path,
) -> None:
    url = database.url
    pm = create_token(url, "pm", "Crash PM")
    auditor = create_token(url, "auditor", "Crash auditor")
    with served(url, tmp_path / "serve.log", {"DELIVERY_TEST_EXIT_AFTER_SAVE": CRASH_KEY}) as server:
        created = _send(server, pm, f"{V1}/projects", {"name": "CRM rollout", "client": "Northwind"})
        assert created.status_code == 201, created.text
        pid = created.json()["id"]

        retried = _crash_then_retry(server, pm, f"{V1}/projects/{pid}/scope-items", {"title": "Login", "tier": "core"})
        assert retried.status_code == 201
        assert retried.json()["project_id"] == pid and retried.json()["version"] == 2
        assert retried.headers["ETag"] == '"2"'

        def events() -> list[dict[str, Any]]:
            response = httpx.get(f"{server.base}{V1}/projects/{pid}/events",
                                 headers={"Authorization": f"Bearer {auditor}"}, timeout=30.0)
            assert response.status_code == 200, response.text
            return list(response.json()["items"])

        recorded = events()
        assert [e["type"] for e in recorded] == ["Created", "ScopeItemAdded"]
        assert recorded[1]["data"]["item_id"] == retried.json()["id"]

        # The same key for another request is refused, and records nothing.
        other = _send(server, pm, f"{V1}/projects/{pid}/scope-items", {"title": "Cart", "tier": "core"}, CRASH_KEY)
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
        assert len(events()) == 2

    # A command that makes a project: the retry answers the project as the first request left it.
    with served(url, tmp_path / "serve2.log", {"DELIVERY_TEST_EXIT_AFTER_SAVE": "create-" + CRASH_KEY}) as server:
        body = {"name": "Website", "client": "Acme"}
        created = _crash_then_retry(server, pm, f"{V1}/projects", body, "create-" + CRASH_KEY)
        assert created.status_code == 201 and created.json()["name"] == "Website" and created.json()["version"] == 1
        listed = httpx.get(f"{server.base}{V1}/projects", headers={"Authorization": f"Bearer {auditor}"}, timeout=30.0)
        assert sorted(r["name"] for r in listed.json()["items"]) == ["CRM rollout", "Website"]
