"""The OpenAPI document as generators read it: what FastAPI leaves implicit, said in standard keywords.

- An optional query parameter or header is left out when unused, never sent as null:
  its schema is the value's alone (FastAPI writes `anyOf: [..., {"type": "null"}]`,
  and a generator then sends `If-Match: null`). The same for an optional body.
- Every write answers `ETag` (and `Idempotent-Replayed` when answered from an
  Idempotency-Key's record); a project's summary answers `ETag`; every 503 says
  `Retry-After`. The headers are declared on those responses.
- A download (JSON Lines, CSV, iCalendar) declares its 200 body as text of its media type.
- A request body's oneOf carries no `discriminator` (its members' enums already tell them apart).
- Every operation that can answer 401 can also answer 429 (too many failed authentications from
  the caller's address, api/edge.py), with `Retry-After`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

WRITE_HEADERS = {
    "ETag": {"description": "The project's version after the write, quoted (send it back as If-Match).",
             "schema": {"type": "string", "pattern": '^"[0-9]+"$'}},
    "Idempotent-Replayed": {"description": "`true` when the answer comes from an earlier request with the "
                            "same Idempotency-Key (nothing was recorded again).",
                            "schema": {"type": "string", "enum": ["true"]}},
}
ETAG = {"ETag": WRITE_HEADERS["ETag"]}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                               "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
DOWNLOADS = {"application/x-ndjson", "text/csv", "text/calendar"}


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {"type": "null"}]` → X (keeping the outer description, title, default and examples)."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return schema
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) == len(options):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    if "examples" in rest:
        rest["examples"] = [e for e in rest["examples"] if e is not None] or rest.pop("examples")
    if len(kept) == 1:
        return {**kept[0], **rest}
    return {"anyOf": kept, **rest}


def _operation(path: str, method: str, op: dict[str, Any]) -> None:
    names = set()
    for parameter in op.get("parameters", []):
        names.add(parameter["name"])
        if not parameter.get("required"):
            parameter["schema"] = _not_null(parameter["schema"])
    body = op.get("requestBody")
    if body is not None and not body.get("required"):
        for media in body.get("content", {}).values():
            media["schema"] = _not_null(media["schema"])
    for media in (body or {}).get("content", {}).values():
        # A oneOf whose members' `role` enums do not overlap says it all; the `discriminator` mapping beside it
        # (an OpenAPI addition) makes some generators mutate one member and call a valid body invalid.
        media.get("schema", {}).pop("discriminator", None)
    for status, response in op.get("responses", {}).items():
        headers: dict[str, Any] = {}
        if status.startswith("2") and "Idempotency-Key" in names:
            headers.update(WRITE_HEADERS)
        elif status == "200" and method == "get" and path.endswith("/projects/{project_id}"):
            headers.update(ETAG)
        if status == "503":
            headers.update(RETRY_AFTER)
        if headers:
            response["headers"] = {**response.get("headers", {}), **headers}
        for media_type, media in response.get("content", {}).items():
            if media_type in DOWNLOADS and not media.get("schema"):
                media["schema"] = {"type": "string", "description": f"The {media_type} document."}
    answers = op.get("responses", {})
    if "401" in answers and "429" not in answers:
        answers["429"] = {
            "description": "Too many failed authentications from this address (a bad token, sign-in or share "
                           "link); `Retry-After` says when to try again.",
            "content": answers["401"].get("content", {}), "headers": RETRY_AFTER,
        }


def contract(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the rules above applied (built once)."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, openapi_version=app.openapi_version,
            description=app.description, routes=app.routes,
        )
        for path, operations in document.get("paths", {}).items():
            for method, op in operations.items():
                _operation(path, method, op)
        app.openapi_schema = document
    return app.openapi_schema


def install(app: FastAPI) -> None:
    app.openapi = lambda: contract(app)  # type: ignore[method-assign]
