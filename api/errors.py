"""The one place errors become HTTP: every refusal answers `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import eventsourcing.persistence as es
import psycopg
import sqlalchemy.exc as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import PATTERN_RULES
from delivery.errors import (
    DeliveryError,
    InvalidInput,
    NotFound,
    RuleViolation,
    VersionConflict,
    VersionMismatch,
)
from delivery.messages import MESSAGES, Message, msg
from projections.receipts import ReceiptUnavailable
from projections.service import ViewsBehind

log = logging.getLogger(__name__)

# ------------------------------------------------------------ API errors


class Unauthenticated(DeliveryError):
    code = "unauthenticated"

    def __init__(self, message: Message | None = None) -> None:
        super().__init__(message or msg("sign_in"))


class Forbidden(DeliveryError):
    code = "forbidden"

    def __init__(self, role: str, action: str) -> None:
        """`action`: the refused action's message code (forbidden_write, forbidden_audit, ...)."""
        super().__init__(msg(action, role=role), {"role": role})


class PayloadTooLarge(DeliveryError):
    code = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(msg("payload_too_large", limit=limit), {"limit": limit})


class DatabaseUnavailable(DeliveryError):
    code = "database_unavailable"

    def __init__(self, cause: BaseException) -> None:
        super().__init__(msg("database_unavailable"), {"cause": type(cause).__name__})


# What the drivers raise when the database is down, restarting, unreachable or out of connections: the
# request is answered 503 with Retry-After (never 500), and works again by itself once the database is back.
DATABASE_AWAY: tuple[type[Exception], ...] = (
    es.OperationalError, es.InterfaceError,
    sa.OperationalError, sa.InterfaceError, sa.TimeoutError,
    psycopg.OperationalError, psycopg.InterfaceError,
)


# --------------------------------------------------------------- mapping

STATUS: Sequence[tuple[type[DeliveryError], int]] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (RuleViolation, 409),
    (VersionConflict, 409),
    (VersionMismatch, 412),
    (PayloadTooLarge, 413),
    (InvalidInput, 422),
    (ViewsBehind, 503),
    (DatabaseUnavailable, 503),
    (ReceiptUnavailable, 503),
)


# What a 503 tells a client to wait before trying again.
RETRY_AFTER_SECONDS = 2


def status_of(error: DeliveryError) -> int:
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 400


class ErrorBody(BaseModel):
    code: str = Field(examples=["gate_not_met"], description="The error's stable machine code (it sets the status).")
    message: str = Field(examples=["Stage research cannot be left yet: milestone M1 'Research done' is not completed."],
                         description="The sentence in English.")
    details: dict[str, Any] = Field(default_factory=dict, examples=[{"stage": "research", "unmet": []}], description=(
        "The facts of the refusal (which field, which milestone...). With them, `message_code` and `params`: "
        "the sentence as data, its code in delivery/messages.py and the raw values of its placeholders, "
        "so a client can say it in another language (for invalid_input the code names the rule, and the "
        "sentence is `field_rule`: \"{field}: {rule}.\")."))


class ErrorResponse(BaseModel):
    """Every error the API answers has this shape."""

    error: ErrorBody


def error_response(error: DeliveryError) -> JSONResponse:
    status = status_of(error)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse({"error": error.to_dict()}, status_code=status, headers=headers)


def _delivery_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeliveryError)
    return error_response(exc)


def _database_away(request: Request, exc: Exception) -> Any:
    log.warning("%s %s: the database does not answer: %s: %s", request.method, request.url.path,
                type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
    page = getattr(request.app.state, "unavailable_page", None)
    if page is not None and not request.url.path.startswith("/api/"):
        return page(request)  # a page answers a page (web/ registers it), with the same status and header
    return error_response(DatabaseUnavailable(exc))


_UNION_TAGS = {"int", "float", "str", "bool", "none", "list", "dict"}


def _field(loc: Sequence[Any]) -> str:
    """`("body", "impact", "cost")` → `impact.cost`, `("header", "If-Match")` → `If-Match`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    # pydantic names the union member it tried (`threshold.int`, `threshold.float`): not a field.
    parts = [p for p in parts if p not in _UNION_TAGS and not p.startswith("constrained-") and "[" not in p]
    return ".".join(parts) or "body"


def _rule(error: dict[str, Any]) -> str:
    """The rule a value broke, as a sentence: a missed pattern says what the pattern stands for."""
    if error.get("type") == "string_pattern_mismatch":
        rule = PATTERN_RULES.get(str((error.get("ctx") or {}).get("pattern", "")))
        if rule is not None:
            return rule
    return str(error.get("msg", ""))


def _named(loc: Sequence[Any], error: dict[str, Any]) -> tuple[Any, ...]:
    """A body that is one of several kinds told apart by a field (a token's `role`, a subscription's
    `channel`) with an unknown kind is reported at the body: the field that names the kind is meant."""
    if error.get("type") == "union_tag_invalid":
        return (*loc, str((error.get("ctx") or {}).get("discriminator", "")).strip("'"))
    return tuple(loc)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": "body" if e.get("type") == "json_invalid" else _field(_named(e.get("loc", ()), e)),
         "location": str((e.get("loc") or ("body",))[0]),
         "rule": _rule(e), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "body", "location": "body", "rule": "is not valid", "type": ""}
    message = f"{first['field']}: {first['rule']}."
    if len(errors) > 1:
        message += f" ({len(errors) - 1} more in details.errors)"
    details: dict[str, Any] = {"field": first["field"], "rule": first["rule"], "errors": errors[:20]}
    raw = exc.errors()
    if raw and str(raw[0].get("type", "")) in MESSAGES:
        # A rule of our own (api/schemas.py raises it by its message code): said as data too.
        details.update(message_code=str(raw[0]["type"]), params={"field": first["field"], **(raw[0].get("ctx") or {})})
    body = {"code": "invalid_input", "message": message, "details": details}
    return JSONResponse({"error": body}, status_code=422)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable", 415: "unsupported_media_type"}


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # The only 400 the framework raises: a body it could not decode (not UTF-8, not JSON).
        body = {"code": "invalid_input", "message": "body: is not valid JSON.",
                "details": {"field": "body", "rule": "is not valid JSON", "message_code": "rule_json",
                            "params": {"field": "body"}}}
        return JSONResponse({"error": body}, status_code=422)
    page = getattr(request.app.state, "not_found_page", None)
    if exc.status_code == 404 and page is not None and not request.url.path.startswith("/api/"):
        answer: Response = page(request)  # an address outside the API answers the pages' 404 page (web/ has it)
        return answer
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = msg("no_such_endpoint").english() if exc.status_code == 404 else str(exc.detail)
    details = {"message_code": "no_such_endpoint", "params": {}} if exc.status_code == 404 else {}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed(request))
    return JSONResponse({"error": {"code": code, "message": message, "details": details}},
                        status_code=exc.status_code, headers=headers)


def _allowed(request: Request) -> list[str]:
    """Every method the OpenAPI document lists for the path (the router knows only its first match)."""
    found: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)), request.url.path):
            found |= {m.upper() for m in operations}
    return sorted(found)


def install(app: FastAPI) -> None:
    """Register the handlers; anything not listed here is a bug and stays a 500."""
    app.add_exception_handler(DeliveryError, _delivery_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for kind in DATABASE_AWAY:
        app.add_exception_handler(kind, _database_away)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    described = {
        401: "No token, or a token that is unknown or revoked.",
        403: "The token's role may not do this.",
        404: "No such project or object (or not one this token may see).",
        409: "The project's rules refuse the command (`details` says what is unmet).",
        412: "`If-Match` names a version that is no longer current; nothing was recorded.",
        413: "The request body is over 1 MiB.",
        422: "The input is malformed: `details.field` names the field.",
        503: "The database does not answer, or the views did not catch up in time (is `delivery worker` "
             "running?); `Retry-After` says when to try again.",
    }
    return {s: {"model": ErrorResponse, "description": described[s]} for s in statuses}
