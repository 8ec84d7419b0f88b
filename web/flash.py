"""What a console form's post left for the page it redirects to: a short-lived signed cookie.

Post/redirect/get: every form post answers a redirect to the console at the item it
acted on, so a reload never submits again. What the redirected page shows there (the
confirmation, or the refusal with what the pm typed) travels in this cookie: scoped to
the one console, kept two minutes, signed with the session's own secret (its CSRF token,
known only to the server and that browser's pages), and dropped once shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from typing import Any

from fastapi import Request
from starlette.responses import Response

COOKIE = "dt_flash"
MAX_AGE_SECONDS = 120
# Browsers keep a cookie of at most 4096 bytes (name, value and attributes together).
MAX_VALUE_BYTES = 3600
# What one typed value may carry across the redirect (a longer one is cut, the refusal never is).
MAX_KEPT_VALUE = 2000


def _sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()[:32]


def _encode(secret: str, payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(zlib.compress(json.dumps(payload, ensure_ascii=False).encode(), 9))
    return f"{body.decode()}.{_sign(secret, body)}"


def pack(secret: str, payload: dict[str, Any]) -> str:
    """The cookie value for `payload`; typed values are shortened (then dropped) to fit a cookie."""
    values = {k: str(v)[:MAX_KEPT_VALUE] for k, v in (payload.get("values") or {}).items()}
    value = _encode(secret, {**payload, "values": values})
    if len(value) > MAX_VALUE_BYTES:
        value = _encode(secret, {**payload, "values": {k: v[:200] for k, v in values.items()}})
    if len(value) > MAX_VALUE_BYTES:
        value = _encode(secret, {**payload, "values": {}, "changes": (payload.get("changes") or [])[:10]})
    return value


def unpack(secret: str, value: str | None) -> dict[str, Any] | None:
    """The payload of a cookie this session signed (None for anything else)."""
    if not value or len(value) > 8000 or "." not in value:
        return None
    body, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign(secret, body.encode())):
        return None
    try:
        payload = json.loads(zlib.decompress(base64.urlsafe_b64decode(body.encode()), bufsize=16384))
    except (ValueError, zlib.error):
        return None
    return payload if isinstance(payload, dict) else None


def leave(request: Request, response: Response, path: str, secret: str, payload: dict[str, Any]) -> None:
    response.set_cookie(COOKIE, pack(secret, payload), max_age=MAX_AGE_SECONDS, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path=path)


def take(request: Request, secret: str) -> dict[str, Any] | None:
    return unpack(secret, request.cookies.get(COOKIE))


def drop(response: Response, path: str) -> None:
    response.delete_cookie(COOKIE, path=path)
