"""Kept reads answered before routing (api/fastpath.py): the same bytes as the routes, never more than they allow."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Api, new_project

V1 = "/api/v1"
VIEWS = ("milestones", "checklist", "change-requests", "releases")


def kept(api: Api) -> int:
    return int(api.app.state.services.reads.metrics["kept_reads"])


def answer(response: Any) -> tuple[int, bytes, str]:
    return response.status_code, response.content, response.headers["content-type"]


@pytest.fixture
def project(api: Api) -> str:
    pid = new_project(api, "Acme CRM", "Acme")
    api.ok("pm", "POST", f"{V1}/projects/{pid}/scope-items", {"title": "Leads", "tier": "core"}, 201)
    api.ok("pm", "POST", f"{V1}/projects/{pid}/milestones",
           {"title": "Map the loop", "stage": "research", "due_on": "2026-12-20"}, 201)
    return pid


def test_a_second_read_is_answered_from_the_kept_bytes_and_equals_the_route(api: Api, project: str) -> None:
    for view in VIEWS:
        first = api.get("pm", f"{V1}/projects/{project}/{view}")  # the route answers and keeps the bytes
        before = kept(api)
        second = api.get("pm", f"{V1}/projects/{project}/{view}")
        assert kept(api) == before + 1, view
        assert answer(second) == answer(first) and first.status_code == 200
        assert int(second.headers["content-length"]) == len(second.content)


def test_a_write_drops_the_kept_bytes(api: Api, project: str) -> None:
    path = f"{V1}/projects/{project}/milestones"
    api.get("pm", path)
    api.ok("pm", "POST", path, {"title": "Sign-off", "stage": "research", "due_on": "2026-12-24"}, 201)
    before = kept(api)
    titles = [m["title"] for m in api.get("pm", path).json()["items"]]
    assert kept(api) == before and "Sign-off" in titles  # the route answered the new state


def test_portfolio_pages_are_kept_per_query_string_and_per_client(api: Api, project: str) -> None:
    other = new_project(api, "Globex site", "Globex")
    api.add_token("acme", "client", [project])
    api.add_token("globex", "client", [other])
    for query in ("", "?sort=health", "?limit=1", "?client=Acme&limit=5"):
        first = api.get("pm", f"{V1}/projects{query}")
        before = kept(api)
        assert answer(api.get("pm", f"{V1}/projects{query}")) == answer(first)
        assert kept(api) == before + 1, query
    # A client's page is its own, even for the same query string as another caller's kept one.
    mine = api.get("acme", f"{V1}/projects").json()
    theirs = api.get("globex", f"{V1}/projects").json()
    again = api.get("globex", f"{V1}/projects").json()
    assert [p["project_id"] for p in mine["items"]] == [project]
    assert [p["project_id"] for p in theirs["items"]] == [other] == [p["project_id"] for p in again["items"]]


def test_a_searched_portfolio_is_kept_per_term_and_a_new_project_shows_at_once(api: Api, project: str) -> None:
    new_project(api, "Newcomer kiosk", "Newcomer Retail")
    query = f"{V1}/projects?q=NEWCOMER"
    first = api.get("pm", query)
    assert [p["name"] for p in first.json()["items"]] == ["Newcomer kiosk"]
    before = kept(api)
    assert answer(api.get("pm", query)) == answer(first) and kept(api) == before + 1
    # Another term is its own query string: the route answers it, never the kept page of the first.
    other = api.get("pm", f"{V1}/projects?q=acme")
    assert [p["name"] for p in other.json()["items"]] == ["Acme CRM"] and kept(api) == before + 1
    new_project(api, "Second newcomer shop", "Globex")  # an event drops the kept page
    again = api.get("pm", query)
    assert kept(api) == before + 1
    assert [p["name"] for p in again.json()["items"]] == ["Newcomer kiosk", "Second newcomer shop"]
    refused = api.get("pm", f"{V1}/projects?q=")
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "q"


def test_the_portfolio_csv_holds_every_matching_project_a_caller_may_see(api: Api, project: str) -> None:
    for i in range(3):
        new_project(api, f"Newcomer shop {i}", "Newcomer Retail")
    api.add_token("acme", "client", [project])
    answer_pm = api.get("pm", f"{V1}/projects/portfolio.csv?q=newcomer&sort=name")
    assert answer_pm.status_code == 200 and answer_pm.headers["content-type"] == "text/csv; charset=utf-8"
    lines = answer_pm.text.splitlines()
    assert lines[0].startswith("project_id,name,client,stage,")
    assert [line.split(",")[1] for line in lines[1:]] == [f"Newcomer shop {i}" for i in range(3)]
    mine = api.get("acme", f"{V1}/projects/portfolio.csv").text.splitlines()
    assert len(mine) == 2 and mine[1].startswith(project)
    bad = api.get("pm", f"{V1}/projects/portfolio.csv?health=purple")
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "health"


def test_refusals_stay_with_the_routes(api: Api, project: str) -> None:
    path = f"{V1}/projects/{project}/checklist"
    api.get("pm", path)  # kept now
    api.add_token("other", "client", [])
    before = kept(api)
    assert api.client.get(path).status_code == 401
    assert api.client.get(path, headers={"Authorization": "Bearer dt_unknown"}).status_code == 401
    assert api.client.get(path, headers={"Authorization": f"Basic {api.tokens['pm']}"}).status_code == 401
    assert api.get("other", path).status_code == 404  # a client never sees another's project
    assert api.get("other", f"{V1}/projects/{project.upper()}/checklist").status_code == 404
    assert api.get("pm", f"{V1}/projects/not-a-uuid/checklist").status_code == 404
    assert api.get("pm", f"{V1}/projectsX{project}/checklist").status_code == 404
    assert api.get("pm", f"{V1}/projects/{project}/checklist/", follow_redirects=False).status_code == 307
    assert api.get("pm", f"{V1}/projects/{project}/checklist?as_of=2099-13-01").status_code == 422
    assert kept(api) == before


def test_a_revoked_token_is_refused_once_its_cached_entry_is_gone(api: Api, project: str) -> None:
    path = f"{V1}/projects/{project}/releases"
    token = api.add_token("leaving", "auditor")
    assert api.get("leaving", path).status_code == 200
    services = api.app.state.services
    token_id = services.tokens.cached(token).token_id
    api.ok("pm", "DELETE", f"{V1}/tokens/{token_id}")
    assert api.get("leaving", path).status_code == 401


def test_kept_answers_are_counted_under_their_routes_template(api: Api, project: str) -> None:
    path = f"{V1}/projects/{project}/milestones"
    api.get("pm", path)
    before = kept(api)
    assert api.get("pm", path).status_code == 200 and kept(api) == before + 1
    metrics = api.client.get("/metrics").text
    line = next(line for line in metrics.splitlines() if line.startswith("delivery_http_requests_total{")
                and 'route="/api/v1/projects/{project_id}/milestones"' in line and 'status="200"' in line)
    assert float(line.rsplit(" ", 1)[1]) >= 2  # the route's answer and the kept one
    assert 'route="unmatched"' not in metrics
