"""The HTTP API: `create_app()` builds it on the database of DELIVERY_DATABASE_URL (or the one given)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import contract, docs, errors
from api.auth import TokenStore
from api.deps import WRITE_HEADERS, WRITER_ROLES, Services, Writer, visible_project
from api.edge import Edge, FailureLimiter, HttpMetrics
from api.fastpath import DirectCommands, KeptReads, direct_commands, replaying
from api.routers import (
    audit,
    change_requests,
    criteria,
    milestones,
    notifications,
    participation,
    projects,
    releases,
    scope,
    templates,
    tokens,
    views,
)
from api.routers.integrity import router as integrity_router
from delivery import clock
from delivery.application import DeliveryApplication
from delivery.settings import AuthLimit, Database
from notify.metrics import NotifyCollector
from notify.runner import start_notifier
from notify.store import NotifyStore
from projections.metrics import ReadSideCollector
from projections.service import ReadSide
from projections.state import COLLECTOR_THRESHOLDS
from projections.store import make_engine
from web import app as web

MAX_BODY = 1024 * 1024
PREFIX = "/api/v1"

DESCRIPTION = """
Every command and view of the delivery tracker for three roles: `pm` writes,
`client` reads its own projects, `auditor` reads everything including history.

Sign in with `Authorization: Bearer <token>` (`delivery token create --role pm`).
Every error answers `{"error": {"code", "message", "details"}}`. Every write
answers the project's new `version` and an `ETag`; send it back as `If-Match`
to refuse a write on a stale copy (412), and an `Idempotency-Key` to retry safely.
"""


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, before any route reads them."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send) -> None:
        response = errors.error_response(errors.PayloadTooLarge(self.limit))
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a JSONResponse never reads the request
    return {"type": "http.disconnect"}


def build_services(database: Database, live: bool | None = None) -> Services:
    app = DeliveryApplication(database)
    engine = make_engine(database)
    # The views are applied by one thread of one process: on SQLite this one; on PostgreSQL
    # whichever process holds the applier lock (`delivery worker` or an API process). Every
    # PostgreSQL process follows the applier's announcements (read your writes, cached reads).
    reads = ReadSide(app, live=True if live is None else live, follow=database.kind == "postgresql")
    notices = NotifyStore(engine, reads.store.reader)
    # Notifications are planned and sent where the views are applied: in this process on SQLite, by
    # `delivery worker` on PostgreSQL (docs/notifications.md).
    notifier = start_notifier(app, notices) if reads.live and database.kind == "sqlite" else None
    return Services(database, app, reads, engine, TokenStore(engine, reads.store.reader), notices, notifier)


def install_probes(api: FastAPI, services: Services, registry: CollectorRegistry) -> None:
    """`/healthz` (the process answers), `/readyz` (the database answers and the views move), `/metrics`."""

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", include_in_schema=False)
    def readyz() -> JSONResponse:
        reads = services.reads
        state: dict[str, Any] = {"views_position": reads.position(), **reads.metrics}
        if reads.applier is not None:
            state["applying"] = reads.applier.leading
        try:
            state["store_position"] = services.app.recorder.max_notification_id() or 0
            state.update(_lag(services, state["views_position"], state["store_position"]))
        except Exception as exc:  # the database is away: not ready, say why
            return _not_ready("database_unavailable", f"The database does not answer: {type(exc).__name__}.", state)
        if reads.failure is not None:
            state["stuck_at"] = reads.failure.position
            return _not_ready("views_stuck", f"The views cannot apply the event at position "
                              f"{reads.failure.position}: {reads.failure.cause}", state)
        return JSONResponse({"status": "ready", **state})

    @api.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _lag(services: Services, views: int, store: int) -> dict[str, Any]:
    """How far the views are behind: in events, and in seconds since the oldest event they have not applied."""
    behind = max(0, store - views)
    seconds = 0.0
    if behind:
        first = services.app.recorder.select_notifications(views + 1, 1, inclusive_of_start=True)
        if first:
            recorded_at = services.app.mapper.to_domain_event(first[0]).timestamp  # type: ignore[attr-defined]
            seconds = max(0.0, (clock.now() - recorded_at).total_seconds())
    return {"lag_events": behind, "lag_seconds": round(seconds, 3)}


def _not_ready(code: str, message: str, details: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, 503,
                        headers={"Retry-After": "5"})


# The API's routers, each at PREFIX (and the participation keys' and integrity routers beside them).
ROUTERS = (projects, templates, scope, milestones, criteria, change_requests, releases, views, audit, tokens,
           participation, notifications)


def create_app(database: Database | None = None, *, live: bool | None = None,
               auth_limit: AuthLimit | None = None) -> FastAPI:
    """The API on `database` (default: DELIVERY_DATABASE_URL); `live` overrides in-process view catch-up;
    `auth_limit` the failed-authentication limit (default: DELIVERY_AUTH_FAILURES, _WINDOW_SECONDS)."""
    services = build_services(database or Database.from_env(), live)
    # Each app has its own registry: several apps in one process (tests) do not share counts.
    registry = CollectorRegistry()
    registry.register(ReadSideCollector(services.app, services.reads))
    registry.register(NotifyCollector(services.app, services.notices))
    http_metrics = HttpMetrics(registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.close()

    api = FastAPI(
        title="Delivery tracker API", version="1.0.0", description=DESCRIPTION, lifespan=lifespan,
        openapi_url="/openapi.json", docs_url=None, redoc_url=None,
    )
    api.state.services = services
    errors.install(api)
    docs.install(api)  # /docs and /redoc with their assets from the package (no CDN)
    contract.install(api)
    for module in ROUTERS:
        api.include_router(module.router, prefix=PREFIX)
    api.include_router(participation.keys, prefix=PREFIX)
    api.include_router(integrity_router, prefix=PREFIX)
    install_probes(api, services, registry)
    api.add_middleware(KeptReads, services=services)
    api.add_middleware(DirectCommands, services=services, prefix=PREFIX, handlers=api.exception_handlers,
                       make_writer=Writer, headers=WRITE_HEADERS,
                       commands=lambda: direct_commands([m.router for m in ROUTERS], PREFIX, WRITER_ROLES,
                                                        visible_project))
    api.add_middleware(BodyLimit)
    web.install(api)  # the pages at `/` (web/), on the same services
    # Added last, so it is the outermost of the app's own layers: it sees every answer, 413s included.
    api.add_middleware(Edge, metrics=http_metrics, limiter=FailureLimiter(auth_limit or AuthLimit.from_env()),
                       api_prefix=PREFIX + "/")
    return api




def warm_routes(app: FastAPI) -> None:
    """Have FastAPI build every route's state now, not on the first request that walks past it.

    FastAPI (0.16x) prepares each route of an included router (its dependencies' models and validators)
    lazily, on the first request that reaches it: ~0.5 s for the first request after start. A request
    whose path no route matches walks them all; matching alone answers nothing and changes no state.
    """
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/\x00warm", "root_path": "",
                             "query_string": b"", "headers": [], "app": app}
    for route in app.router.routes:
        route.matches(scope)


def create_served_app() -> FastAPI:
    """The app as `delivery serve` runs it: what start-up built is frozen out of the collector's way."""
    app = create_app()
    warm_routes(app)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)
    return app
