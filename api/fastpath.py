"""Kept reads answered before routing: a live view or portfolio page the read side already holds as bytes.

The most frequent requests (a project's milestones, checklist, change log or releases,
and portfolio pages) are answered from bytes the read side keeps until the next event
(projections/service.py). When such bytes are kept, the token is one the token store
saw in the last few seconds and the caller may see the project, this layer sends them
without FastAPI's routing, dependency resolution and validation, which cost more than
the answer itself. Anything else (another path, a query parameter, an unknown token, a
project the caller may not see, nothing kept) goes on to the routes unchanged, and they
answer exactly as before: errors and refusals are always theirs.

The portfolio's query parameters are validated by its route; the route remembers, per
raw query string, the validated filters (`PortfolioQueries`), so the same query string
is answered here afterwards without parsing it again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from uuid import UUID

from starlette.types import ASGIApp, Receive, Scope, Send

from delivery import clock

PREFIX = "/api/v1/projects"
# The per-project views the read side keeps as bytes, by the last segment of their path.
VIEWS = {
    b"milestones": "milestones", b"checklist": "checklist", b"change-requests": "change-requests",
    b"releases": "releases",
}
JSON_HEADERS = [(b"content-type", b"application/json")]
# Validated portfolio queries remembered per raw query string (and the caller's visible projects).
REMEMBERED = 256


class Answered:
    """What the request metrics read as the route of a kept answer (its route's template, `.path`)."""

    def __init__(self, path: str) -> None:
        self.path = path


PORTFOLIO_ROUTE = Answered(PREFIX)
VIEW_ROUTES = {view: Answered(f"{PREFIX}/{{project_id}}/{view}") for view in VIEWS.values()}


class PortfolioQueries:
    """Validated portfolio filters by (raw query string, the caller's visible projects); least recently used go."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._kept: OrderedDict[tuple[bytes, tuple[str, ...] | None], dict[str, Any]] = OrderedDict()

    def get(self, query_string: bytes, visible: tuple[str, ...] | None) -> dict[str, Any] | None:
        return self._kept.get((query_string, visible))

    def remember(self, query_string: bytes, visible: tuple[str, ...] | None, filters: dict[str, Any]) -> None:
        key = (query_string, visible)
        self._kept[key] = filters
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)


class KeptReads:
    """ASGI layer in front of the routes: answers kept reads, passes everything else on untouched."""

    def __init__(self, app: ASGIApp, services: Any) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            body = self._kept(scope)
            if body is not None:
                self.services.reads.metrics["kept_reads"] += 1
                await send({"type": "http.response.start", "status": 200, "headers": [
                    *JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _kept(self, scope: Scope) -> bytes | None:
        principal = self._principal(scope)
        if principal is None:
            return None
        path: str = scope["path"]
        reads = self.services.reads
        if path == PREFIX:
            visible = tuple(sorted(principal.projects)) if principal.role == "client" else None
            filters = self.services.portfolio_queries.get(scope["query_string"], visible)
            if filters is None:
                return None
            query = reads.portfolio_query(now=clock.now(), **filters)
            page: bytes | None = reads.cache.get("*", ("portfolio.json", query))
            if page is not None:
                scope["route"] = PORTFOLIO_ROUTE
            return page
        if scope["query_string"] or path[len(PREFIX)] != "/":
            return None  # as_of and anything else, and another path (/api/v1/projectsX/...): the routes'
        parts = path[len(PREFIX) + 1:].split("/")
        if len(parts) != 2:
            return None
        view = VIEWS.get(parts[1].encode())
        if view is None:
            return None
        try:
            pid = str(UUID(parts[0]))
        except ValueError:
            return None
        if not principal.may_see(pid):
            return None
        kept: bytes | None = reads.kept_encoded(view, pid, clock.now())
        if kept is not None:
            scope["route"] = VIEW_ROUTES[view]
        return kept

    def _principal(self, scope: Scope) -> Any:
        for name, value in scope["headers"]:
            if name == b"authorization":
                # As FastAPI's HTTPBearer reads it: the scheme, one space, the rest is the token.
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    return None
                return self.services.tokens.cached(token)
        return None
