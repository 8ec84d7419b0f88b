"""The notification routes over HTTP, with the notifier running inside the served app (SQLite)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from delivery.settings import Database
from tests.e2e.conftest import Api, make_api, new_project
from tests.receivers import Receiver


@pytest.fixture
def fast_api(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("DELIVERY_NOTIFY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DELIVERY_NOTIFY_RETRY_SECONDS", "0.05")
    monkeypatch.setenv("DELIVERY_NOTIFY_POLL_SECONDS", "0.05")
    yield from make_api(Database(sqlite_url))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)
    return value


def pass_gate(api: Api, pid: str, stage: str, to: str) -> None:
    api.ok("pm", "POST", f"/api/v1/projects/{pid}/stage-plan-waivers", {"stage": stage, "reason": "known"})
    api.ok("pm", "POST", f"/api/v1/projects/{pid}/transitions", {"to_stage": to})


def test_a_subscription_made_over_the_api_hears_a_gate_passed_with_its_secret_shown_once(
    fast_api: Api, receiver: Receiver,
) -> None:
    api = fast_api
    pid = new_project(api)
    created = api.ok("pm", "POST", "/api/v1/subscriptions", {
        "channel": "webhook", "target": receiver.url, "kinds": ["gate_passed"], "project_id": pid,
        "name": "Ops"}, status=201)
    assert created["secret"].startswith("whsec_") and created["has_secret"] is True
    receiver.secret = created["secret"]
    listed = api.ok("pm", "GET", "/api/v1/subscriptions")["items"]
    assert [s["id"] for s in listed] == [created["id"]]
    assert "secret" not in listed[0] and created["secret"] not in str(listed)
    pass_gate(api, pid, "research", "solution")
    wait_until(receiver.delivered)
    assert receiver.refused == []
    [body] = receiver.bodies()
    assert body["kind"] == "gate_passed" and body["project"]["id"] == pid
    # The receiver has the body before the sender has its answer and records the delivery: wait for that.
    log = wait_until(lambda: [d for d in api.ok("pm", "GET", f"/api/v1/subscriptions/{created['id']}/deliveries")[
        "items"] if d["state"] != "pending"])
    assert [(d["state"], d["delivery_id"]) for d in log] == [("delivered", body["delivery_id"])]
    assert [t["ok"] for t in log[0]["tries"]] == [True]
    metrics = api.client.get("/metrics").text
    assert 'delivery_notifications{state="delivered"} 1.0' in metrics
    assert 'delivery_notifications{state="dead"} 0.0' in metrics and "delivery_notify_lag_events" in metrics


def test_dead_letters_are_listed_and_retried_over_the_api(fast_api: Api, receiver: Receiver) -> None:
    api = fast_api
    receiver.status = 500
    sub = api.ok("pm", "POST", "/api/v1/subscriptions", {
        "channel": "webhook", "target": receiver.url, "kinds": ["gate_passed"]}, status=201)
    receiver.secret = sub["secret"]
    pid = new_project(api)
    pass_gate(api, pid, "research", "solution")
    [dead] = wait_until(lambda: api.ok("pm", "GET", "/api/v1/notifications/dead-letters")["items"])
    assert dead["attempts"] == 2 and "HTTP 500" in dead["last_error"]
    receiver.status = None
    retried = api.ok("pm", "POST", f"/api/v1/notifications/dead-letters/{dead['delivery_id']}/retry")
    assert retried["state"] == "pending" and retried["delivery_id"] == dead["delivery_id"]
    wait_until(receiver.delivered)
    assert list(receiver.delivered()) == [dead["delivery_id"]]
    wait_until(lambda: api.ok("pm", "GET", f"/api/v1/subscriptions/{sub['id']}/deliveries")["items"][0]["state"]
               == "delivered")  # the sender records it once it has the receiver's answer
    again = api.post("pm", f"/api/v1/notifications/dead-letters/{dead['delivery_id']}/retry")
    assert again.status_code == 409 and again.json()["error"]["details"]["state"] == "delivered"
    assert api.post("pm", "/api/v1/notifications/dead-letters/nope/retry").status_code == 404


def test_the_attention_list_over_the_api(fast_api: Api) -> None:
    api = fast_api
    pid = new_project(api, "Mall")
    pass_gate(api, pid, "research", "solution")
    pass_gate(api, pid, "solution", "planning")
    cr = api.ok("pm", "POST", f"/api/v1/projects/{pid}/change-requests", {
        "title": "Coupons", "requested_by": "Acme", "kind": "add", "tier": "value_added"}, status=201)
    items = wait_until(lambda: api.ok("pm", "GET", "/api/v1/attention")["items"])
    assert [(i["kind"], i["project_name"], i["detail"]["title"]) for i in items] == [
        ("change_request", "Mall", "Coupons")]
    assert items[0]["ref"] == cr["id"]
    assert api.get("auditor", "/api/v1/attention").status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"channel": "pager", "target": "https://x.example", "kinds": ["gate_passed"]}, "channel"),
    # The body is one of four kinds by channel: a field is named within its kind, as for tokens' roles.
    ({"channel": "webhook", "target": "ftp://x.example", "kinds": ["gate_passed"]}, "webhook.target"),
    ({"channel": "webhook", "target": "https://x.example", "kinds": []}, "webhook.kinds"),
    ({"channel": "webhook", "target": "https://x.example", "kinds": ["all"]}, "webhook.kinds.0"),
    ({"channel": "email", "target": "nobody", "kinds": ["gate_passed"]}, "email.target"),
    ({"channel": "webhook", "target": "https://x.example", "kinds": ["gate_passed"], "language": "fr"},
     "webhook.language"),
    ({"channel": "webhook", "target": "https://x.example", "kinds": ["gate_passed"], "project_id": "x"},
     "webhook.project_id"),
    ({"channel": "slack", "target": "https://x.example", "kinds": ["gate_passed"], "secret": "s"}, "slack.secret"),
])
def test_a_bad_subscription_is_a_422_naming_the_field_and_nothing_is_stored(
    fast_api: Api, body: dict[str, Any], field: str,
) -> None:
    response = fast_api.post("pm", "/api/v1/subscriptions", body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert fast_api.ok("pm", "GET", "/api/v1/subscriptions")["items"] == []


def test_subscriptions_belong_to_the_pm(fast_api: Api) -> None:
    api = fast_api
    body = {"channel": "webhook", "target": "https://x.example", "kinds": ["gate_passed"]}
    assert api.post("auditor", "/api/v1/subscriptions", body).status_code == 403
    assert api.get("auditor", "/api/v1/subscriptions").status_code == 403
    assert api.get("auditor", "/api/v1/notifications/dead-letters").status_code == 403
    unknown = api.post("pm", "/api/v1/subscriptions", {**body, "project_id": "8c7e7d0e-4d0b-4f7e-9a57-7a0f3c1c2b11"})
    assert unknown.status_code == 404
    assert api.delete("pm", "/api/v1/subscriptions/nope").status_code == 404
    sub = api.ok("pm", "POST", "/api/v1/subscriptions",
                 {**body, "channel": "dingtalk", "target": "https://oapi.dingtalk.com/robot/send?access_token=t0k3n",
                  "secret": "SECabc"}, status=201)
    assert sub["secret"] == "" and sub["has_secret"] is True
    assert sub["target"] == "https://oapi.dingtalk.com/…"
    assert "t0k3n" not in str(api.ok("pm", "GET", "/api/v1/subscriptions"))
    gone = api.ok("pm", "DELETE", f"/api/v1/subscriptions/{sub['id']}")
    assert gone["deleted_at"] is not None
    assert api.ok("pm", "GET", "/api/v1/subscriptions")["items"] == []
