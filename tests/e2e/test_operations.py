"""The operations surface over HTTP: security headers, request ids, JSON logs without secrets, a 500 in
the error shape, the failed-authentication limit and the Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from delivery.logs import JsonFormatter
from delivery.settings import AuthLimit, Database
from tests.e2e.conftest import Api, new_project
from tests.e2e.pages_helpers import CSRF

SECRET = "Zq3secretShareLink0000000000000000"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """What the API logs at INFO and above, as the JSON lines `delivery serve` writes."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("delivery.access"), logging.getLogger("delivery.errors")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield out
    for logger in loggers:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


# ------------------------------------------------------------------ headers


@pytest.mark.parametrize("path", ["/signin", "/api/v1/projects", "/static/site.css", "/healthz", "/nowhere"])
def test_every_answer_carries_the_security_headers(api: Api, path: str) -> None:
    answer = api.client.get(path)
    csp = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "default-src 'self'" in csp
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_the_pages_need_no_inline_script_or_style(api: Api) -> None:
    """What lets the pages' policy refuse inline code: no template has any."""
    from pathlib import Path

    templates = Path(__file__).parents[2] / "web" / "templates"
    for template in templates.glob("*.html"):
        source = template.read_text()
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", source), template.name


# ----------------------------------------------------------------- request id


def test_a_sane_request_id_is_kept_and_echoed_else_one_is_made(api: Api) -> None:
    assert api.client.get("/healthz", headers={"X-Request-ID": "lb-42.a_b:c"}).headers["X-Request-ID"] == "lb-42.a_b:c"
    for insane in ("x" * 65, "has space", "<script>", ""):
        made = api.client.get("/healthz", headers={"X-Request-ID": insane}).headers["X-Request-ID"]
        assert made != insane and re.fullmatch(r"[0-9a-f]{32}", made)
    first, second = (api.client.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert first != second


# ---------------------------------------------------------------------- logs


def test_access_log_lines_are_json_with_the_request_id_and_no_secrets(api: Api, logged: io.StringIO) -> None:
    pid = new_project(api)
    api.client.get(f"/share/{SECRET}/milestones.ics")
    api.client.get(f"/s/{SECRET}")
    api.client.get(f"/pm/p/{pid}?done=share&link={SECRET}", follow_redirects=False)
    api.get("pm", f"/api/v1/projects/{pid}", headers={"X-Request-ID": "trace-1"})
    text = logged.getvalue()
    assert SECRET not in text and api.tokens["pm"] not in text
    lines = _lines(logged)[1:]  # after the project's creation
    assert len(lines) == 4
    assert [line["path"] for line in lines[:3]] == [
        "/share/[redacted]/milestones.ics", "/s/[redacted]", f"/pm/p/{pid}?done=share&link=[redacted]"]
    last = lines[-1]
    assert (last["logger"], last["request_id"], last["status"], last["route"]) == (
        "delivery.access", "trace-1", 200, "/api/v1/projects/{project_id}")
    assert isinstance(last["duration_ms"], float) and last["level"] == "info"


def test_an_unexpected_exception_is_a_500_in_the_error_shape_logged_with_its_traceback(
    sqlite_url: str, logged: io.StringIO,
) -> None:
    app = create_app(Database(sqlite_url))

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/boom", headers={"X-Request-ID": "bug-7"})
    assert answer.status_code == 500
    assert answer.headers["X-Request-ID"] == "bug-7"
    assert answer.json() == {"error": {"code": "internal_error", "message": (
        "Something went wrong on our side; the server's log has it under request id bug-7."),
        "details": {"request_id": "bug-7"}}}
    (error,) = [line for line in _lines(logged) if line["logger"] == "delivery.errors"]
    assert error["request_id"] == "bug-7" and "RuntimeError: a bug" in str(error["traceback"])
    access = [line for line in _lines(logged) if line["logger"] == "delivery.access"]
    assert access[-1]["status"] == 500


# ------------------------------------------------------------------ rate limit


@pytest.fixture
def strict(sqlite_url: str) -> Iterator[Api]:
    app = create_app(Database(sqlite_url), auth_limit=AuthLimit(failures=3, window=60))
    token = app.state.services.tokens.create(role="pm", name="pm")[0]
    with TestClient(app) as client:
        yield Api(client, {"pm": token, "bad": "dt_guess"}, app)


def test_bad_tokens_meet_429_with_retry_after_after_the_limit(strict: Api) -> None:
    for _ in range(3):
        assert strict.get("bad", "/api/v1/projects").status_code == 401
    refused = strict.get("bad", "/api/v1/projects")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "too_many_failures"
    # The address is refused for any credentials until the window moves; other clients are not.
    assert strict.get("pm", "/api/v1/projects").status_code == 429
    other = TestClient(strict.app, client=("203.0.113.9", 4000))
    assert other.get("/api/v1/projects", headers=strict.headers("pm")).status_code == 200
    # Requests without credentials (a signed-in browser, the probes) are not attempts.
    assert strict.client.get("/healthz").status_code == 200


def test_failed_sign_ins_and_share_link_guesses_count_too(strict: Api) -> None:
    csrf = CSRF.search(strict.client.get("/signin").text)
    assert csrf
    assert strict.client.post("/signin", data={"csrf": csrf[1], "token": "dt_wrong"}).status_code == 401
    assert strict.client.get(f"/s/{SECRET}").status_code == 404
    assert strict.client.get(f"/share/{SECRET}/milestones.ics").status_code == 404
    page = strict.client.get(f"/s/{SECRET}x")
    assert page.status_code == 429 and page.headers["Retry-After"]
    assert page.headers["content-type"].startswith("text/html")


def test_good_credentials_do_not_count(strict: Api) -> None:
    for _ in range(5):
        assert strict.get("pm", "/api/v1/projects").status_code == 200


def test_the_limit_settings_are_read_from_the_environment() -> None:
    assert AuthLimit.from_env({}) == AuthLimit(20, 300.0)
    assert AuthLimit.from_env({"DELIVERY_AUTH_FAILURES": "5", "DELIVERY_AUTH_WINDOW_SECONDS": "30"}) == AuthLimit(5, 30)
    with pytest.raises(Exception, match="DELIVERY_AUTH_FAILURES: must be a whole number"):
        AuthLimit.from_env({"DELIVERY_AUTH_FAILURES": "lots"})


# --------------------------------------------------------------------- metrics


def test_metrics_in_the_prometheus_format(api: Api) -> None:
    pid = new_project(api)
    api.get("pm", f"/api/v1/projects/{pid}")
    api.get("pm", "/api/v1/projects/unknown")
    api.client.get("/nowhere")
    metrics = api.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=")
    text = metrics.text
    for line in (
        'delivery_http_requests_total{method="GET",route="/api/v1/projects/{project_id}",status="200"} 1.0',
        'delivery_http_requests_total{method="GET",route="/api/v1/projects/{project_id}",status="404"} 1.0',
        'delivery_http_requests_total{method="POST",route="/api/v1/projects",status="201"} 1.0',
        'delivery_http_requests_total{method="GET",route="unmatched",status="404"} 1.0',
        'delivery_http_request_duration_seconds_count{method="GET",route="/api/v1/projects/{project_id}"} 2.0',
        "delivery_events_recorded_total 1.0", "delivery_projection_lag_events 0.0", "delivery_views_position 1.0",
        "delivery_database_up 1.0", "delivery_applier_errors_total 0.0", "delivery_apply_failures_total 0.0",
        "delivery_saves_total 1.0", "delivery_save_transactions_total 1.0",
    ):
        assert line in text, line
    assert re.search(r'delivery_http_request_duration_seconds_bucket\{le="0.1",method="GET",route=', text)
    assert "/api/v1/projects/unknown" not in text  # labels are templates, never raw paths


def test_the_served_app_has_every_route_ready_before_its_first_request(sqlite_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI builds an included route's state on the first request that walks past it (~0.5 s in all);
    `delivery serve` has it built at start-up, so no user's first request pays for it."""
    import fastapi.routing

    context = getattr(fastapi.routing, "_EffectiveRouteContext", None)
    if context is None:
        pytest.skip("this FastAPI prepares its routes when they are included")
    built: list[str] = []
    original = context.from_api_route.__func__

    def counted(cls: type, *args: object, **kwargs: object) -> object:
        built.append(str(kwargs.get("original_route", args[0] if args else "")))
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(context, "from_api_route", classmethod(counted))
    monkeypatch.setenv("DELIVERY_DATABASE_URL", sqlite_url)
    from api.app import create_served_app

    app = create_served_app()
    assert len(built) > 50  # every route of the API and the pages, at start-up
    built.clear()
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v1/projects").status_code == 401
        assert client.get("/signin").status_code == 200
    assert built == []
