"""What changed in a project between two moments, per view, with the events that did it.

Both sides are the ordinary *as of* views (the same reducers), each evaluated at its
own moment. Items are matched by id; fields that only count the clock forward
(days to due, seconds at a step) are left out so a diff shows what the record says,
not that time passed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from delivery import clock
from delivery.application import parse_project_id
from projections import views
from projections.models import AuditEntry
from projections.reducers import fold
from projections.service import ReadSide
from projections.state import Key, ProjectState

# Fields that change with the clock alone.
CLOCK_FIELDS = frozenset({"today", "days_to_due", "time_at_step", "version", "updated_at"})
VIEWS = ("summary", "scope", "milestones", "checklist", "change_requests", "releases", "comments")


class ItemChange(BaseModel):
    id: str
    title: str | None = None  # the item's title (name, version) as it reads after the change, or before a removal
    change: str  # added, removed, changed
    fields: dict[str, list[Any]] = Field(default_factory=dict)  # field: [before, after]
    events: list[int] = Field(default_factory=list)  # store positions of the events that touched it


class ViewDiff(BaseModel):
    view: str
    added: int = 0
    removed: int = 0
    changed: int = 0
    items: list[ItemChange] = Field(default_factory=list)


class ProjectDiff(BaseModel):
    project_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    events: list[AuditEntry]
    views: list[ViewDiff]

    model_config = {"populate_by_name": True}


def _items(reads: ReadSide, pid: str, at: datetime) -> dict[str, dict[str, dict[str, Any]]]:
    """Each view as {item id: fields} at one moment (empty before the project existed)."""
    if reads.state_as_of(pid, as_of=at) is None:
        return {view: {} for view in VIEWS}
    summary = reads.summary(pid, as_of=at).model_dump(mode="json")
    scope = summary.pop("scope")
    summary.pop("stage_history")
    checklist = reads.checklist(pid, as_of=at)
    changes = reads.change_log(pid, as_of=at)
    return {
        "summary": {"project": summary},
        "scope": {s["id"]: s for s in scope},
        "milestones": _by_id(reads.milestones(pid, now=at, as_of=at).items),
        "checklist": _by_id([
            item for stage in checklist.stages for milestone in stage.milestones for item in milestone.items
        ]),
        # The client's proposals (P1...) beside the requests (CR1...): one accepted becomes a request.
        "change_requests": {**_by_id(changes.entries), **_by_id(changes.proposals),
                            "drift": changes.drift.model_dump(mode="json")},
        "releases": _by_id(reads.releases(pid, now=at, as_of=at).items),
        "comments": _by_id(reads.comments(pid, as_of=at).items),
    }


def _by_id(models: list[Any]) -> dict[str, dict[str, Any]]:
    return {m.id: m.model_dump(mode="json") for m in models}


def diff(reads: ReadSide, project_id: str, start: datetime, end: datetime) -> ProjectDiff:
    """The project's views at `start` against `end`, and the events recorded between them.

    Two moments given latest first are the same window (the answer's `from` and `to` say the order used).
    """
    pid = str(parse_project_id(project_id))
    start, end = sorted((clock.as_utc(start), clock.as_utc(end)))
    window = _window(reads, pid, start, end)
    credited = _attribution(reads, pid, start, window)
    before, after = _items(reads, pid, start), _items(reads, pid, end)
    result = []
    for view in VIEWS:
        vd = ViewDiff(view=view)
        old, new = before[view], after[view]
        for item_id in sorted(set(old) | set(new), key=_natural):
            a, b = old.get(item_id), new.get(item_id)
            if a == b:
                continue
            if a is None or b is None:
                change = "added" if a is None else "removed"
                fields: dict[str, list[Any]] = {}
            else:
                change = "changed"
                fields = {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b))
                          if k not in CLOCK_FIELDS and a.get(k) != b.get(k)}
                if not fields:
                    continue
            setattr(vd, change, getattr(vd, change) + 1)
            vd.items.append(ItemChange(id=item_id, title=_title(b if b is not None else a), change=change,
                                       fields=fields, events=credited.get((view, item_id), [])))
        result.append(vd)
    return ProjectDiff.model_validate(
        {"project_id": pid, "from": start, "to": end, "events": window, "views": result},
    )


def _title(item: dict[str, Any] | None) -> str | None:
    for key in ("title", "name", "text", "version"):
        value = (item or {}).get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _window(reads: ReadSide, pid: str, start: datetime, end: datetime) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    after = 0
    while True:
        page = reads.audit_log(pid, after=after, limit=500, until=end)  # NotFound for an unknown project
        entries.extend(e for e in page.items if e.recorded_at > start)
        if page.next_cursor is None:
            return entries
        after = int(page.next_cursor)


# A row kind of the view state (projections/state.py) → the diff's view its rows show in.
ROW_VIEWS = {"scope": "scope", "milestone": "milestones", "criterion": "checklist", "change": "change_requests",
             "release": "releases"}
SUMMARY_NOISE = {"scope", "stage_history", *CLOCK_FIELDS}


def _attribution(reads: ReadSide, pid: str, start: datetime, window: list[AuditEntry]) -> dict[Key, list[int]]:
    """Which events changed which item: the window's events folded one by one from the state at `start`,
    each credited with the rows it wrote (and the summary or drift when it changed them).

    Folding is the only faithful answer: an event may change items it does not name (BaselineFrozen
    flags every scope item in the baseline) and name items it does not change.
    """
    if not window:
        return {}
    found = reads.state_as_of(pid, as_of=start)
    state = ProjectState.loads(found.dumps()) if found is not None else ProjectState()  # the kept one stays as is
    by_version = {e.version: e.position for e in window}
    since = found.h.version if found is not None else 0
    credited: dict[Key, list[int]] = {}

    def credit(key: Key, position: int) -> None:
        events = credited.setdefault(key, [])
        if not events or events[-1] != position:
            events.append(position)

    for event in reads.app.events.get(UUID(pid), gt=since, lte=max(by_version)):
        position = by_version.get(int(event.originator_version))
        summary, drift = _header_facts(state)
        state.clean()
        fold([event], state)
        if position is None:  # recorded at or before `start` (cannot happen past `since`): folded, not credited
            continue
        for kind_, key in sorted(state.rows.dirty):
            row = state.rows.get(kind_, key)
            if kind_ in ROW_VIEWS:
                credit((ROW_VIEWS[kind_], key), position)
            if kind_ == "criterion":  # a milestone counts its criteria closed
                credit(("milestones", row.milestone_id), position)
            elif kind_ == "observation":  # a release lists its observations
                credit(("releases", row.release_id), position)
        after_summary, after_drift = _header_facts(state)
        if after_summary != summary:
            credit(("summary", "project"), position)
        if after_drift != drift:
            credit(("change_requests", "drift"), position)
    return credited


def _header_facts(state: ProjectState) -> tuple[Any, Any]:
    """The project's summary (its header, without what only counts time) and its drift, to compare."""
    if state.header is None:
        return None, None
    summary = views.summary_view(state).model_dump(mode="json", exclude=SUMMARY_NOISE)
    return summary, views.drift_summary(state).model_dump(mode="json")


def _natural(item_id: str) -> tuple[str, int, str]:
    """M2 before M10."""
    head = item_id.rstrip("0123456789")
    tail = item_id[len(head):]
    return (head, int(tail) if tail else -1, item_id)
