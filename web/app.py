"""The pages at `/` beside the API: sign-in, share links, client portal, PM console, audit replay."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.deps import Services
from api.errors import RETRY_AFTER_SECONDS
from delivery import clock
from delivery.errors import DeliveryError, InvalidInput, NotFound, VersionMismatch
from delivery.health import HEALTHS
from delivery.messages import msg
from delivery.milestones import COMPARATORS
from delivery.stages import STAGES
from projections import feeds
from projections.portfolio import MAX_TERM
from projections.portfolio import csv_lines as portfolio_csv_lines
from web import auth, charts, console, flash, history
from web.audit import DiffForm, export_stream, integrity_badge, picker, run_diff
from web.auth import BadCsrf, PageError, SignInRequired
from web.commands import COMMANDS
from web.feeds import TranslatedFeedWords
from web.i18n import COOKIE as LANG_COOKIE
from web.i18n import CURRENCY, LANGUAGES, Translator, negotiate, translations
from web.i18n import DEFAULT as DEFAULT_LANG
from web.sessions import SESSION_TTL, Session, WebStore

HERE = Path(__file__).parent


def _templates(lang: str) -> Jinja2Templates:
    """The templates in one language: Jinja2's i18n extension over that language's catalog, newstyle gettext
    (`_("… %(name)s", name=…)` formats and escapes the values, never the translation's own markup)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return Jinja2Templates(env=env)


TEMPLATES = {lang: _templates(lang) for lang in LANGUAGES}
templates = TEMPLATES[DEFAULT_LANG]  # where the language does not matter (a global for every language: add_global)


def add_global(name: str, value: Any) -> None:
    """A name every template sees, in every language."""
    for found in TEMPLATES.values():
        found.env.globals[name] = value
router = APIRouter(include_in_schema=False)
PAGE_SIZE = 20
# Column → the portfolio's server-side order (projections.portfolio.SORTS): the whole portfolio is sorted.
SORTS = {"name": "name", "client": "client", "stage": "stage", "days_in_stage": "days_in_stage",
         "next_milestone_due_on": "due", "open_criteria": "open_criteria",
         "pending_change_requests": "pending", "drift_pct": "drift", "health": "health"}


def install(app: FastAPI) -> None:
    """Serve the pages from `app`, with their tables in the same database as the tokens."""
    services: Services = app.state.services
    app.state.web = WebStore(services.engine, services.reads.store.reader)
    app.include_router(router)
    from web import notifications  # its routes build on this module's

    notifications.install()
    app.include_router(notifications.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(BadCsrf, _bad_csrf)
    app.state.unavailable_page = _unavailable_page  # api/errors.py answers a page with it when the database is away
    from web import participation  # its routes render with this module's helpers

    app.include_router(participation.router)
    app.state.not_found_page = _not_found_page  # ... and with this one for an unknown address outside /api/


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def translator(request: Request) -> Translator:
    t = Translator(negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")))
    t.templates = services_of(request).app.templates  # names the template a project was planned from
    return t


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    t = translator(request)
    session = auth.session(request)
    response = TEMPLATES[t.lang].TemplateResponse(request, name, {
        "t": t, "lang": t.lang, "languages": LANGUAGES, "session": session,
        "principal": session.principal if session else None, "csrf": auth.csrf_token(request),
        "here": auth.local_path(request), "stages": STAGES, "currency": CURRENCY, **context,
    }, status_code=status)
    new = getattr(request.state, "new_pre_csrf", None)
    if new:
        auth.set_cookie(request, response, auth.PRE_CSRF_COOKIE, new, 60 * 60 * 24)
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return redirect(auth.sign_in_url(exc.next_path))


def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    if exc.refusal is not None:
        return render(request, "error.html", exc.status, kind="input", refusal=_refusal(request, exc.refusal),
                      back=request.url.path)
    kind = "notfound" if exc.status == 404 else "forbidden"
    return render(request, "error.html", exc.status, kind=kind)


def _not_found_page(request: Request) -> Response:
    return render(request, "error.html", 404, kind="notfound")


def _unavailable_page(request: Request) -> Response:
    if not hasattr(request.state, "web_session"):
        request.state.web_session = None  # the sessions are in the database that does not answer
    response = render(request, "error.html", 503, kind="unavailable")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


# Store positions are 64-bit signed integers in both stores.
MAX_POSITION = 2**63 - 1


def query_position(field: str, value: str) -> int | None:
    """A store position typed in a page's query (blank: none); PageError 400 naming the field otherwise."""
    text = value.strip()
    if not text:
        return None
    # isdigit() alone admits "²" and other digits int() refuses; 19 digits bound the int() work.
    if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) <= MAX_POSITION):
        raise PageError(400, InvalidInput(field, msg("rule_whole_between", low=0, high=MAX_POSITION)))
    return int(text)


def _bad_csrf(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", 403, kind="csrf")


def home_of(session: Session) -> str:
    principal = session.principal
    if principal.role == "client":
        mine = sorted(principal.projects)
        return f"/p/{mine[0]}" if len(mine) == 1 else "/projects"
    return "/portfolio"


# ------------------------------------------------------------ identity


@router.get("/")
def index(request: Request) -> Response:
    session = auth.session(request)
    return redirect(home_of(session) if session else "/signin")


@router.get("/signin")
def signin_page(request: Request, next: str = "") -> Response:
    return render(request, "signin.html", next=auth.safe_next(next, ""))


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await auth.form_data(request)
    principal = services_of(request).tokens.authenticate(form.get("token", "").strip())
    if principal is None:
        return render(request, "signin.html", 401, next=auth.safe_next(form.get("next"), ""), failed=True)
    session_id = auth.store(request).open_for_token(principal.token_id)
    # A fresh session id on every sign-in: nothing set before it carries over.
    request.state.web_session = auth.store(request).session(session_id)
    assert request.state.web_session is not None
    response = redirect(auth.safe_next(form.get("next"), home_of(request.state.web_session)))
    auth.start_session(request, response, session_id)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await auth.form_data(request)
    session_id = request.cookies.get(auth.SESSION_COOKIE)
    if session_id:
        auth.store(request).close(session_id)
    response = redirect("/signin")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    response.delete_cookie(auth.SHARE_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    if code not in LANGUAGES:
        raise PageError(404)
    response = redirect(auth.safe_next(next))
    auth.set_cookie(request, response, LANG_COOKIE, code, 60 * 60 * 24 * 365)
    return response


@router.get("/s/{secret}")
def open_share_link(request: Request, secret: str) -> Response:
    store = auth.store(request)
    session_id = store.open_for_share(secret) if len(secret) <= 64 else None
    if session_id is None:
        return render(request, "error.html", 404, kind="share")
    opened = store.session(session_id)
    assert opened is not None
    (pid,) = opened.principal.projects
    response = redirect(f"/p/{pid}")
    auth.start_session(request, response, session_id)
    # The portal links the calendar feed by the link's own secret (a calendar app sends no cookie).
    auth.set_cookie(request, response, auth.SHARE_COOKIE, secret, int(SESSION_TTL.total_seconds()))
    return response


@router.get("/share/{secret}/milestones.ics")
def share_link_calendar(request: Request, secret: str) -> Response:
    """The milestones feed through a client's share link, while the link is live."""
    link = auth.store(request).live_link(secret)
    if link is None:
        return render(request, "error.html", 404, kind="share")
    return calendar_response(request, link.project_id)


def calendar_response(request: Request, pid: str) -> Response:
    """The feed in the language the address names (`?lang=`: a calendar app sends no cookie), else the reader's."""
    asked = request.query_params.get("lang")
    t = Translator(asked) if asked in LANGUAGES else translator(request)
    try:
        body = feeds.milestones_ics(services_of(request).reads, pid, clock.now(), TranslatedFeedWords(t))
    except NotFound:
        raise PageError(404) from None
    return Response(body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'inline; filename="project-{pid}-milestones.ics"', "Cache-Control": "no-store",
    })


# ------------------------------------------------------------ client portal


@router.get("/projects")
def my_projects(request: Request) -> Response:
    session = auth.require(request)
    if session.principal.role != "client":
        return redirect("/portfolio")
    ids = sorted(session.principal.projects)
    rows = services_of(request).reads.portfolio(now=clock.now(), project_ids=ids, limit=100).items if ids else []
    return render(request, "projects.html", rows=rows)


def timeline_zoom(request: Request) -> tuple[str, dict[str, str]]:
    """The timeline's zoom from the page's `zoom` query (PageError 400 naming it if unknown), and the page's
    address with each zoom, every other query value kept."""
    zoom = request.query_params.get("zoom", "").strip() or "project"
    if zoom not in charts.ZOOMS:
        raise PageError(400, InvalidInput("zoom", msg("rule_one_of", options=list(charts.ZOOMS))))
    # A console's one-shot confirmation and new share link are not part of the page's address.
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("zoom", "done", "link")]
    links = {}
    for z in charts.ZOOMS:
        query = urlencode(kept + ([("zoom", z)] if z != "project" else []))
        links[z] = f"{request.url.path}{'?' + query if query else ''}#timeline"
    return zoom, links


def project_views(services: Services, pid: str, *, as_of: datetime | None = None,
                  position: int | None = None, now: datetime | None = None,
                  zoom: tuple[str, dict[str, str]] = ("project", {})) -> dict[str, Any]:
    """Every view of one project, current or as of a cut, for the templates (`zoom`: from timeline_zoom)."""
    reads = services.reads
    now = now or clock.now()
    try:
        summary = reads.summary(pid, as_of=as_of, position=position)
    except NotFound:
        raise PageError(404) from None
    milestones = reads.milestones(pid, now=now, as_of=as_of, position=position)
    releases = reads.releases(pid, now=now, as_of=as_of, position=position)
    return {
        "summary": summary,
        "milestones": milestones,
        "timeline": project_timeline(summary, milestones, zoom),
        "checklist": reads.checklist(pid, as_of=as_of, position=position),
        "change_log": reads.change_log(pid, as_of=as_of, position=position),
        "releases": releases,
        "ramps": {r.id: charts.ramp(r, now) for r in releases.items},
        "funnel": charts.funnel(summary.funnel, summary.biggest_drop),
        "forecast": reads.forecast(pid, now=now, as_of=as_of, position=position),
        "entered": {e.stage: e for e in summary.stage_history},
        "stage_index": [s.value for s in STAGES].index(summary.stage),
    }


def project_timeline(summary: Any, milestones: Any, zoom: tuple[str, dict[str, str]]) -> charts.Timeline | None:
    """The milestone timeline, each stage starting when it was first entered."""
    entered: dict[str, date] = {}
    for entry in summary.stage_history:
        entered.setdefault(entry.stage, entry.entered_at.date())
    chart = charts.timeline(milestones.items, milestones.today, entered=entered, zoom=zoom[0])
    if chart is not None:
        chart.links = zoom[1]
    return chart


@router.get("/p/{project_id}")
def portal(request: Request, project_id: str) -> Response:
    session, pid = auth.require_project(request, project_id)
    from web.participation import portal_extras, portal_flash

    views = project_views(services_of(request), pid, zoom=timeline_zoom(request))
    left = portal_flash(request, session, pid)
    response = render(request, "portal.html", pid=pid,
                      feed_url=_share_feed_url(request, session), **left,
                      **portal_extras(request, session, pid, views), **views)
    if request.cookies.get(flash.COOKIE):
        flash.drop(response, f"/p/{pid}")  # shown once: a reload shows the page as it is
    return response


def _share_feed_url(request: Request, session: Session) -> str | None:
    """The calendar feed's address by the share link this visitor opened (None when signed in otherwise)."""
    secret = request.cookies.get(auth.SHARE_COOKIE, "")
    link = auth.store(request).live_link(secret) if session.share_link and secret else None
    if link is None or link.id != session.share_link:
        return None
    return f"{request.base_url}share/{secret}/milestones.ics?lang={translator(request).lang}"


@router.get("/p/{project_id}/milestones.ics")
def portal_calendar(request: Request, project_id: str) -> Response:
    """The milestones feed for anyone who may see the project (a download in the signed-in browser)."""
    _session, pid = auth.require_project(request, project_id)
    return calendar_response(request, pid)


# ------------------------------------------------------------ PM console


def portfolio_filters(stage: str, health: str, client: str, q: str, sort: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the read side's filters, the query string that keeps them) from a portfolio page's query.

    A value no filter takes is refused naming its field (PageError 400), never silently dropped."""
    if stage and stage not in {s.value for s in STAGES}:
        raise PageError(400, InvalidInput("stage", msg("rule_one_of", options=[s.value for s in STAGES])))
    if health and health not in HEALTHS:
        raise PageError(400, InvalidInput("health", msg("rule_one_of", options=list(HEALTHS))))
    if sort not in SORTS:
        raise PageError(400, InvalidInput("sort", msg("rule_one_of", options=list(SORTS))))
    for field, value in (("client", client), ("q", q)):
        if len(value.strip()) > MAX_TERM:
            raise PageError(400, InvalidInput(field, msg("rule_max_chars", max=MAX_TERM)))
    filters: dict[str, Any] = {"stage": stage or None, "health": health or None,
                               "client": client.strip() or None, "q": q.strip() or None, "sort": SORTS[sort]}
    kept = {k: v.strip() for k, v in (("q", q), ("stage", stage), ("health", health), ("client", client)) if v.strip()}
    return filters, kept


@router.get("/portfolio")
def portfolio(request: Request, stage: str = "", health: str = "", client: str = "", q: str = "",
              cursor: str = "", sort: str = "name") -> Response:
    session = auth.require(request, "pm", "auditor")
    context = portfolio_context(request, stage, health, client, q, cursor, sort)
    # A refused create form comes back here by post/redirect/get, with its refusal and input (web/flash.py).
    left = flash.take(request, session.csrf) or {}
    refusal = left.get("refusal") if left.get("anchor") == "create_project" else None
    if refusal:
        context.update(errors={"create_project": refusal}, values={"create_project": left.get("values") or {}})
    response = render(request, "portfolio.html", **context)
    if request.cookies.get(flash.COOKIE):
        flash.drop(response, "/portfolio")
    return response


def portfolio_context(request: Request, stage: str = "", health: str = "", client: str = "", q: str = "",
                      cursor: str = "", sort: str = "name") -> dict[str, Any]:
    """The portfolio page's rows, totals and links; the sort and filters ride along on every link."""
    filters, kept = portfolio_filters(stage, health, client, q, sort)
    reads = services_of(request).reads
    now = clock.now()
    try:
        page = reads.portfolio(now=now, limit=PAGE_SIZE, cursor=cursor[:400] or None, **filters)
    except DeliveryError:  # a cursor from another order or filter: start again at the first page
        cursor = ""
        page = reads.portfolio(now=now, limit=PAGE_SIZE, **filters)
    sorted_query = urlencode({**kept, "sort": sort}) if sort != "name" else urlencode(kept)
    return {"rows": list(page.items), "next_cursor": page.next_cursor, "filters": kept, "sort": sort,
            "cursor": cursor, "query": urlencode(kept), "sorted_query": sorted_query,
            "totals": reads.portfolio_totals(now=now, **filters), "errors": None, "values": {},
            "template_options": _template_options(request)}


@router.get("/portfolio.csv")
def portfolio_csv(request: Request, stage: str = "", health: str = "", client: str = "", q: str = "",
                  sort: str = "name") -> Response:
    """The filtered portfolio (every page, in the page's order) as a CSV download."""
    auth.require(request, "pm", "auditor")
    filters, _kept = portfolio_filters(stage, health, client, q, sort)
    rows = services_of(request).reads.portfolio_all(now=clock.now(), **filters)
    return Response("".join(portfolio_csv_lines(rows)), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="portfolio.csv"', "Cache-Control": "no-store"})


def _template_options(request: Request) -> list[tuple[str, str]]:
    """The stage templates as (name, "title (N days)") in the page's language, for the create form's picker."""
    t = translator(request)
    return [(tpl.name, t.ngettext("{title} ({n} day)", "{title} ({n} days)", tpl.duration_days,
                                  title=tpl.title.pick(t.lang)))
            for tpl in services_of(request).app.templates]


@router.post("/portfolio/projects")
async def create_project(request: Request) -> Response:
    session = auth.require(request, "pm")
    form = await auth.form_data(request)
    services = services_of(request)
    try:
        template = form.get("template", "").strip() or None
        recorded = services.app.create_project(
            name=form.get("name", ""), client=form.get("client", ""),
            description=form.get("description", ""), template=template,
            start_on=form.get("start_on", "").strip() or None,
            language=translator(request).lang, actor=session.principal.name)
        services.reads.wait_for(recorded.position)
    except DeliveryError as exc:
        response = redirect("/portfolio#create_project")
        flash.leave(request, response, "/portfolio", session.csrf, {
            "anchor": "create_project", "refusal": _refusal(request, exc), "values": form})
        return response
    return redirect(f"/pm/p/{recorded.project_id}?done=create_project")


def _status(exc: DeliveryError) -> int:
    from api.errors import status_of

    return status_of(exc)


def _refusal(request: Request, exc: DeliveryError) -> dict[str, Any]:
    field = exc.field if isinstance(exc, InvalidInput) else exc.details.get("field")
    return {"code": exc.code, "lines": translator(request).error(exc.code, exc.message, exc.details),
            "field": field}


def console_context(request: Request, pid: str, **extra: Any) -> dict[str, Any]:
    services = services_of(request)
    now = clock.now()
    views = project_views(services, pid, zoom=timeline_zoom(request))
    t = translator(request)
    criteria: dict[str, list[Any]] = {}
    for st in views["checklist"].stages:
        for m in st.milestones:
            criteria[m.id] = list(m.items)
    summary = views["summary"]
    offers = console.offers(summary, views["milestones"].items, criteria, views["change_log"].entries,
                            views["releases"].items)
    options = {
        "stages": [(s.value, f"{s.order + 1}. {t.stage_name(s.value)}") for s in STAGES],
        "back_stages": [(s, t.stage_name(s)) for s in offers.back_stages],
        "plan_stages": [(s, t.stage_name(s)) for s in offers.plan_stages],
        "waivable_stages": [(s, t.stage_name(s)) for s in offers.waivable_stages],
        "active_scope": [(i.id, f"{i.id} · {i.title} ({t.word('scope tier', i.tier)})")
                         for i in summary.scope if i.status != "removed"],
        "tiers": [(k, t.word("scope tier", k)) for k in ("core", "touchpoint", "value_added")],
        "kinds": [(k, t.word("change kind", k)) for k in ("add", "modify", "remove")],
        "comparators": [(c, c) for c in COMPARATORS],
    }
    gate = next((st.gate for st in views["checklist"].stages if st.is_current), None)
    left = extra.get("flash")
    if left and left.get("anchor") not in console.placed_anchors(
            offers, summary, views["milestones"].items, criteria, views["change_log"].entries, views["releases"].items):
        # The form it came from is no longer offered (another pm moved the project on): show it at the top.
        extra["errors"] = {"overview": next(iter(extra["errors"].values()))} if extra.get("errors") else {}
        left["anchor"] = "overview"
    participation = {"comments": services.reads.comments(pid), "signers": auth.store(request).signers(pid),
                     "targets": comment_targets(t, views)}
    return {"pid": pid, "links": auth.store(request).links(pid), "now": now, "options": options, **participation,
            "currency": summary.currency,
            "open_milestone": _milestone_of(left.get("anchor", "") if left else "", criteria),
            "offers": offers, "criteria_of": criteria, "gate": gate, "sections": console.SECTIONS,
            "observations": {r.id: console.observations_by_step(r) for r in views["releases"].items},
            "history": history.recent(services.app, t, pid),
            "integrity": integrity_badge(services, pid), "diff": DiffForm(), **views, **extra}


def _milestone_of(anchor: str, criteria: dict[str, list[Any]]) -> str | None:
    """The milestone whose card holds `anchor` (itself, its add-criterion form or one of its criteria)."""
    for prefix in ("ms-", "add-crit-"):
        if anchor.startswith(prefix):
            return anchor.removeprefix(prefix)
    if anchor.startswith("crit-"):
        return next((m for m, items in criteria.items() if any(c.id == anchor[5:] for c in items)), None)
    return None


def _flash_context(request: Request, session: Session, pid: str) -> dict[str, Any]:
    """What the last post left for this console: the flash, and the refusal and input it keeps."""
    left = flash.take(request, session.csrf)
    if left is None or left.get("pid") != pid:
        return {"flash": None, "errors": {}, "values": {}}
    anchor = str(left.get("anchor", ""))
    refusal = left.get("refusal")
    return {"flash": left, "errors": {anchor: refusal} if refusal else {},
            "values": {anchor: left.get("values") or {}} if refusal else {}}


@router.get("/pm/p/{project_id}")
def console_page(request: Request, project_id: str, done: str = "", link: str = "") -> Response:
    session, pid = auth.require_project(request, project_id, "pm")
    new_link = f"{request.base_url}s/{link}" if link and len(link) <= 64 else None
    new_feed = f"{request.base_url}share/{link}/milestones.ics" if new_link else None
    left = _flash_context(request, session, pid)
    response = render(request, "console.html", **console_context(
        request, pid, done=done[:40], new_link=new_link, new_feed=new_feed, **left))
    if request.cookies.get(flash.COOKIE):
        flash.drop(response, f"/pm/p/{pid}")  # shown once: a reload shows the page as it is
    return response


def _form_version(raw: str) -> int | None:
    """The project version a form was rendered from (a form without one runs unconditionally)."""
    text = raw.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidInput("version", msg("rule_form_version"))
    return int(text)


def _leave(request: Request, session: Session, pid: str, anchor: str, payload: dict[str, Any]) -> Response:
    """Post/redirect/get: back to the console at `anchor`, with what to show there."""
    console_path = f"/pm/p/{pid}"
    response = redirect(f"{console_path}#{anchor}")
    flash.leave(request, response, console_path, session.csrf, {**payload, "pid": pid, "anchor": anchor})
    return response


@router.post("/pm/p/{project_id}/do/{command}")
async def run_command(request: Request, project_id: str, command: str) -> Response:
    session, pid = auth.require_project(request, project_id, "pm")
    form = await auth.form_data(request)
    handler = COMMANDS.get(command)
    if handler is None:
        raise PageError(404)
    services = services_of(request)
    anchor = console.anchor_of(form.pop("anchor", ""))
    raw_version = form.pop("version", "")
    try:
        version = _form_version(raw_version)
        recorded = handler(services.app, pid, form, session.principal.name, version)
        services.reads.wait_for(recorded.position)
    except VersionMismatch as exc:
        t = translator(request)
        changes, count = history.since(services.app, t, pid, exc.details["expected"])
        return _leave(request, session, pid, anchor, {
            "kind": "stale", "command": command, "refusal": _refusal(request, exc), "values": form,
            "since": exc.details["expected"], "count": count,
            "changes": [{"sentence": h.sentence, "at": t.datetime(h.at)} for h in changes]})
    except DeliveryError as exc:
        return _leave(request, session, pid, anchor, {
            "kind": "refused", "command": command, "refusal": _refusal(request, exc), "values": form})
    return _leave(request, session, pid, console.anchor_of_new(recorded.value) or anchor,
                  {"kind": "done", "command": command})


@router.post("/pm/p/{project_id}/share")
async def create_share_link(request: Request, project_id: str) -> Response:
    session, pid = auth.require_project(request, project_id, "pm")
    form = await auth.form_data(request)
    try:
        days = int(form.get("days", "").strip() or "0")
    except ValueError:
        days = 0
    try:
        secret, _link = auth.store(request).create_link(pid, days=days, created_by=session.principal.name)
    except DeliveryError as exc:
        return _leave(request, session, pid, "share", {
            "kind": "refused", "command": "share", "refusal": _refusal(request, exc), "values": form})
    return redirect(f"/pm/p/{pid}?done=share&link={secret}#share")


@router.post("/pm/p/{project_id}/share/{link_id}/revoke")
async def revoke_share_link(request: Request, project_id: str, link_id: str) -> Response:
    _session, pid = auth.require_project(request, project_id, "pm")
    await auth.form_data(request)
    try:
        auth.store(request).revoke_link(pid, link_id[:16])
    except NotFound:
        raise PageError(404) from None
    return redirect(f"/pm/p/{pid}?done=revoke#share")


# ------------------------------------------------------------ auditor


@router.get("/audit/p/{project_id}")
def audit(request: Request, project_id: str, as_of: str = "", position: str = "", after: str = "",
          type: str = "", actor: str = "") -> Response:
    _session, pid = auth.require_project(request, project_id, "pm", "auditor")
    services = services_of(request)
    cut_position = query_position("position", position)
    start = query_position("after", after) or 0
    if len(actor) > 120:
        raise PageError(400, InvalidInput("actor", msg("rule_max_chars", max=120)))
    event_filter = {k: v for k, v in (("type", type.strip()), ("actor", actor)) if v}
    try:
        # The cut, the picker and "before the project existed" go by the whole log; a filter narrows the table.
        whole = services.reads.audit_log(pid, after=start, limit=200)
        log = services.reads.audit_log(pid, after=start, limit=200, types=[type.strip()] if type.strip() else (),
                                       actor=actor or None) if event_filter else whole
    except NotFound:
        raise PageError(404) from None
    except InvalidInput as exc:
        raise PageError(400, exc) from None
    cut_time: datetime | None = None
    bad_time = False
    if cut_position is None and as_of.strip():
        try:
            cut_time = clock.parse_moment(as_of)
        except (ValueError, OverflowError):
            bad_time = True
    first = whole.items[0] if whole.items and not start else None
    if first is not None and ((cut_time is not None and cut_time < first.recorded_at)
                              or (cut_position is not None and cut_position < first.position)):
        # Nothing to show as of then: say so, with when the project began, rather than "not found".
        return render(request, "error.html", 404, kind="before", moment=cut_time, position=cut_position,
                      first=first.recorded_at, first_position=first.position, back=f"/audit/p/{pid}")
    now = clock.now()
    if cut_time is not None:
        now = min(now, cut_time)
    elif cut_position is not None:
        at = [e.recorded_at for e in whole.items if e.position <= cut_position]
        now = max(at) if at else now
    views = project_views(services, pid, as_of=cut_time, position=cut_position, now=now, zoom=timeline_zoom(request))
    picker_value = (cut_time or clock.now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if cut_time else ""
    types, actors = services.reads.audit_facets(pid)
    return render(request, "audit.html", 400 if bad_time else 200, pid=pid, log=log, cut_time=cut_time,
                  event_filter=event_filter, event_types=types, actors=actors,
                  filter_query=urlencode(event_filter), picker_items=whole.items,
                  cut_position=cut_position, bad_time=bad_time, as_of=as_of[:40], picker_value=picker_value,
                  earliest=whole.items[0].recorded_at - timedelta(minutes=1) if whole.items else None,
                  integrity=integrity_badge(services, pid), diff=DiffForm(), **views)


@router.get("/audit/p/{project_id}/export")
def export_project(request: Request, project_id: str) -> Response:
    """The project's events as JSON Lines with their links, the file `delivery export --project` writes."""
    _session, pid = auth.require_project(request, project_id, "pm", "auditor")
    try:
        body = export_stream(services_of(request), pid)
    except NotFound:
        raise PageError(404) from None
    return StreamingResponse(body, media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="project-{pid}.jsonl"', "Cache-Control": "no-store",
    })


@router.get("/audit/p/{project_id}/diff")
def project_diff(request: Request, project_id: str, start: str = Query("", alias="from"),
                 end: str = Query("", alias="to")) -> Response:
    """What changed in each view between two moments, with the events that did it."""
    _session, pid = auth.require_project(request, project_id, "pm", "auditor")
    services = services_of(request)
    try:
        summary = services.reads.summary(pid)
    except NotFound:
        raise PageError(404) from None
    try:
        form = run_diff(services, pid, start, end)
    except NotFound:
        raise PageError(404) from None
    except DeliveryError as exc:
        form = DiffForm(start=start.strip()[:40], end=end.strip()[:40], errors={"diff": _refusal(request, exc)})
        return render(request, "diff.html", _status(exc), pid=pid, summary=summary, diff=form)
    assert form.result is not None
    form.end = form.end or picker(form.result.to)
    return render(request, "diff.html", pid=pid, summary=summary, diff=form)


def comment_targets(t: Translator, views: dict[str, Any]) -> list[tuple[str, str]]:
    """What a comment can be on, as (kind:id, label) for the comment forms' picker."""
    criteria = [c for st in views["checklist"].stages for m in st.milestones for c in m.items]
    return ([(f"milestone:{m.id}", f"{t.word('comment target', 'milestone', id=m.id)} · {m.title}")
             for m in views["milestones"].items]
            + [(f"criterion:{c.id}", f"{t.word('comment target', 'criterion', id=c.id)} · {c.text}") for c in criteria]
            + [(f"change_request:{e.id}", f"{t.word('comment target', 'change_request', id=e.id)} · {e.title}")
               for e in views["change_log"].entries])
