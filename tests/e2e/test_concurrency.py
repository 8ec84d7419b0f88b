"""Versions, retries and races: If-Match, Idempotency-Key and 20 writers on one project."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from delivery.settings import Database
from tests.e2e.conftest import Api, make_api, new_project

V1 = "/api/v1"


def version(api: Api, pid: str) -> int:
    return int(api.get("auditor", f"{V1}/projects/{pid}").json()["version"])


def test_every_write_answers_the_version_and_etag(api: Api) -> None:
    pid = new_project(api)
    response = api.post("pm", f"{V1}/projects/{pid}/scope-items", {"title": "Login", "tier": "core"})
    assert response.status_code == 201
    assert response.json()["version"] == 2 and response.headers["ETag"] == '"2"'
    got = api.get("client" if "client" in api.tokens else "auditor", f"{V1}/projects/{pid}")
    assert got.headers["ETag"] == '"2"'


def test_if_match_stale_is_412_and_records_nothing(api: Api) -> None:
    pid = new_project(api)
    path = f"{V1}/projects/{pid}/scope-items"
    first = api.post("pm", path, {"title": "Login", "tier": "core"}, headers={"If-Match": '"1"'})
    assert first.status_code == 201
    stale = api.post("pm", path, {"title": "Cart", "tier": "core"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["error"] == {
        "code": "version_mismatch", "message": stale.json()["error"]["message"],
        "details": {"expected": 1, "actual": 2, "message_code": "version_mismatch",
                    "params": {"expected": 1, "actual": 2}},
    }
    assert version(api, pid) == 2
    assert api.post("pm", path, {"title": "Cart", "tier": "core"}, headers={"If-Match": 'W/"2"'}).status_code == 201
    assert api.post("pm", path, {"title": "Pay", "tier": "core"}, headers={"If-Match": "*"}).status_code == 201
    bad = api.post("pm", path, {"title": "Ship", "tier": "core"}, headers={"If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "If-Match"
    assert version(api, pid) == 4


def test_idempotency_key_replays_the_first_response(api: Api) -> None:
    pid = new_project(api)
    path = f"{V1}/projects/{pid}/milestones"
    body = {"title": "Research done", "stage": "research", "due_on": "2030-01-01"}
    first = api.post("pm", path, body, headers={"Idempotency-Key": "plan-m1"})
    again = api.post("pm", path, dict(reversed(body.items())), headers={"Idempotency-Key": "plan-m1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert version(api, pid) == 2

    other = api.post("pm", path, {**body, "title": "Other"}, headers={"Idempotency-Key": "plan-m1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert version(api, pid) == 2

    # A refused command records nothing and leaves the key free for the corrected retry.
    refused = api.post("pm", f"{V1}/projects/{pid}/transitions", {"to_stage": "uat"},
                       headers={"Idempotency-Key": "move"})
    assert refused.status_code == 409
    api.add_token("pm2", "pm")
    assert api.post("pm2", path, body, headers={"Idempotency-Key": "plan-m1"}).status_code == 201  # keys are per token
    assert version(api, pid) == 3


@pytest.fixture
def any_store_api(database: Database) -> Iterator[Api]:
    # In-process view catch-up on both stores, so the test needs no worker process.
    yield from make_api(database, live=True)


def test_twenty_racing_writers_lose_nothing(any_store_api: Api) -> None:
    api = any_store_api
    pid = new_project(api)
    path = f"{V1}/projects/{pid}/scope-items"

    def write(i: int) -> tuple[int, dict[str, object]]:
        response = api.post("pm", path, {"title": f"Feature {i}", "tier": "core"})
        return int(response.status_code), response.json()

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(write, range(20)))
    accepted = [body for status, body in results if status == 201]
    refused = [body for status, body in results if status != 201]
    assert all(body["error"]["code"] == "version_conflict" for body in refused), refused  # type: ignore[index]
    assert len(accepted) >= 15  # with back-off all 20 usually land; the invariant is below
    events = api.get("auditor", f"{V1}/projects/{pid}/events", params={"limit": 500}).json()["items"]
    assert len(events) == 1 + len(accepted)
    assert sorted(int(b["version"]) for b in accepted) == sorted(e["version"] for e in events[1:])  # type: ignore[call-overload]
    scope = api.get("auditor", f"{V1}/projects/{pid}").json()["scope"]
    assert sorted(s["id"] for s in scope) == sorted(str(b["id"]) for b in accepted)


def test_the_same_key_sent_concurrently_records_once(any_store_api: Api) -> None:
    api = any_store_api
    pid = new_project(api)
    path = f"{V1}/projects/{pid}/scope-items"

    def send(_: int) -> tuple[int, dict[str, object], bool]:
        response = api.post("pm", path, {"title": "Login", "tier": "core"}, headers={"Idempotency-Key": "once"})
        return int(response.status_code), response.json(), "Idempotent-Replayed" in response.headers

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(send, range(10)))
    # Every copy gets the one answer: the copy that recorded first, the others replaying it.
    assert {status for status, _, _ in results} == {201}
    assert len({str(body) for _, body, _ in results}) == 1
    assert sum(replayed for _, _, replayed in results) == 9
    assert version(api, pid) == 2
