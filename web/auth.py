"""Who is browsing: the session cookie, CSRF checks, and the guards each page uses."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, quote

from fastapi import Request
from starlette.responses import Response

from api.auth import Principal
from delivery.errors import DeliveryError
from web.sessions import SESSION_TTL, Session, WebStore

SESSION_COOKIE = "dt_session"
# Before sign-in there is no session: the sign-in form's CSRF token is a double-submit cookie.
PRE_CSRF_COOKIE = "dt_csrf"
# The share link a visitor opened, so the portal can give its calendar feed's address.
SHARE_COOKIE = "dt_share"


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageError(Exception):
    """A page the caller may not open: 404 (unknown or unseen), 403 (the role may not) or 400 (`refusal`:
    a query parameter the page cannot read)."""

    def __init__(self, status: int, refusal: DeliveryError | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.refusal = refusal


class BadCsrf(Exception):
    pass


def store(request: Request) -> WebStore:
    web: WebStore = request.app.state.web
    return web


def session(request: Request) -> Session | None:
    if hasattr(request.state, "web_session"):
        cached: Session | None = request.state.web_session
        return cached
    found = store(request).session(request.cookies.get(SESSION_COOKIE))
    request.state.web_session = found
    return found


def require(request: Request, *roles: str) -> Session:
    """The caller's session, or a redirect to sign-in; a role not listed gets 403."""
    found = session(request)
    if found is None:
        raise SignInRequired(local_path(request))
    if roles and found.principal.role not in roles:
        raise PageError(403)
    return found


def require_project(request: Request, project_id: str, *roles: str) -> tuple[Session, str]:
    """The session and the canonical project id; a project the caller may not see does not exist."""
    found = require(request, *roles)
    from delivery.application import parse_project_id
    from delivery.errors import NotFound

    try:
        pid = str(parse_project_id(project_id))
    except NotFound:
        raise PageError(404) from None
    if not found.principal.may_see(pid):
        raise PageError(404)
    return found, pid


def local_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None, default: str = "/") -> str:
    """Only a path on this site (never `//host` or a scheme): no open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def sign_in_url(next_path: str) -> str:
    return "/signin?next=" + quote(next_path, safe="/")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


def start_session(request: Request, response: Response, session_id: str) -> None:
    set_cookie(request, response, SESSION_COOKIE, session_id, int(SESSION_TTL.total_seconds()))


def pre_csrf(request: Request) -> str:
    """The double-submit token for forms shown before sign-in (made once per browser)."""
    token = request.cookies.get(PRE_CSRF_COOKIE)
    if not token or len(token) > 64:
        token = getattr(request.state, "new_pre_csrf", None) or secrets.token_urlsafe(24)
        request.state.new_pre_csrf = token
    return token


def csrf_token(request: Request) -> str:
    found = session(request)
    return found.csrf if found is not None else pre_csrf(request)


async def form_data(request: Request) -> dict[str, str]:
    """The posted urlencoded fields (the last value of a repeated name wins), CSRF checked."""
    body = (await request.body()).decode("utf-8", errors="replace")
    fields = dict(parse_qsl(body, keep_blank_values=True))
    sent = fields.pop("csrf", "")
    found = session(request)
    expected = found.csrf if found is not None else request.cookies.get(PRE_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise BadCsrf()
    return fields


def principal_of(request: Request) -> Principal | None:
    found = session(request)
    return found.principal if found is not None else None
