"""Refusals and warnings over HTTP carry their sentence as data: a registry code and raw parameters."""

from __future__ import annotations

from delivery.messages import MESSAGES, from_dict
from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


def test_a_gate_refusal_sends_its_code_raw_values_and_the_same_english(api: Api) -> None:
    pid = new_project(api)
    base = f"{V1}/projects/{pid}"
    api.ok("pm", "POST", f"{base}/milestones", {"title": "Findings", "stage": "research", "due_on": "2026-12-20"},
           status=201)
    api.ok("pm", "POST", f"{base}/milestones/M1/criteria", {"text": "Notes signed"}, status=201)
    error = api.post("pm", f"{base}/transitions", {"to_stage": "solution"}).json()["error"]
    assert error["code"] == "gate_not_met" and error["details"]["message_code"] == "gate_not_met"
    params = error["details"]["params"]
    assert params["stage"] == "research"
    assert [u["code"] for u in params["unmet"]] == ["gate_milestone_open", "gate_criterion_open"]
    assert params["unmet"][1]["params"]["state"] == "open"  # raw, for a page to translate
    assert [u["message_code"] for u in error["details"]["unmet"]] == ["gate_milestone_open", "gate_criterion_open"]
    assert from_dict({"code": "gate_not_met", "params": params}).english() == error["message"]


def test_a_state_refusal_sends_the_raw_state(api: Api) -> None:
    pid = new_project(api)
    base = f"{V1}/projects/{pid}"
    api.ok("pm", "POST", f"{base}/scope-items", {"title": "Login", "tier": "core"}, status=201)
    api.ok("pm", "POST", f"{base}/scope-items/S1/deliver")
    error = api.post("pm", f"{base}/scope-items/S1/deliver").json()["error"]
    assert error["details"]["message_code"] == "scope_item_not_open"
    assert error["details"]["params"] == {"item_id": "S1", "status": "delivered"}
    assert error["message"] == "Scope item S1 is delivered; only an open item can be delivered."


def test_the_edge_codes_its_refusals_too(api: Api) -> None:
    pid = new_project(api)
    forbidden = api.post("auditor", f"{V1}/projects/{pid}/rename", {"name": "X"}).json()["error"]
    assert forbidden["details"]["params"] == {"role": "auditor"}
    assert forbidden["message"] == "A token of role auditor may not record anything (only a pm writes)."
    late = api.post("pm", f"{V1}/projects/{pid}/milestones",
                    {"title": "Far", "stage": "research", "due_on": "2300-01-01"})
    assert late.status_code == 422
    details = late.json()["error"]["details"]
    assert details["message_code"] in MESSAGES
    assert details["params"]["field"] == "due_on"
    nowhere = api.get("pm", f"{V1}/no-such-thing").json()["error"]
    assert nowhere["details"]["message_code"] == "no_such_endpoint"
    unknown = api.get("pm", f"{V1}/projects/00000000-0000-4000-8000-000000000000").json()["error"]
    assert unknown["details"]["message_code"] == "not_found"
    assert unknown["details"]["params"]["kind"] == "project"


def test_the_change_log_counts_late_requests_in_words_and_as_data(api: Api) -> None:
    pid = new_project(api)
    base = f"{V1}/projects/{pid}"
    api.ok("pm", "POST", f"{base}/scope-items", {"title": "Login", "tier": "core"}, status=201)
    for stage in ("solution", "planning", "development"):
        api.ok("pm", "POST", f"{base}/stage-plan-waivers", {"stage": api.ok("pm", "GET", base)["stage"],
                                                            "reason": "small"})
        api.ok("pm", "POST", f"{base}/transitions", {"to_stage": stage})
    api.ok("pm", "POST", f"{base}/change-requests", {"title": "Coupons", "requested_by": "client", "kind": "add",
                                                     "tier": "core", "impact": {"schedule_days": 1, "cost": 10}},
           status=201)
    drift = api.ok("pm", "GET", f"{base}/change-requests")["drift"]
    late = [m for m in drift["warning_messages"] if m["code"] == "warning_late_requests"]
    assert late == [{"code": "warning_late_requests", "params": {"count": 1, "ids": ["CR1"]}}]
    assert "1 change request raised after development began: CR1" in drift["warnings"]
