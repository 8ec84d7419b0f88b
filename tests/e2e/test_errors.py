"""One error shape for every refusal: the field named, the right status, never a 500 for a user's mistake."""

from __future__ import annotations

import pytest

from api import cli_server  # noqa: F401  (the hook `delivery` loads)
from api.cli import main
from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def error(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "Login"}, "tier"),
    ({"title": "Login", "tier": "gold"}, "tier"),
    ({"title": "", "tier": "core"}, "title"),
    ({"title": "   ", "tier": "core"}, "title"),
    ({"title": "x" * 201, "tier": "core"}, "title"),
    ({"title": "Login", "tier": "core", "owner": "me"}, "owner"),
    ({"title": 5, "tier": "core"}, "title"),
])
def test_bad_scope_item_names_the_field(api: Api, body: dict[str, object], field: str) -> None:
    pid = new_project(api)
    details = error(api.post("pm", f"{V1}/projects/{pid}/scope-items", body), 422, "invalid_input")["details"]
    assert details["field"] == field  # type: ignore[index]


def test_booleans_are_not_numbers(api: Api) -> None:
    pid = new_project(api)
    body = {"title": "Coupons", "requested_by": "PO", "kind": "add", "tier": "core",
            "impact": {"schedule_days": True, "cost": 1}}
    details = error(api.post("pm", f"{V1}/projects/{pid}/change-requests", body), 422, "invalid_input")["details"]
    assert details["field"] == "impact.schedule_days"  # type: ignore[index]
    metric = {"name": "m", "comparator": ">=", "threshold": False}
    m = api.ok("pm", "POST", f"{V1}/projects/{pid}/milestones",
               {"title": "M", "stage": "research", "due_on": "2030-01-01"}, 201)["id"]
    refused = api.post("pm", f"{V1}/projects/{pid}/milestones/{m}/criteria", {"text": "t", "metric": metric})
    assert error(refused, 422, "invalid_input")["details"]["field"] == "metric.threshold"  # type: ignore[index]


def test_limits_and_shapes(api: Api) -> None:
    pid = new_project(api)
    big = api.client.post(f"{V1}/projects/{pid}/scope-items", content=b" " * (1024 * 1024 + 1),
                          headers=api.headers("pm", **{"Content-Type": "application/json"}))
    error(big, 413, "payload_too_large")
    garbage = api.client.post(f"{V1}/projects/{pid}/scope-items", content=b"\xff{",
                              headers=api.headers("pm", **{"Content-Type": "application/json"}))
    assert error(garbage, 422, "invalid_input")["details"]["field"] == "body"  # type: ignore[index]
    error(api.get("pm", f"{V1}/projects", params={"limit": 501}), 422, "invalid_input")
    # A cursor of the declared shape that no page handed out names no page; one of another shape is malformed.
    error(api.get("pm", f"{V1}/projects", params={"cursor": "not-a-cursor"}), 404, "not_found")
    error(api.get("pm", f"{V1}/projects", params={"cursor": "not a cursor"}), 422, "invalid_input")
    error(api.get("pm", f"{V1}/projects/not-a-uuid"), 404, "not_found")
    error(api.post("pm", f"{V1}/projects/{pid}/milestones/M9/complete"), 404, "not_found")
    error(api.get("pm", f"{V1}/nowhere"), 404, "not_found")
    put = api.client.put(f"{V1}/projects", headers=api.headers("pm"))
    error(put, 405, "method_not_allowed")
    assert put.headers["Allow"] == "GET, POST"


def test_token_create_prints_the_token_alone(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DELIVERY_DATABASE_URL", sqlite_url)
    assert main(["token", "create", "--role", "auditor", "--name", "Ann"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dt_") and out.count("\n") == 1 and " " not in out.strip()
    assert main(["token", "create", "--role", "client", "--project", "00000000-0000-0000-0000-000000000000"]) == 2
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("moment", ["0.5", "1700000000", "yesterday", "2026-13-40"])
def test_as_of_takes_only_iso_8601_moments(api: Api, moment: str) -> None:
    pid = new_project(api)
    body = error(api.get("pm", f"{V1}/projects/{pid}/milestones", params={"as_of": moment}), 422, "invalid_input")
    assert "as_of" in str(body["message"]) + str(body["details"])


def test_as_of_with_an_offset_is_read_in_utc(api: Api) -> None:
    pid = new_project(api)
    response = api.get("pm", f"{V1}/projects/{pid}/checklist", params={"as_of": "2999-01-01T08:00:00+08:00"})
    assert response.status_code == 200, response.text
