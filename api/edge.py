"""What every HTTP request passes through once, as one pure ASGI middleware (`Edge`).

A request id (the caller's `X-Request-ID` when sane, else a new one; echoed in the answer), the
security headers, the refusal of a client address after too many failed authentications (429 with
`Retry-After`), the request metrics (by route template and status, latency), one JSON access-log
line with secrets redacted, and a 500 in the API's error shape for any exception nothing handled
(logged with its traceback). Everything it needs is built once, at start-up: nothing here compiles,
configures or allocates per request beyond the few values it records.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from delivery.logs import redact
from delivery.settings import AuthLimit

# The `_created` series double what a scrape reads and say nothing the process start time does not.
disable_created_metrics()  # type: ignore[no-untyped-call]

access_log = logging.getLogger("delivery.access")
error_log = logging.getLogger("delivery.errors")

# An incoming X-Request-ID is kept when it is short and plain (it goes into logs and headers).
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def _request_ids() -> Iterator[str]:
    """Ids for requests that bring none: 32 hex digits, a random half drawn when the process starts and a count.

    Unique across processes and restarts like a random id, without a system call per request (os.urandom was
    4 % of the event loop's time under a write load); they need to be unique, not secret.
    """
    prefix = os.urandom(8).hex()
    return (f"{prefix}{n:016x}" for n in itertools.count(1))

# The pages have no inline script or style (web/templates): everything comes from /static.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# /docs and /redoc are FastAPI's Swagger UI and ReDoc pages (api/docs.py): an inline script each, the
# assets from this host; ReDoc runs a worker from a blob.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:; "
               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer")]
PAGE_HEADERS = [(b"content-security-policy", PAGE_POLICY.encode()), *_COMMON]
DOCS_PATHS = frozenset({"/docs", "/redoc"})
DOCS_HEADERS = [(b"content-security-policy", DOCS_POLICY.encode()), *_COMMON]

# What the log and the metrics say of a request whose client left before any answer (nginx's figure).
CLIENT_GONE = 499
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Latency buckets in seconds: reads answer in milliseconds, an *as of* read or a write waiting for
# the views in up to seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class FailureLimiter:
    """Failed authentications per client address in a sliding window (in this process's memory)."""

    MAX_ADDRESSES = 10_000  # beyond this, addresses with no failure in the window are forgotten

    def __init__(self, limit: AuthLimit) -> None:
        self.limit = limit
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, address: str, now: float) -> int:
        """Seconds until `address` may try again (0: it may now)."""
        seen = self._failures.get(address)
        if seen is None or len(seen) < self.limit.failures:
            return 0
        wait = seen[0] + self.limit.window - now
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str, now: float) -> None:
        if self.limit.failures <= 0:
            return
        seen = self._failures.get(address)
        if seen is None:
            if len(self._failures) >= self.MAX_ADDRESSES:
                self._forget(now)
            seen = self._failures[address] = deque(maxlen=self.limit.failures)
        seen.append(now)

    def _forget(self, now: float) -> None:
        for address in [a for a, seen in self._failures.items() if seen[-1] + self.limit.window <= now]:
            del self._failures[address]


class HttpMetrics:
    """Requests by method, route template and status, and their latency, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("delivery_http_requests", "HTTP requests answered, by route template and status.",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("delivery_http_request_duration_seconds",
                                 "Time from a request's arrival to the end of its answer.",
                                 ["method", "route"], buckets=BUCKETS, registry=registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # once per (method, route, status): labels() is the slow part
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def _route_template(scope: Scope) -> str:
    """The matched route as its template (`/api/v1/projects/{project_id}`): a metric label of bounded count."""
    # FastAPI keeps an included router's route with its own path; the effective context has the full one.
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path", None) or getattr(scope.get("route"), "path", None)
    if path:
        return str(path)
    if scope.get("root_path"):  # a mount (/static)
        return f"{scope['root_path']}/{{path}}"
    return "unmatched"


def _internal_error(request_id: str) -> bytes:
    return json.dumps({"error": {
        "code": "internal_error",
        "message": f"Something went wrong on our side; the server's log has it under request id {request_id}.",
        "details": {"request_id": request_id},
    }}).encode()


_TOO_MANY = "Too many failed authentications from this address: try again in {seconds} seconds."
# The page says it in both languages of the pages (web/i18n.py): it is answered before any route runs.
_TOO_MANY_ZH = "此地址的身份验证失败次数过多，请在 {seconds} 秒后重试。"


def _too_many(seconds: int, request_id: str, html: bool) -> tuple[bytes, bytes]:
    message = _TOO_MANY.format(seconds=seconds)
    if html:
        body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>429</title>'
                f'<link rel="stylesheet" href="/static/site.css"></head><body><main><h1>429</h1>'
                f'<p class="error" role="alert">{message}</p>'
                f'<p class="error" lang="zh-CN">{_TOO_MANY_ZH.format(seconds=seconds)}</p></main></body></html>')
        return body.encode(), b"text/html; charset=utf-8"
    return json.dumps({"error": {"code": "too_many_failures", "message": message, "details": {
        "retry_after": seconds, "request_id": request_id}}}).encode(), b"application/json"


class Edge:
    """The one per-request layer around the app (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, limiter: FailureLimiter,
                 api_prefix: str = "/api/") -> None:
        self.app = app
        self.metrics = metrics
        self.limiter = limiter
        self.api_prefix = api_prefix
        self.ids = _request_ids()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = ""
        credentials = False
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if _SANE_ID.fullmatch(text):
                    request_id = text
            elif name == b"authorization":
                credentials = True
        request_id = request_id or next(self.ids)
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        method: str = scope["method"]
        share = path.startswith(("/s/", "/share/"))
        attempt = credentials or share or (path == "/signin" and method == "POST")
        client = scope.get("client")
        address = client[0] if client else "-"
        extra = [(b"x-request-id", request_id.encode()), *(DOCS_HEADERS if path in DOCS_PATHS else PAGE_HEADERS)]
        status = 0
        answered = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                answered = True
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        wait = self.limiter.retry_after(address, time.monotonic()) if attempt else 0
        try:
            if wait:
                body, kind = _too_many(wait, request_id, html=not path.startswith(self.api_prefix))
                await send_with_headers({"type": "http.response.start", "status": 429, "headers": [
                    (b"content-type", kind), (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(wait).encode()), (b"cache-control", b"no-store")]})
                await send({"type": "http.response.body", "body": body})
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception:
            error_log.exception("unhandled error", extra={"request_id": request_id, "method": method,
                                                          "path": redact(path)})
            status = 500
            if not answered:
                body = _internal_error(request_id)
                await send_with_headers({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            if not answered:
                status = status or CLIENT_GONE
            if attempt and not wait and (status == 401 or (share and status == 404)):
                self.limiter.failed(address, time.monotonic())
            template = _route_template(scope)
            self.metrics.observe(method if method in _METHODS else "OTHER", template, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                query = scope.get("query_string", b"")
                access_log.info("request", extra={
                    "request_id": request_id, "method": method,
                    "path": redact(path + ("?" + query.decode("latin-1") if query else "")),
                    "route": template, "status": status, "duration_ms": round(elapsed * 1000, 2),
                    "client": address,
                })
