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

import inspect
import json
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints
from uuid import UUID

from fastapi import APIRouter, params
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from delivery import clock
from delivery.errors import DeliveryError

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
                token = bearer(value.decode("latin-1"))
                return None if token is None else self.services.tokens.cached(token)
        return None


def bearer(authorization: str) -> str | None:
    """The token of an Authorization header as FastAPI's HTTPBearer reads it: the scheme, one space, the rest."""
    scheme, _, token = authorization.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


# --------------------------------------------------------------------------- commands

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class DirectCommand:
    """One command route as the direct path runs it: what its endpoint's parameters are made from."""

    methods: frozenset[str]
    regex: re.Pattern[str]  # the path after the API's prefix
    answered: Answered  # its template, for the request metrics
    endpoint: Callable[..., Any]
    writer: str  # the Writer parameter
    roles: frozenset[str]  # who may write through it
    # The visible project's parameter (`ProjectId`), its declaration in the dependency, and the dependency.
    project: tuple[str, TypeAdapter[Any], Callable[..., Awaitable[str]]] | None
    path: tuple[tuple[str, TypeAdapter[Any]], ...]  # other path parameters, validated as their route declares
    body: tuple[str, TypeAdapter[Any]] | None  # the body's parameter and model


def direct_commands(routers: Iterable[APIRouter], prefix: str, writers: dict[Callable[..., Any], frozenset[str]],
                    visible: Callable[..., Any]) -> list[DirectCommand]:
    """The routes (included at `prefix`) the direct path can run, found from their endpoints' own signatures.

    A route qualifies when every parameter is one the path knows (a writer dependency from
    `writers`, the visible project from `visible`, a path parameter, one pydantic body) and
    its endpoint returns a Response; any other route is left to FastAPI alone.
    """
    found = []
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.methods and route.methods <= WRITE_METHODS:
                command = _direct(route, prefix, writers, visible)
                if command is not None:
                    found.append(command)
    return found


def _direct(route: APIRoute, prefix: str, writers: dict[Callable[..., Any], frozenset[str]],
            visible: Callable[..., Any]) -> DirectCommand | None:
    hints = get_type_hints(route.endpoint, include_extras=True)
    returns = hints.pop("return", None)
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None
    regex, _format, convertors = compile_path(route.path)
    if any(type(c) is not StringConvertor for c in convertors.values()):
        return None
    writer = project = None
    roles: frozenset[str] = frozenset()
    path: list[tuple[str, TypeAdapter[Any]]] = []
    body = None
    for name in inspect.signature(route.endpoint).parameters:
        hint = hints.get(name)
        meta = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
        depends = next((m.dependency for m in meta if isinstance(m, params.Depends)), None)
        if depends in writers and writer is None:
            writer, roles = name, writers[depends]
        elif depends is visible and name in convertors and project is None:
            declared = get_type_hints(visible, include_extras=True).get(name)
            if declared is None:
                return None
            project = (name, TypeAdapter(declared), visible)
        elif hint is not None and depends is None and any(isinstance(m, params.Path) for m in meta) \
                and name in convertors:
            path.append((name, TypeAdapter(hint)))
        elif isinstance(hint, type) and issubclass(hint, BaseModel) and body is None:
            body = (name, TypeAdapter(hint))
        else:
            return None
    if writer is None or set(convertors) != {n for n, _ in path} | ({project[0]} if project else set()):
        return None
    return DirectCommand(frozenset(route.methods or ()), re.compile(regex.pattern), Answered(prefix + route.path),
                         route.endpoint, writer, roles, project, tuple(path), body)


class DirectCommands:
    """ASGI layer in front of the routes: runs a command whose request is in order, passes the rest on.

    A command whose token is one the token store saw in the last few seconds and whose role may
    write, whose headers, path and body validate, runs here: its endpoint (the route's own
    function) in the thread pool with the same writer, and its errors answered by the app's own
    exception handlers, so the answer is the one the route gives. Anything else (unknown
    token, a role that may not, an invalid header, path or body) goes on to the routes with the
    body as it came, and they answer exactly as before: every refusal is theirs.
    """

    def __init__(self, app: ASGIApp, services: Any, prefix: str, commands: Callable[[], list[DirectCommand]],
                 handlers: dict[Any, Callable[..., Any]], make_writer: Callable[..., Any],
                 headers: dict[str, tuple[re.Pattern[str], int]]) -> None:
        self.app = app
        self.services = services
        self.prefix = prefix
        self.handlers = handlers
        self.make_writer = make_writer
        self.headers = headers
        self.by_method: dict[str, list[DirectCommand]] = {}
        for command in commands():
            for method in command.methods:
                self.by_method.setdefault(method, []).append(command)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS and self.services.direct_commands:
            passed = await self._run(scope, receive, send)
            if passed is None:
                return
            receive = passed
        await self.app(scope, receive, send)

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """None once answered; else the receive to pass on (replaying the body when it was read)."""
        path: str = scope["path"]
        if not path.startswith(self.prefix):
            return receive
        rest = path[len(self.prefix):]
        for command in self.by_method.get(scope["method"], ()):
            match = command.regex.match(rest)
            if match is not None:
                break
        else:
            return receive
        found = _headers(scope)
        token = bearer(found.get("authorization", ""))
        principal = self.services.tokens.cached(token) if token is not None else None
        if principal is None or principal.role not in command.roles:
            return receive
        for name, (pattern, most) in self.headers.items():
            value = found.get(name.lower())
            if value is not None and (len(value) > most or not value or not pattern.fullmatch(value)):
                return receive
        values = match.groupdict()
        arguments: dict[str, Any] = {}
        try:
            if command.project is not None:
                name, adapter, visible = command.project
                arguments[name] = await visible(adapter.validate_python(values[name]), principal)
            for name, adapter in command.path:
                arguments[name] = adapter.validate_python(values[name])
        except (DeliveryError, ValidationError):
            return receive
        if command.body is not None:
            content_type = found.get("content-type", "")
            kind = content_type.partition(";")[0].strip().lower()
            if not (kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))):
                return receive
            message = await receive()
            body: bytes = message.get("body", b"")
            replay = replaying(body, receive)
            if message["type"] != "http.request" or message.get("more_body") or not body:
                return replay
            try:
                arguments[command.body[0]] = command.body[1].validate_python(json.loads(body), from_attributes=True)
            except (ValueError, RecursionError, ValidationError):  # the routes refuse it (nested too deep: 422)
                return replay
        request = Request(scope, receive)
        arguments[command.writer] = self.make_writer(request, self.services, principal, found.get("if-match"),
                                                     found.get("idempotency-key"))
        scope["route"] = command.answered
        self.services.reads.metrics["direct_commands"] += 1
        try:
            response = await run_in_threadpool(command.endpoint, **arguments)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)
        return None

    def _handler(self, exc: Exception) -> Callable[..., Any] | None:
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name, the first of each (as the routes read them)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        key = name.decode("latin-1")
        if key not in found:
            found[key] = value.decode("latin-1")
    return found


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over `body` (already read) once, then whatever the request's own receive says."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
