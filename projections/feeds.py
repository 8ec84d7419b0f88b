"""A view as CSV, and the milestones as an iCalendar feed a client can subscribe to."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import IO, Any

from icalendar import Calendar, Event, vText

from delivery.errors import InvalidInput
from delivery.messages import msg
from projections.service import ReadSide

Rows = Callable[[ReadSide, str | None, datetime], tuple[list[str], list[list[Any]]]]


def _needs(project_id: str | None) -> str:
    if not project_id:
        raise InvalidInput("project", msg("rule_view_per_project"))
    return project_id


def _milestones(reads: ReadSide, pid: str | None, now: datetime) -> tuple[list[str], list[list[Any]]]:
    items = reads.milestones(_needs(pid), now=now).items
    header = ["id", "stage", "title", "due_on", "original_due_on", "status", "slip_days", "days_late",
              "completed_on", "criteria_closed", "criteria_total", "deliverables"]
    return header, [[m.id, m.stage, m.title, m.due_on, m.original_due_on, m.status, m.slip_days, m.days_late,
                     m.completed_on, m.criteria_closed, m.criteria_total, "; ".join(m.deliverables)] for m in items]


def _checklist(reads: ReadSide, pid: str | None, now: datetime) -> tuple[list[str], list[list[Any]]]:
    view = reads.checklist(_needs(pid))
    header = ["stage", "milestone_id", "id", "text", "state", "metric", "comparator", "threshold", "unit",
              "measured", "meets_threshold", "evidence", "reason", "decided_by", "decided_at"]
    rows = []
    for stage in view.stages:
        for milestone in stage.milestones:
            for c in milestone.items:
                m = c.metric
                rows.append([stage.stage, milestone.id, c.id, c.text, c.state, m.name if m else "",
                             m.comparator if m else "", m.threshold if m else "", m.unit if m else "",
                             c.measured, c.meets_threshold, c.evidence, c.reason, c.decided_by, c.decided_at])
    return header, rows


def _change_requests(reads: ReadSide, pid: str | None, now: datetime) -> tuple[list[str], list[list[Any]]]:
    log = reads.change_log(_needs(pid))
    entries = log.entries
    header = ["id", "title", "requested_by", "kind", "tier", "scope_item_id", "schedule_days", "cost", "status",
              "raised_in_stage", "raised_at", "raised_by", "late", "value_added_before_core", "currency"]
    return header, [[e.id, e.title, e.requested_by, e.kind, e.tier, e.scope_item_id, e.schedule_days, e.cost,
                     e.status, e.raised_in_stage, e.raised_at, e.raised_by, e.late, e.value_added_before_core,
                     log.currency] for e in entries]


def _releases(reads: ReadSide, pid: str | None, now: datetime) -> tuple[list[str], list[list[Any]]]:
    items = reads.releases(_needs(pid), now=now).items
    header = ["id", "version", "state", "percent", "steps", "started_at", "completed_at", "pauses", "rollbacks",
              "observations"]
    return header, [[r.id, r.version, r.state, r.percent, " ".join(map(str, r.steps)), r.started_at,
                     r.completed_at, len(r.pauses), len(r.rollbacks), len(r.observations)] for r in items]


def _events(reads: ReadSide, pid: str | None, now: datetime) -> tuple[list[str], list[list[Any]]]:
    header = ["position", "project_id", "version", "type", "actor", "recorded_at", "data"]
    rows: list[list[Any]] = []
    after = 0
    while True:
        page = reads.audit_log(_needs(pid), after=after, limit=500)
        rows.extend([e.position, e.project_id, e.version, e.type, e.actor, e.recorded_at,
                     json.dumps(e.data, ensure_ascii=False, sort_keys=True)] for e in page.items)
        if page.next_cursor is None:
            return header, rows
        after = int(page.next_cursor)


def _portfolio(reads: ReadSide, pid: str | None, now: datetime) -> tuple[list[str], list[list[Any]]]:
    items = reads.portfolio_all(now=now, project_ids=[pid] if pid else None)
    # Cells are values: the health reason is there as its code (`health_reason`), not as a message object.
    header = [f for f in type(items[0]).model_fields if f != "health_reason_message"] if items else ["project_id"]
    return header, [[getattr(row, name) for name in header] for row in items]


CSV_VIEWS: dict[str, Rows] = {
    "milestones": _milestones, "checklist": _checklist, "change-requests": _change_requests,
    "releases": _releases, "events": _events, "portfolio": _portfolio,
}


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): such text cells
# get a leading apostrophe, which spreadsheets show as text and hide. Numbers are written as they are.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(reads: ReadSide, view: str, project_id: str | None, now: datetime, out: IO[str]) -> None:
    if view not in CSV_VIEWS:
        raise InvalidInput("view", msg("rule_one_of", options=list(CSV_VIEWS)))
    header, rows = CSV_VIEWS[view](reads, project_id, now)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)


# RFC 5545 TEXT has no control characters but tab; line breaks are escaped (`\n`) by icalendar.
_NOT_ICS_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _ics_text(value: str) -> vText:
    """`value` as an iCalendar TEXT value: escaped (`\\ ; , \n`) and folded by icalendar when written."""
    return vText(_NOT_ICS_TEXT.sub("", value.replace("\r\n", "\n").replace("\r", "\n")))


class FeedWords:
    """The calendar feed's words: English here (the API's feed); the pages pass their reader's (web/feeds.py)."""

    def calendar_name(self, project: str) -> str:
        return f"{project} — milestones"

    def summary(self, m: Any) -> str:
        return f"{m.title} ({m.stage}, {m.status.replace('_', ' ')})"

    def description(self, m: Any) -> list[str]:
        lines = [f"Status: {m.status}", f"Due: {m.due_on}"]
        if m.due_on != m.original_due_on:
            lines.append(f"Originally due: {m.original_due_on} (slipped {m.slip_days} days)")
        if m.deliverables:
            lines.append("Deliverables: " + "; ".join(m.deliverables))
        return lines


def milestones_ics(reads: ReadSide, project_id: str, now: datetime, words: FeedWords | None = None) -> bytes:
    """One all-day event per milestone on its current due date (or the day it was completed)."""
    words = words or FeedWords()
    summary = reads.summary(project_id)
    milestones = reads.milestones(project_id, now=now)
    calendar = Calendar()
    calendar.add("prodid", "-//delivery-tracker//milestones//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    # An X- property is not known to icalendar as TEXT: without vText its value would go out unescaped.
    calendar.add("x-wr-calname", _ics_text(words.calendar_name(summary.name)))
    for m in milestones.items:
        day = m.completed_on or m.due_on
        event = Event()
        event.add("uid", f"{summary.id}-{m.id}@delivery-tracker")
        event.add("dtstamp", now)
        event.add("dtstart", day)
        if day < date.max:  # without DTEND an all-day event lasts the one day (RFC 5545 3.6.1)
            event.add("dtend", day + timedelta(days=1))
        event.add("summary", _ics_text(words.summary(m)))
        event.add("description", _ics_text("\n".join(words.description(m))))
        event.add("categories", [m.stage])
        calendar.add_component(event)
    return bytes(calendar.to_ical())
