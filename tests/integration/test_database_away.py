"""The database goes away under a running `delivery serve`: 503 with Retry-After, never 500; back by itself.

A real server process on a private PostgreSQL cluster (tests/pg_cluster.py), the
cluster stopped and started for real. While it is down every request (reads,
writes with and without Idempotency-Key, tokens, pages, readiness) is answered
503 with `Retry-After` in the API's error shape (pages: an HTML page), or, for a
read kept in memory, 200; none waits long. Once it is back, writes and reads work
again without a restart, and a write refused during the outage, retried with its
key, is recorded once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pg_cluster import PrivateCluster, private_postgres_fixture  # noqa: F401 (the fixture)
from tests.served import Server, create_token, served

pytestmark = pytest.mark.postgres

V1 = "/api/v1"
# Generous: the store gives up on a pooled connection after ~3 s per try (delivery/settings.py); the point
# is that nothing waits for minutes (the library's own retries) or hangs.
ANSWER_DEADLINE = 15.0
RECOVERY_DEADLINE = 30.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _call(server: Server, method: str, path: str, token: str | None, **kw: Any) -> tuple[httpx.Response, float]:
    headers = {**kw.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    response = httpx.request(method, server.base + path, headers=headers, timeout=60.0, **kw)
    return response, time.monotonic() - started


def _signed_in(server: Server, token: str) -> httpx.Client:
    client = httpx.Client(base_url=server.base, timeout=60.0)
    csrf = CSRF.search(client.get("/signin").text)
    assert csrf is not None
    signed = client.post("/signin", data={"csrf": csrf[1], "token": token, "next": ""})
    assert signed.status_code == 303, signed.text
    return client


def test_database_away_is_503_with_retry_after_and_recovers(private_postgres: PrivateCluster, tmp_path: Path) -> None:
    url = private_postgres.url
    pm = create_token(url, "pm", "Outage PM")
    auditor = create_token(url, "auditor", "Outage auditor")
    with served(url, tmp_path / "serve.log") as server:
        created, _ = _call(server, "POST", f"{V1}/projects", pm, json={"name": "CRM rollout", "client": "Northwind"})
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        page = _signed_in(server, pm)
        assert page.get("/portfolio").status_code == 200

        private_postgres.stop()
        outage: list[tuple[str, httpx.Response, float]] = []

        def during(name: str, method: str, path: str, token: str | None, **kw: Any) -> None:
            response, took = _call(server, method, path, token, **kw)
            outage.append((name, response, took))

        during("summary", "GET", f"{V1}/projects/{pid}", pm)
        during("portfolio", "GET", f"{V1}/projects?sort=health", auditor)
        during("as of", "GET", f"{V1}/projects/{pid}?as_of=2026-01-01T00:00:00Z", auditor)
        during("events", "GET", f"{V1}/projects/{pid}/events", auditor)
        during("write", "POST", f"{V1}/projects/{pid}/scope-items", pm, json={"title": "Login", "tier": "core"})
        during("keyed write", "POST", f"{V1}/projects/{pid}/scope-items", pm,
               json={"title": "Cart", "tier": "core"}, headers={"Idempotency-Key": "during-outage"})
        during("create", "POST", f"{V1}/projects", pm, json={"name": "Mall", "client": "Acme"})
        during("unknown token", "GET", f"{V1}/projects", "dt_" + "x" * 40)
        during("new token", "POST", f"{V1}/tokens", pm, json={"role": "auditor", "name": "Late"})
        during("readyz", "GET", "/readyz", None)
        started = time.monotonic()
        page_response = page.get("/portfolio")
        outage.append(("page", page_response, time.monotonic() - started))

        problems = []
        for name, response, took in outage:
            if took > ANSWER_DEADLINE:
                problems.append(f"{name}: answered after {took:.1f} s")
            if response.status_code == 200 and name in ("summary", "portfolio"):
                continue  # kept in memory since the last event: still true, no database needed
            if response.status_code != 503 or "Retry-After" not in response.headers:
                problems.append(f"{name}: {response.status_code} {response.headers.get('Retry-After')} "
                                f"{response.text[:200]}")
            elif name != "page" and response.json()["error"]["code"] not in ("database_unavailable", "views_behind"):
                problems.append(f"{name}: {response.text[:200]}")
        assert not problems, "\n".join(problems) + "\n" + server.log()
        assert "text/html" in page_response.headers["content-type"]
        assert server.alive()

        private_postgres.start()
        deadline = time.monotonic() + RECOVERY_DEADLINE
        while True:
            retried, _ = _call(server, "POST", f"{V1}/projects/{pid}/scope-items", pm,
                               json={"title": "Cart", "tier": "core"}, headers={"Idempotency-Key": "during-outage"})
            if retried.status_code == 201:
                break
            assert retried.status_code == 503, retried.text
            assert time.monotonic() < deadline, f"no recovery within {RECOVERY_DEADLINE:g} s:\n{server.log()}"
            time.sleep(0.5)
        again, _ = _call(server, "POST", f"{V1}/projects/{pid}/scope-items", pm,
                         json={"title": "Cart", "tier": "core"}, headers={"Idempotency-Key": "during-outage"})
        assert again.json() == retried.json() and again.headers["Idempotent-Replayed"] == "true"
        for path, token in ((f"{V1}/projects/{pid}", pm), (f"{V1}/projects/{pid}/events", auditor),
                            (f"{V1}/projects", auditor), ("/readyz", None)):
            response, _ = _call(server, "GET", path, token)
            assert response.status_code == 200, (path, response.text)
        events, _ = _call(server, "GET", f"{V1}/projects/{pid}/events", auditor)
        assert [e["type"] for e in events.json()["items"]] == ["Created", "ScopeItemAdded"]
        assert page.get("/portfolio").status_code == 200
        page.close()
