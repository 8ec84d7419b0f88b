"""A browser-less visitor for the pages: a TestClient that signs in, reads CSRF tokens and posts forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from delivery.settings import Database

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Visitor:
    client: TestClient

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        match = CSRF.search(page.text)
        assert match, (path, page.status_code, page.text[:500])
        return match[1]

    def sign_in(self, token: str, next_path: str = "") -> Any:
        data = {"csrf": self.csrf("/signin"), "token": token, "next": next_path}
        return self.client.post("/signin", data=data)

    def post(self, form_page: str, action: str, **fields: str) -> Any:
        return self.client.post(action, data={"csrf": self.csrf(form_page), **fields})


@dataclass
class Site:
    app: FastAPI
    services: Any

    def token(self, role: str, projects: list[str] | None = None, name: str | None = None) -> str:
        token, _ = self.services.tokens.create(role=role, projects=projects or [], name=name or f"{role}-pages")
        return str(token)

    def visitor(self, **kw: Any) -> Visitor:
        return Visitor(TestClient(self.app, **kw))

    def project(self, name: str = "Mall mini-program", client: str = "Acme") -> str:
        recorded = self.services.app.create_project(name=name, client=client, actor="setup")
        self.services.reads.wait_for(recorded.position)
        return str(recorded.project_id)


def make_site(database: Database) -> Iterator[Site]:
    app = create_app(database)
    with TestClient(app):
        yield Site(app, app.state.services)
