"""The auditors' tools on the pages: the chain's verdict as a badge, the export, the diff between two moments.

Each answer comes from the same code the API uses (`Verifier`, `export_lines`, `diff`); this module only
turns it into what a template shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api.deps import Services, parse_moment
from api.routers.integrity import BEGINNING
from delivery import clock
from projections.diff import VIEWS, ProjectDiff, diff
from projections.export import export_lines
from projections.integrity import Verifier

HEAD_SHOWN = 12  # hex digits of the head digest on the badge (the full digest is in its title)


@dataclass(frozen=True)
class Badge:
    """The project chain's verdict, as the badge shows it."""

    valid: bool
    events: int
    head: str
    unchained: int
    position: int | None = None  # where the chain first breaks
    version: int | None = None
    problem: str | None = None  # altered, deleted, inserted, reordered

    @property
    def head_short(self) -> str:
        return self.head[:HEAD_SHOWN]


def integrity_badge(services: Services, pid: str) -> Badge:
    """The verdict `GET /projects/{id}/integrity` gives, for the badge."""
    verdict = Verifier(services.app, services.reads.store).project_chain(pid)
    bad = verdict.first_bad or {}
    return Badge(valid=verdict.valid, events=verdict.events, head=verdict.head, unchained=verdict.unchained,
                 position=bad.get("position"), version=bad.get("version"), problem=bad.get("problem"))


def export_stream(services: Services, pid: str) -> Iterator[bytes]:
    """The project's JSON Lines export, as bytes; the first line is read here so an unknown project is a 404."""
    lines = export_lines(services.app, services.reads.store, pid)
    first = next(lines)  # NotFound before anything is sent

    def body() -> Iterator[bytes]:
        yield first.encode("utf-8")
        for line in lines:
            yield line.encode("utf-8")

    return body()


# ------------------------------------------------------------------ diff


@dataclass(frozen=True)
class FieldRow:
    name: str
    before: Any  # the values as the view holds them (JSON-ready): the template writes them out readably
    after: Any


@dataclass(frozen=True)
class EventRef:
    position: int
    type: str
    actor: str
    recorded_at: datetime


@dataclass(frozen=True)
class ItemRow:
    id: str
    title: str | None
    change: str
    fields: list[FieldRow]
    events: list[EventRef]  # the events that made the change, oldest first


@dataclass(frozen=True)
class ViewRows:
    view: str
    added: int
    removed: int
    changed: int
    items: list[ItemRow]


@dataclass
class DiffForm:
    """What the diff form holds: the text entered, and what was refused."""

    start: str = ""
    end: str = ""
    errors: dict[str, Any] = field(default_factory=dict)  # the refusal, in the console's shape
    result: ProjectDiff | None = None
    views: list[ViewRows] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(v.items for v in self.views)


def picker(moment: datetime) -> str:
    """A moment as a datetime-local input's value (UTC, to the second)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def run_diff(services: Services, pid: str, start: str, end: str) -> DiffForm:
    """The diff for the form's two moments (blank: before the project began / now).

    An unreadable moment is refused as `InvalidInput` naming the field; two moments latest first are one window.
    """
    form = DiffForm(start=start.strip()[:40], end=end.strip()[:40])
    start_at = parse_moment("from", form.start) if form.start else BEGINNING
    end_at = parse_moment("to", form.end) if form.end else clock.now()
    result = diff(services.reads, pid, start_at, end_at)  # NotFound for an unknown project
    form.result = result
    by_view = {v.view: v for v in result.views}
    events = {e.position: EventRef(e.position, e.type, e.actor, e.recorded_at) for e in result.events}
    for name in VIEWS:
        v = by_view[name]
        form.views.append(ViewRows(v.view, v.added, v.removed, v.changed, [
            ItemRow(i.id, i.title, i.change, [FieldRow(k, before, after) for k, (before, after) in i.fields.items()],
                    [events[p] for p in i.events if p in events])
            for i in v.items
        ]))
    return form

