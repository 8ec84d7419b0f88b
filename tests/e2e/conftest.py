"""The API on a fresh store per test, with a token for each role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from delivery.settings import AuthLimit, Database


@dataclass
class Api:
    """A TestClient plus a token per role; `as_(role)` picks who is calling."""

    client: TestClient
    tokens: dict[str, str]
    app: FastAPI

    def headers(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def get(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(who, **kw.pop("headers", {})), **kw)

    def post(self, who: str, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers(who, **kw.pop("headers", {})), **kw)

    def delete(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.delete(path, headers=self.headers(who, **kw.pop("headers", {})), **kw)

    def ok(self, who: str, method: str, path: str, json: Any = None, status: int | None = None) -> Any:
        response = self.client.request(method, path, json=json, headers=self.headers(who))
        assert response.status_code == (status or response.status_code) and response.status_code < 300, (
            method, path, response.status_code, response.text)
        return response.json()

    def add_token(self, who: str, role: str, projects: list[str] | None = None) -> str:
        services = self.app.state.services
        token, _ = services.tokens.create(role=role, projects=projects or [], name=who)
        self.tokens[who] = token
        return token


# The failed-authentication limit has its own tests (test_operations.py); the others send bad tokens on purpose.
NO_AUTH_LIMIT = AuthLimit(failures=0)


def make_api(database: Database, live: bool | None = None) -> Iterator[Api]:
    app = create_app(database, live=live, auth_limit=NO_AUTH_LIMIT)
    services = app.state.services
    tokens = {role: services.tokens.create(role=role, name=f"{role}-test")[0] for role in ("pm", "auditor")}
    with TestClient(app) as client:
        yield Api(client, tokens, app)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(Database(sqlite_url))


def new_project(api: Api, name: str = "Mall mini-program", client: str = "Acme") -> str:
    body = api.ok("pm", "POST", "/api/v1/projects", {"name": name, "client": client}, status=201)
    return str(body["id"])
