"""Role × endpoint: only a pm writes; a client sees its own projects and nothing else; no token, no entry."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"
IDS = {"item_id": "S1", "milestone_id": "M1", "criterion_id": "AC1", "change_request_id": "CR1",
       "release_id": "R1", "token_id": "00000000", "name": "generic", "proposal_id": "P1", "version": "1",
       "subscription_id": "00000000", "delivery_id": "00000000-0000-0000-0000-000000000000"}
# What a client writes on its own project (tests/e2e/test_participation.py), and a check anyone signed in may run.
CLIENT_WRITES = ("/sign-off", "/proposals", "/comments")
CHECKS = ("/receipts/verify",)


def routes(api: Api, *methods: str) -> list[tuple[str, str]]:
    """Every operation the OpenAPI document lists with one of these methods."""
    return [
        (method.upper(), path)
        for path, operations in api.app.openapi()["paths"].items()
        for method in operations
        if method.upper() in methods
    ]


def fill(path: str, project_id: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: project_id if m[1] == "project_id" else IDS[m[1]], path)


@pytest.fixture
def two_clients(api: Api) -> tuple[str, str]:
    mine = new_project(api, "Acme CRM", "Acme")
    theirs = new_project(api, "Globex site", "Globex")
    api.ok("pm", "POST", f"{V1}/projects/{mine}/scope-items", {"title": "Leads", "tier": "core"}, 201)
    api.add_token("client", "client", [mine])
    api.add_token("other", "client", [theirs])
    return mine, theirs


@pytest.mark.parametrize("role", ["client", "auditor"])
def test_every_write_is_refused_to_readers(api: Api, two_clients: tuple[str, str], role: str) -> None:
    mine, theirs = two_clients
    writes = [(m, p) for m, p in routes(api, "POST", "DELETE", "PUT", "PATCH") if not p.endswith(CHECKS)]
    assert len(writes) >= 25
    version = api.get("pm", f"{V1}/projects/{mine}").json()["version"]
    for method, path in writes:
        for pid in (mine, theirs):
            response = api.client.request(method, fill(path, pid), json={"name": "x"}, headers=api.headers(role))
            if role == "client" and path.endswith(CLIENT_WRITES):
                # Its own project reads the (malformed) body; another's does not exist for it.
                assert response.status_code == (422 if pid == mine else 404), (method, path, response.text)
                continue
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    assert api.get("pm", f"{V1}/projects/{mine}").json()["version"] == version
    assert len(api.get("pm", f"{V1}/projects").json()["items"]) == 2


# The audit log and the auditors' tools (docs/audit.md): pm and auditor only.
HISTORY = ("/events", "/integrity", "/export", "/export.csv", "/diff")


def test_a_client_sees_only_its_own(api: Api, two_clients: tuple[str, str]) -> None:
    mine, theirs = two_clients
    # A receipt exists only for a sign-off or a decision (tests/e2e/test_participation.py checks who gets one).
    reads = [(m, p) for m, p in routes(api, "GET") if "{project_id}" in p and "{version}" not in p]
    assert len(reads) >= 6
    for _method, path in reads:
        own = api.get("client", fill(path, mine))
        other = api.get("client", fill(path, theirs))
        if path.endswith(HISTORY):  # history is refused to the role, whichever project
            assert own.status_code == other.status_code == 403
            continue
        assert own.status_code == 200, (path, own.text)
        assert other.status_code == 404, (path, other.text)
        assert other.json()["error"]["code"] == "not_found"
    listed = api.get("client", f"{V1}/projects").json()["items"]
    assert [row["project_id"] for row in listed] == [mine]
    assert api.get("client", f"{V1}/projects/{mine}", params={"as_of": "2030-01-01T00:00:00Z"}).status_code == 403
    unknown = api.get("client", f"{V1}/projects/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404


def test_the_auditor_reads_everything(api: Api, two_clients: tuple[str, str]) -> None:
    mine, theirs = two_clients
    for pid in (mine, theirs):
        for _method, path in routes(api, "GET"):
            if "{project_id}" in path and "{version}" not in path:
                assert api.get("auditor", fill(path, pid)).status_code == 200, path
    assert len(api.get("auditor", f"{V1}/projects").json()["items"]) == 2


def test_no_token_bad_token_revoked_token(api: Api, two_clients: tuple[str, str]) -> None:
    mine, _ = two_clients
    for method, path in routes(api, "GET", "POST", "DELETE"):
        for headers in ({}, {"Authorization": "Bearer dt_nope"}, {"Authorization": "Basic abc"}):
            response = api.client.request(method, fill(path, mine), json={}, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["code"] == "unauthenticated"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    token_id = api.get("client", f"{V1}/me").json()["token_id"]
    assert api.ok("pm", "DELETE", f"{V1}/tokens/{token_id}")["revoked_at"] is not None
    assert api.get("client", f"{V1}/projects/{mine}").status_code == 401


def test_a_pm_issues_tokens_over_http(api: Api) -> None:
    pid = new_project(api)
    created = api.ok("pm", "POST", f"{V1}/tokens", {"role": "client", "projects": [pid], "name": "Acme PO"}, 201)
    assert created["token"].startswith("dt_") and created["projects"] == [pid]
    api.tokens["po"] = created["token"]
    assert api.ok("po", "GET", f"{V1}/me")["role"] == "client"
    listed = api.ok("pm", "GET", f"{V1}/tokens")["items"]
    assert "token" not in listed[0] and {t["name"] for t in listed} >= {"Acme PO"}
    missing = api.post("pm", f"{V1}/tokens", {"role": "client", "projects": ["00000000-0000-0000-0000-000000000000"]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    staff = api.post("pm", f"{V1}/tokens", {"role": "auditor", "projects": [pid]})  # only a client token names any
    assert staff.status_code == 422 and staff.json()["error"]["details"]["field"] == "auditor.projects"
    assert api.delete("pm", f"{V1}/tokens/nosuch").status_code == 404
