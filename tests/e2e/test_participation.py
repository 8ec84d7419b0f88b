"""The client's part over HTTP: sign-off, proposals, comments and receipts, each checked against the roles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"


@pytest.fixture
def uat(api: Api) -> tuple[str, str]:
    """Two projects; on `mine` a research milestone with a criterion only the client's sign-off closes."""
    mine = new_project(api, "Acme CRM", "Acme")
    theirs = new_project(api, "Globex site", "Globex")
    for pid in (mine, theirs):
        api.ok("pm", "POST", f"{V1}/projects/{pid}/milestones",
               {"title": "Research signed off", "stage": "research", "due_on": "2030-01-01"}, 201)
        api.ok("pm", "POST", f"{V1}/projects/{pid}/milestones/M1/criteria",
               {"text": "The client signs off the research", "client_signoff": True}, 201)
    api.add_token("client", "client", [mine])
    api.add_token("other", "client", [theirs])
    return mine, theirs


def _version(api: Api, pid: str) -> int:
    return int(api.get("pm", f"{V1}/projects/{pid}").json()["version"])


def _refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def test_the_client_signs_off_and_the_gate_opens(api: Api, uat: tuple[str, str]) -> None:
    mine, _ = uat
    url = f"{V1}/projects/{mine}"
    _refused(api.post("pm", f"{url}/criteria/AC1/verify", {"evidence": "I say so"}), 409, "client_signoff_required")
    _refused(api.post("pm", f"{url}/criteria/AC1/waive", {"reason": "busy"}), 409, "client_signoff_required")
    gate = api.post("pm", f"{url}/transitions", {"to_stage": "solution"})
    assert any(u.get("criterion_id") == "AC1" for u in _refused(gate, 409, "gate_not_met")["details"]["unmet"])
    _refused(api.post("client", f"{url}/criteria/AC1/sign-off", {"verdict": "rejected"}), 422, "invalid_input")
    api.ok("client", "POST", f"{url}/criteria/AC1/sign-off", {"verdict": "verified", "comment": "Looks right"})
    item = api.ok("client", "GET", f"{url}/checklist")["stages"][0]["milestones"][0]["items"][0]
    assert (item["state"], item["decided_by"], item["client_signoff"], item["evidence"]) == (
        "verified", "client", True, "Looks right")
    assert item["history"][-1]["signoff"] is True
    events = api.ok("pm", "GET", f"{url}/events")["items"]
    assert (events[-1]["type"], events[-1]["actor"], events[-1]["data"]["verdict"]) == (
        "CriterionSignedOff", "client", "verified")
    api.ok("pm", "POST", f"{url}/milestones/M1/complete", {})
    api.ok("pm", "POST", f"{url}/transitions", {"to_stage": "solution"})


def test_who_may_sign(api: Api, uat: tuple[str, str]) -> None:
    mine, theirs = uat
    before = (_version(api, mine), _version(api, theirs))
    body = {"verdict": "verified"}
    # A client cannot sign another project's criterion: that project does not exist for it.
    _refused(api.post("client", f"{V1}/projects/{theirs}/criteria/AC1/sign-off", body), 404, "not_found")
    _refused(api.post("other", f"{V1}/projects/{mine}/criteria/AC1/sign-off", body), 404, "not_found")
    for role in ("pm", "auditor"):
        _refused(api.post(role, f"{V1}/projects/{mine}/criteria/AC1/sign-off", body), 403, "forbidden")
    _refused(api.post("client", f"{V1}/projects/{mine}/criteria/AC9/sign-off", body), 404, "not_found")
    assert (_version(api, mine), _version(api, theirs)) == before


def test_a_proposal_goes_from_the_client_to_a_change_request(api: Api, uat: tuple[str, str]) -> None:
    mine, _ = uat
    url = f"{V1}/projects/{mine}"
    first = api.ok("client", "POST", f"{url}/proposals",
                   {"title": "Coupons at checkout", "description": "For 11.11", "tier": "value_added"}, 201)
    second = api.ok("client", "POST", f"{url}/proposals", {"title": "Dark mode", "tier": "touchpoint"}, 201)
    assert (first["id"], second["id"]) == ("P1", "P2")
    _refused(api.post("pm", f"{url}/proposals", {"title": "x", "tier": "core"}), 403, "forbidden")
    _refused(api.post("client", f"{url}/proposals", {"title": "x", "tier": "gold"}), 422, "invalid_input")
    log = api.ok("client", "GET", f"{url}/change-requests")
    assert [(p["id"], p["status"], p["proposed_by"]) for p in log["proposals"]] == [
        ("P1", "proposed", "client"), ("P2", "proposed", "client")]
    # Accepting reuses raise_change_request's rules: no change request before the baseline freezes.
    _refused(api.post("pm", f"{url}/proposals/P1/accept", {"kind": "add"}), 409, "baseline_not_frozen")
    api.ok("client", "POST", f"{url}/criteria/AC1/sign-off", {"verdict": "verified"})
    api.ok("pm", "POST", f"{url}/milestones/M1/complete", {})
    api.ok("pm", "POST", f"{url}/transitions", {"to_stage": "solution"})
    api.ok("pm", "POST", f"{url}/stage-plan-waivers", {"stage": "solution", "reason": "small"})
    api.ok("pm", "POST", f"{url}/transitions", {"to_stage": "planning"})
    _refused(api.post("client", f"{url}/proposals/P1/accept", {"kind": "add"}), 403, "forbidden")
    accepted = api.ok("pm", "POST", f"{url}/proposals/P1/accept",
                      {"kind": "add", "impact": {"schedule_days": 4, "cost": 1200}}, 201)
    assert accepted["id"] == "CR1"
    api.ok("pm", "POST", f"{url}/proposals/P2/decline", {"reason": "Out of this contract"})
    _refused(api.post("pm", f"{url}/proposals/P2/decline", {"reason": "again"}), 409, "invalid_state")
    log = api.ok("client", "GET", f"{url}/change-requests")
    assert [(p["status"], p["change_request_id"], p["reason"]) for p in log["proposals"]] == [
        ("accepted", "CR1", ""), ("declined", None, "Out of this contract")]
    changed = {v["view"]: v for v in api.ok("pm", "GET", f"{url}/diff")["views"]}["change_requests"]["items"]
    assert {"P1", "P2", "CR1"} <= {i["id"] for i in changed}
    [entry] = log["entries"]
    assert (entry["title"], entry["requested_by"], entry["schedule_days"], entry["status"]) == (
        "Coupons at checkout", "client", 4, "raised")


def test_comments_by_pm_and_client_read_by_the_auditor(api: Api, uat: tuple[str, str]) -> None:
    mine, theirs = uat
    url = f"{V1}/projects/{mine}"
    api.ok("pm", "POST", f"{url}/comments", {"target_kind": "milestone", "target_id": "M1", "text": "Kick-off Mon"},
           201)
    api.ok("client", "POST", f"{url}/comments",
           {"target_kind": "criterion", "target_id": "AC1", "text": "<b>bold</b> & line\nnext"}, 201)
    before = _version(api, mine)
    _refused(api.post("auditor", f"{url}/comments", {"target_kind": "milestone", "target_id": "M1", "text": "x"}),
             403, "forbidden")
    _refused(api.post("client", f"{V1}/projects/{theirs}/comments",
                      {"target_kind": "milestone", "target_id": "M1", "text": "x"}), 404, "not_found")
    _refused(api.post("client", f"{url}/comments", {"target_kind": "milestone", "target_id": "M1",
                                                    "text": "x" * 2001}), 422, "invalid_input")
    _refused(api.post("client", f"{url}/comments", {"target_kind": "milestone", "target_id": "M7", "text": "x"}),
             404, "not_found")
    assert _version(api, mine) == before
    listed = api.ok("auditor", "GET", f"{url}/comments")["items"]
    assert [(c["id"], c["by"], c["target_kind"], c["text"]) for c in listed] == [
        ("C1", "pm-test", "milestone", "Kick-off Mon"), ("C2", "client", "criterion", "<b>bold</b> & line\nnext")]
    assert listed[0]["at"] <= listed[1]["at"]
    only = api.get("client", f"{url}/comments", params={"target_kind": "criterion", "target_id": "AC1"}).json()
    assert [c["id"] for c in only["items"]] == ["C2"]
    views = {v["view"]: v for v in api.ok("auditor", "GET", f"{url}/diff")["views"]}
    assert [(i["id"], i["change"]) for i in views["comments"]["items"]] == [("C1", "added"), ("C2", "added")]


def test_the_client_downloads_a_receipt_and_the_server_checks_it(api: Api, uat: tuple[str, str]) -> None:
    mine, theirs = uat
    url = f"{V1}/projects/{mine}"
    signed = api.ok("client", "POST", f"{url}/criteria/AC1/sign-off", {"verdict": "verified", "comment": "ok"})
    [row] = api.ok("client", "GET", f"{url}/receipts")["items"]
    assert (row["version"], row["type"], row["subject_id"], row["outcome"], row["by"]) == (
        signed["version"], "CriterionSignedOff", "AC1", "verified", "client")
    response = api.get("client", f"{url}/receipts/{row['version']}")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    receipt = response.json()
    assert receipt["statement"]["event"]["actor"] == "client"
    _refused(api.get("other", f"{url}/receipts/{row['version']}"), 404, "not_found")
    _refused(api.get("client", f"{url}/receipts/1"), 404, "not_found")
    check = api.ok("client", "POST", f"{V1}/receipts/verify", receipt)
    assert check["holds"] and check["signature_valid"]
    _refused(api.post("other", f"{V1}/receipts/verify", receipt), 404, "not_found")
    receipt["statement"]["event"]["data"]["comment"] = "forged"
    check = api.ok("client", "POST", f"{V1}/receipts/verify", receipt)
    assert not check["holds"] and not check["signature_valid"]
    pem = api.get("client", f"{V1}/receipts/public-key")
    assert pem.status_code == 200 and pem.text.startswith("-----BEGIN PUBLIC KEY-----")
    assert api.get("other", f"{V1}/projects/{theirs}/receipts").json()["items"] == []
