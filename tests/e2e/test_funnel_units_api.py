"""The funnel's rates over HTTP: one unit, percent; fractions are refused naming the field and the rule."""

from __future__ import annotations

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_a_funnel_in_fractions_is_refused_and_one_in_percent_is_kept(api: Api) -> None:
    p = f"{V1}/projects/{new_project(api)}"
    fractions = {"steps": [{"name": "visit", "expected_rate": 1}, {"name": "cart", "expected_rate": 0.3},
                           {"name": "pay", "expected_rate": 0.6}]}
    refused = api.post("pm", f"{p}/funnel", fractions)
    assert refused.status_code == 409  # each rate is a valid percent alone: refused together
    error = refused.json()["error"]
    assert error["code"] == "conflicting_input" and error["details"]["field"] == "steps"
    assert "percentages from 0 to 100" in error["details"]["rule"]
    over = api.post("pm", f"{p}/funnel", {"steps": [{"name": "visit", "expected_rate": 100},
                                                    {"name": "cart", "expected_rate": 300},
                                                    {"name": "pay", "expected_rate": 60}]})
    assert over.status_code == 422 and "expected_rate" in str(over.json()["error"]["details"])
    api.ok("pm", "POST", f"{p}/funnel", {"steps": [{"name": "visit", "expected_rate": 100},
                                                  {"name": "cart", "expected_rate": 30},
                                                  {"name": "pay", "expected_rate": 60}]})
    steps = api.ok("pm", "GET", p)["funnel"]
    assert [s["expected_rate"] for s in steps] == [100, 30, 60]


def test_the_openapi_schema_states_the_unit(api: Api) -> None:
    schemas = api.get("pm", "/openapi.json").json()["components"]["schemas"]
    assert "30 means 30%" in schemas["FunnelStepIn"]["properties"]["expected_rate"]["description"]
    assert "fractions" in schemas["FunnelActualsIn"]["properties"]["rates"]["description"]
