"""Commands run without FastAPI's routing (api/fastpath.py DirectCommands): the same answers as the routes.

Two stores take the same requests, one with the direct path and one with every command going
through the routes; each answer (status, body, the headers a client reads) must be the same,
and the direct path must have run the commands that were in order (it passes the rest on).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from delivery.settings import Database
from tests.e2e.conftest import Api, make_api

V1 = "/api/v1"
HEADERS = ("content-type", "etag", "idempotent-replayed", "retry-after", "www-authenticate")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Api, Api]]:
    direct = make_api(Database(f"sqlite:///{tmp_path / 'direct.sqlite3'}"))
    routed = make_api(Database(f"sqlite:///{tmp_path / 'routed.sqlite3'}"))
    first, second = next(direct), next(routed)
    second.app.state.services.direct_commands = False
    yield first, second
    for rest in (direct, routed):
        next(rest, None)


def ran_directly(api: Api) -> int:
    return int(api.app.state.services.reads.metrics["direct_commands"])


def same(pair: tuple[Api, Api], names: dict[str, str], who: str, method: str, path: str,
         body: Any = None, raw: bytes | None = None, **headers: str) -> dict[str, Any]:
    """Send one request to both; the answers must match (each store's own ids read as the same name)."""
    answers = []
    for n, api in enumerate(pair):
        url = path
        for name, ids in names.items():
            url = url.replace(name, ids.split("|")[n])
        sent = {"Authorization": f"Bearer {api.tokens[who]}", **headers} if who in api.tokens else headers
        if raw is not None:
            response = api.client.request(method, url, content=raw, headers=sent)
        else:
            response = api.client.request(method, url, json=body, headers=sent)
        text = response.text
        for name, ids in names.items():
            text = text.replace(ids.split("|")[n], name)
        answers.append((response.status_code, text, {h: response.headers.get(h) for h in HEADERS}))
    assert answers[0] == answers[1], (method, path)
    return {"status": answers[0][0], "text": answers[0][1]}


def test_the_direct_path_answers_as_the_routes_do(pair: tuple[Api, Api]) -> None:
    direct, routed = pair
    for api in pair:
        api.add_token("acme", "client", [])
    made = [api.ok("pm", "POST", f"{V1}/projects", {"name": "Acme CRM", "client": "Acme"}, 201)["id"]
            for api in pair]
    names = {"PID": "|".join(made)}
    for api, pid in zip(pair, made, strict=True):
        api.add_token("client", "client", [pid])
        for who in ("client", "acme", "auditor"):  # a token's first use is the routes' (they look it up)
            api.get(who, f"{V1}/projects")
    before = ran_directly(direct)
    p = f"{V1}/projects/PID"
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "Leads", "tier": "core"})["status"] == 201
    # Refused by the domain, by the rules of a field, by the role, by an unknown id: the same error each time.
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "Leads", "tier": "core"})["status"] == 409
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "", "tier": "core"})["status"] == 422
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "X", "tier": "gold"})["status"] == 422
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", raw=b'{"title": "X",',
                **{"Content-Type": "application/json"})["status"] == 422
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", raw=b"[" * 100_000 + b"]" * 100_000,
                **{"Content-Type": "application/json"})["status"] == 422  # nested past the decoder's depth
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", raw=b'{"title": "X", "tier": "core"}',
                **{"Content-Type": "text/plain"})["status"] == 422
    assert same(pair, names, "auditor", "POST", f"{p}/scope-items", {"title": "Y", "tier": "core"})["status"] == 403
    assert same(pair, names, "acme", "POST", f"{p}/comments",
                {"target_kind": "milestone", "target_id": "M1", "text": "Not mine"})["status"] == 404
    assert same(pair, names, "nobody", "POST", f"{p}/scope-items", {"title": "Y", "tier": "core"})["status"] == 401
    assert same(pair, names, "pm", "POST", f"{V1}/projects/not-a-project/scope-items",
                {"title": "Y", "tier": "core"})["status"] == 404
    assert same(pair, names, "pm", "POST", f"{p}/scope-items/S9/deliver")["status"] == 404
    assert same(pair, names, "pm", "POST", f"{p}/scope-items/{'S' * 17}/deliver")["status"] == 422
    # Preconditions and retries: a stale If-Match, a malformed one, a key sent twice.
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "Ads", "tier": "core"},
                **{"If-Match": '"1"'})["status"] == 412
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "Ads", "tier": "core"},
                **{"If-Match": "seven"})["status"] == 422
    for _ in range(2):
        answer = same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "Coupons", "tier": "value_added"},
                      **{"Idempotency-Key": "coupons-1", "If-Match": '"2"'})
        assert answer["status"] == 201
    assert same(pair, names, "pm", "POST", f"{p}/scope-items", {"title": "Other", "tier": "core"},
                **{"Idempotency-Key": "coupons-1"})["status"] == 422  # the key with another body
    # Path parameters, a DELETE, a body with amounts, the client's and the participants' writers.
    assert same(pair, names, "pm", "POST", f"{p}/scope-items/S1/retitle", {"title": "Lead capture"})["status"] == 200
    assert same(pair, names, "pm", "DELETE", f"{p}/scope-items/S2")["status"] == 200
    assert same(pair, names, "pm", "POST", f"{p}/milestones",
                {"title": "Research signed off", "stage": "research", "due_on": "2030-01-01"})["status"] == 201
    assert same(pair, names, "pm", "POST", f"{p}/milestones/M1/criteria",
                {"text": "The client signs off", "client_signoff": True})["status"] == 201
    assert same(pair, names, "client", "POST", f"{p}/criteria/AC1/sign-off", {"verdict": "verified"})["status"] == 200
    assert same(pair, names, "client", "POST", f"{p}/comments",
                {"target_kind": "milestone", "target_id": "M1", "text": "Thanks"})["status"] == 201
    assert same(pair, names, "pm", "POST", f"{p}/change-requests",
                {"title": "Coupons at checkout", "requested_by": "Acme", "kind": "add", "tier": "value_added",
                 "impact": {"cost": 12000.5, "schedule_days": 3}})["status"] == 409  # before the baseline
    assert same(pair, names, "pm", "POST", f"{p}/rename", {"name": "Acme CRM 2"})["status"] == 200
    assert ran_directly(routed) == 0
    # Every command in order ran directly (the domain's refusals too), and only those: a request refused before
    # its command runs (an unknown token, a role, a header, a path or a body out of its rules) went to the routes.
    assert ran_directly(direct) - before == 15
    recorded = [[(e["version"], e["type"], e["actor"])
                 for e in api.get("pm", f"{V1}/projects/{pid}/events").json()["items"]]
                for api, pid in zip(pair, made, strict=True)]
    assert recorded[0] == recorded[1] and len(recorded[0]) == 10
