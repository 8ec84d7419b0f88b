"""The project's currency over HTTP: chosen at creation, changed by the pm, shown in the views and the CSVs."""

from __future__ import annotations

import csv
import io

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_a_project_is_created_in_yuan_unless_another_currency_is_named(api: Api) -> None:
    plain = new_project(api, "Mall app")
    assert api.ok("pm", "GET", f"{V1}/projects/{plain}")["currency"] == "CNY"
    dollars = api.ok("pm", "POST", f"{V1}/projects", {"name": "US site", "client": "Acme", "currency": "USD"},
                     status=201)
    assert dollars["currency"] == "USD"
    rows = {r["project_id"]: r for r in api.ok("pm", "GET", f"{V1}/projects")["items"]}
    assert (rows[plain]["currency"], rows[dollars["id"]]["currency"]) == ("CNY", "USD")


def test_the_pm_changes_the_currency_and_every_view_follows(api: Api) -> None:
    pid = new_project(api)
    base = f"{V1}/projects/{pid}"
    api.ok("pm", "POST", f"{base}/currency", {"currency": "EUR"})
    assert api.ok("pm", "GET", base)["currency"] == "EUR"
    log = api.ok("pm", "GET", f"{base}/change-requests")
    assert (log["currency"], log["drift"]["currency"]) == ("EUR", "EUR")
    events = {e["type"]: e for e in api.ok("auditor", "GET", f"{base}/events")["items"]}
    data = events["ProjectCurrencySet"]["data"]
    assert (data["currency"], data["previous"]) == ("EUR", "CNY")
    portfolio = list(csv.DictReader(io.StringIO(api.get("pm", f"{V1}/projects/portfolio.csv").text)))
    assert [r["currency"] for r in portfolio] == ["EUR"]
    changes = list(csv.DictReader(io.StringIO(
        api.get("pm", f"{base}/export.csv", params={"view": "change-requests"}).text)))
    assert changes == []  # no change request yet; the header names the currency column
    header = api.get("pm", f"{base}/export.csv", params={"view": "change-requests"}).text.splitlines()[0]
    assert header.endswith(",currency")


def test_an_unknown_currency_is_refused_with_the_field_and_rule(api: Api) -> None:
    response = api.post("pm", f"{V1}/projects", {"name": "X", "client": "Y", "currency": "XYZ"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"]["field"] == "currency"
    assert "ISO 4217" in error["details"]["rule"]
    assert error["details"]["message_code"] == "rule_currency"
    pid = new_project(api)
    refused = api.post("pm", f"{V1}/projects/{pid}/currency", {"currency": "usd"})
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "currency"
    same = api.post("pm", f"{V1}/projects/{pid}/currency", {"currency": "CNY"})
    assert same.status_code == 409 and same.json()["error"]["code"] == "conflicting_input"
    assert same.json()["error"]["details"]["message_code"] == "rule_must_differ"
    forbidden = api.post("auditor", f"{V1}/projects/{pid}/currency", {"currency": "USD"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["details"]["message_code"] == "forbidden_write"


def test_the_schema_lists_the_codes_and_describes_the_field(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["ProjectCreate"]["properties"]["currency"]
    assert "CNY" in body["enum"] and "USD" in body["enum"] and body["default"] == "CNY"
    summary = schema["components"]["schemas"]["ProjectSummary"]["properties"]["currency"]
    assert "ISO 4217" in summary["description"]
    drift = schema["components"]["schemas"]["DriftSummary"]["properties"]
    assert "warning_messages" in drift and drift["warning_messages"]["description"]
    assert "post" in schema["paths"]["/api/v1/projects/{project_id}/currency"]
