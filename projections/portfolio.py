"""The portfolio query: filters, health and keyset pagination done by the database.

Health depends on the day it is asked, so it is not stored: it is a SQL CASE built
from `delivery.health.RULES`, evaluated against `today` passed in as a parameter.
A test checks this expression agrees with `delivery.health.classify` row by row.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.engine import Connection

from delivery import clock
from delivery import health as h
from delivery.errors import InvalidInput, UnknownCursor
from delivery.messages import msg
from delivery.milestones import AT_RISK_DAYS, MilestoneState
from delivery.stages import STAGES, Stage, parse_stage
from projections.models import MessageView, PortfolioPage, PortfolioRow, PortfolioTotals
from projections.tables import portfolio_table as t


@dataclass(frozen=True)
class Query:
    today: date
    stage: str | None = None
    health: str | None = None
    client: str | None = None
    q: str | None = None  # lower-cased by search_term
    project_ids: tuple[str, ...] | None = None
    limit: int = 50
    cursor: str | None = None
    sort: str = "name"


# The orders a portfolio can be read in: each a SQL key (ascending) tried before (name, project_id).
# Keys never NULL, so the keyset comparison is plain: a missing due date sorts last.
NO_DUE = date(9999, 12, 31)
HEALTH_ORDER = (h.RED, h.AMBER, h.NO_PLAN, h.GREEN)
SORTS = ("name", "client", "health", "due", "stage", "days_in_stage", "open_criteria", "pending", "drift")


def sort_key(sort: str, colour: ColumnElement[str]) -> ColumnElement[Any] | None:
    """The leading key of an order (None for plain name order)."""
    if sort == "name":
        return None
    if sort == "health":  # red first, then amber, no plan, green
        return case((colour == h.RED, 0), (colour == h.AMBER, 1), (colour == h.NO_PLAN, 2), else_=3)
    if sort == "due":  # earliest next milestone first
        return func.coalesce(t.c.next_milestone_due_on, NO_DUE)
    if sort == "stage":  # furthest behind first
        return t.c.stage_index
    if sort == "days_in_stage":  # longest in its stage first
        return t.c.stage_entered_at
    if sort == "drift":  # most drift first
        return -t.c.drift_pct
    if sort == "client":
        return t.c.client
    if sort == "open_criteria":  # most open first
        return -t.c.open_criteria
    if sort == "pending":  # most change requests awaiting a decision first
        return -t.c.pending_change_requests
    raise InvalidInput("sort", msg("rule_one_of", options=list(SORTS)))


def health_conditions(today: date) -> dict[str, ColumnElement[bool]]:
    """Each rule of `delivery.health` as a SQL condition on a portfolio row."""
    due = t.c.next_milestone_due_on
    return {
        "late_milestone": due < today,
        "release_rolled_back": t.c.release_state == "rolled_back",
        "drift_high": t.c.drift_pct > h.DRIFT_RED_PCT,
        "rejected_criteria": t.c.rejected_criteria > 0,
        "due_soon": due <= today + timedelta(days=h.DUE_SOON_DAYS),
        "launch_forecast_late": t.c.launch_p80_days_late > h.LAUNCH_SLACK_DAYS,
        "release_paused": t.c.release_state == "paused",
        "drift_moderate": t.c.drift_pct > h.DRIFT_AMBER_PCT,
        "pending_changes": t.c.pending_change_requests > 0,
    }


def health_columns(today: date) -> tuple[ColumnElement[str], ColumnElement[str]]:
    """(health, reason code) as SQL expressions, the rules checked in order."""
    conditions = health_conditions(today)
    no_plan = t.c.milestones_planned == 0
    whens = [(t.c.launched.is_(True), "on_track"), (no_plan, "no_plan")] + [
        (conditions[code], code) for code, _health in h.RULES
    ]
    reason = case(*whens, else_=literal("on_track"))
    colour = case(
        (t.c.launched.is_(True), h.GREEN),
        (no_plan, h.NO_PLAN),
        *[(conditions[code], health) for code, health in h.RULES],
        else_=literal(h.GREEN),
    )
    return colour, reason


def milestone_status_column(today: date) -> ColumnElement[str]:
    """The next milestone's status (it is open, so never done), as `milestone_status` says."""
    due = t.c.next_milestone_due_on
    return case(
        (due.is_(None), literal(None)),
        (due < today, MilestoneState.LATE.value),
        (due <= today + timedelta(days=AT_RISK_DAYS), MilestoneState.AT_RISK.value),
        (t.c.next_milestone_stage_index <= t.c.stage_index, MilestoneState.IN_PROGRESS.value),
        else_=literal(MilestoneState.PLANNED.value),
    )


# A search term's longest accepted length (the stored text is at most 200 + 1 + 120 characters).
MAX_TERM = 120


def search_text(name: str, client: str) -> str:
    """What the portfolio's search matches: name and client, lower-cased, one line each."""
    return f"{name}\n{client}".lower()


def search_term(text: str | None) -> str | None:
    """A typed search as the stored text compares it (None when blank); InvalidInput beyond MAX_TERM."""
    term = (text or "").strip().lower()
    if len(term) > MAX_TERM:
        raise InvalidInput("q", msg("rule_max_chars", max=MAX_TERM))
    return term or None


def filtered(stmt: Any, query: Query, colour: ColumnElement[str], *, health: bool = True) -> Any:
    """`stmt` narrowed to the query's filters (all but health when `health` is False)."""
    if query.stage is not None:
        stmt = stmt.where(t.c.stage == parse_stage(query.stage).value)
    if query.client is not None:
        stmt = stmt.where(t.c.client == query.client)
    if query.q is not None:
        # Substring of name or client; `\n` joins them in the stored text, so a term never spans both.
        stmt = stmt.where(t.c.search.contains(query.q, autoescape=True))
    if health and query.health is not None:
        if query.health not in h.HEALTHS:
            raise InvalidInput("health", msg("rule_one_of", options=list(h.HEALTHS)))
        stmt = stmt.where(colour == query.health)
    if query.project_ids is not None:
        stmt = stmt.where(t.c.project_id.in_(query.project_ids))
    return stmt


def totals(conn: Connection, query: Query) -> PortfolioTotals:
    """How many projects of the filtered set are in each health and each stage (and launched)."""
    colour, _reason = health_columns(query.today)
    stmt = filtered(select(colour.label("health"), t.c.stage, t.c.launched, func.count().label("n")), query, colour)
    stmt = stmt.group_by(colour, t.c.stage, t.c.launched)
    by_health = dict.fromkeys(HEALTH_ORDER, 0)
    by_stage = {s.value: 0 for s in STAGES}
    launched = 0
    for row in conn.execute(stmt):
        by_health[row.health] += row.n
        by_stage[row.stage] += row.n
        launched += row.n if row.launched else 0
    return PortfolioTotals(total=sum(by_health.values()), health=by_health, stage=by_stage, launched=launched)


def page(conn: Connection, query: Query) -> PortfolioPage:
    colour, reason = health_columns(query.today)
    stmt = select(t, colour.label("health"), reason.label("health_reason"),
                  milestone_status_column(query.today).label("next_milestone_status"))
    stmt = filtered(stmt, query, colour)
    key = sort_key(query.sort, colour)
    if key is not None:
        stmt = stmt.add_columns(key.label("sort_key"))
    if query.cursor is not None:
        after, name, pid = decode_cursor(query.cursor, query.sort)
        tail = or_(t.c.name > name, and_(t.c.name == name, t.c.project_id > pid))
        stmt = stmt.where(tail if key is None else or_(key > after, and_(key == after, tail)))
    order = [t.c.name, t.c.project_id] if key is None else [key, t.c.name, t.c.project_id]
    stmt = stmt.order_by(*order).limit(query.limit + 1)
    rows = conn.execute(stmt).all()
    items = [_row(r, query.today) for r in rows[: query.limit]]
    more = len(rows) > query.limit
    last = rows[query.limit - 1] if more else None
    return PortfolioPage(
        items=items,
        next_cursor=encode_cursor(query.sort, getattr(last, "sort_key", None), last.name, last.project_id)
        if last is not None else None,
    )


# The health reasons as the rows send them (immutable in use: read models are only serialised).
REASON_VIEWS = {code: MessageView(**m.to_dict()) for code, m in h.REASON_MESSAGES.items()}


def _row(r: Any, today: date) -> PortfolioRow:
    stage = Stage(r.stage)
    entered = clock.as_utc(r.stage_entered_at)
    return PortfolioRow(
        project_id=r.project_id, name=r.name, client=r.client, stage=stage.value,
        stage_label_en=stage.label_en, stage_label_zh=stage.label_zh, stage_entered_at=entered,
        days_in_stage=max(0, (today - entered.date()).days),
        next_milestone_id=r.next_milestone_id, next_milestone_title=r.next_milestone_title,
        next_milestone_due_on=r.next_milestone_due_on,
        next_milestone_status=r.next_milestone_status,
        open_criteria=r.open_criteria, pending_change_requests=r.pending_change_requests,
        drift_pct=r.drift_pct, release_percent=r.release_percent, release_state=r.release_state,
        health=r.health, health_reason=r.health_reason,
        health_reason_text=h.REASONS[r.health_reason],
        health_reason_message=REASON_VIEWS[r.health_reason], currency=r.currency,
        warnings=r.warnings, launched=r.launched, version=r.version, updated_at=clock.as_utc(r.updated_at),
    )


def encode_cursor(sort: str, key: Any, name: str, project_id: str) -> str:
    """An opaque cursor: the order it belongs to and the last row's sort values."""
    if isinstance(key, datetime | date):
        key = key.isoformat()
    raw = json.dumps([sort, key, name, project_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str = "name") -> tuple[Any, str, str]:
    """(sort key, name, project id) of the row a page ended on; UnknownCursor if not one (or of another order)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        made_for, key, name, pid = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise UnknownCursor() from None
    if made_for != sort or not isinstance(name, str) or not isinstance(pid, str):
        raise UnknownCursor()
    try:
        if sort == "due":
            key = date.fromisoformat(key)
        elif sort == "days_in_stage":
            key = datetime.fromisoformat(key)
        elif sort == "client":
            if not isinstance(key, str):
                raise ValueError(key)
        elif sort != "name" and not isinstance(key, int | float):
            raise ValueError(key)
    except (ValueError, TypeError):
        raise UnknownCursor() from None
    return key, name, pid


CSV_COLUMNS = ("project_id", "name", "client", "stage", "days_in_stage", "next_milestone_title",
               "next_milestone_due_on", "next_milestone_status", "open_criteria", "pending_change_requests",
               "drift_pct", "release_percent", "release_state", "health", "health_reason", "launched", "currency")


def csv_lines(rows: Iterable[PortfolioRow]) -> Iterator[str]:
    """The rows as CSV (RFC 4180, a header first); a cell a spreadsheet would run as a formula is quoted with '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
        yield out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return value.isoformat() if isinstance(value, date) else str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def loads(text: str) -> dict[str, Any]:
    value = json.loads(text)
    return value if isinstance(value, dict) else {"value": value}



