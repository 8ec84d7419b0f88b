"""Read your writes under concurrent writers, against a real `delivery serve` process.

Every write the API answered 201 is in the very next read of the same client: the
milestones view (answered from kept bytes when the read side holds them), the project's
summary and the portfolio row's counts, while other clients write to the same project
and to another one at the same time, so kept answers are dropped and made again all the
while. A write answered before its event reached the views, or a kept answer that
outlived an event, fails here.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import httpx

from delivery.settings import Database
from tests.served import create_token, served

V1 = "/api/v1"
WRITERS = 6
WRITES_EACH = 20


def test_every_accepted_write_is_in_the_next_read(database: Database, tmp_path: Path) -> None:
    url = database.url
    pm = create_token(url, "pm", "Busy PM")
    auth = {"Authorization": f"Bearer {pm}"}
    with served(url, tmp_path / "serve.log") as server, \
            httpx.Client(base_url=server.base, headers=auth, timeout=60.0) as setup:
        pid = setup.post(f"{V1}/projects", json={"name": "Busy", "client": "Northwind"}).json()["id"]
        other = setup.post(f"{V1}/projects", json={"name": "Neighbour", "client": "Acme"}).json()["id"]
        stale: list[str] = []
        failed: list[str] = []

        def writer(n: int) -> None:
            with httpx.Client(base_url=server.base, headers=auth, timeout=60.0) as client:
                for i in range(WRITES_EACH):
                    title = f"W{n}-{i}-{uuid.uuid4().hex[:8]}"
                    made = client.post(f"{V1}/projects/{pid}/milestones", json={
                        "title": title, "stage": "launch", "due_on": "2031-02-01", "deliverables": []})
                    if made.status_code != 201:
                        failed.append(f"{made.status_code} {made.text[:200]}")
                        continue
                    listed = client.get(f"{V1}/projects/{pid}/milestones")
                    if title not in listed.text:
                        stale.append(f"milestones without {title}")
                    summary = client.get(f"{V1}/projects/{pid}").json()
                    if summary["version"] < made.json()["version"]:
                        stale.append(f"summary at version {summary['version']} after {made.json()['version']}")

        def neighbour() -> None:
            with httpx.Client(base_url=server.base, headers=auth, timeout=60.0) as client:
                for i in range(WRITES_EACH * 2):
                    made = client.post(f"{V1}/projects/{other}/scope-items",
                                       json={"title": f"Item {i}", "tier": "core"})
                    if made.status_code != 201:
                        failed.append(f"{made.status_code} {made.text[:200]}")
                    client.get(f"{V1}/projects/{other}/milestones")
                    client.get(f"{V1}/projects", params={"sort": "health"})

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
        threads.append(threading.Thread(target=neighbour))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failed == []
        assert stale == [], f"{len(stale)} stale reads: {stale}"
        items = setup.get(f"{V1}/projects/{pid}/milestones").json()["items"]
        assert len(items) == WRITERS * WRITES_EACH
        rows = {row["project_id"]: row for row in setup.get(f"{V1}/projects").json()["items"]}
        assert rows[pid]["version"] == setup.get(f"{V1}/projects/{pid}").json()["version"]
