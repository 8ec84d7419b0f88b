"""The read side: keeps the views current and answers the queries the API and pages call.

Live views come from the SQL tables; *as of* views fold the project's own events
up to the cut with the same reducers. Every query takes `now` explicitly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import takewhile
from types import TracebackType
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from sqlalchemy import func, select

from delivery import clock
from delivery.application import DeliveryApplication, parse_project_id
from delivery.errors import DeliveryError, NotFound
from projections import portfolio, views
from projections.models import (
    AuditEntry,
    AuditPage,
    ChangeLog,
    Checklist,
    MilestoneList,
    PortfolioPage,
    PortfolioRow,
    ProjectSummary,
    ReleaseList,
)
from projections.reducers import fold
from projections.store import ViewStore, audit_table

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

BATCH_SIZE = 500
MAX_PAGE = 500


class ViewsBehind(DeliveryError):
    """The views did not reach a position in time (the worker is down or far behind)."""

    code = "views_behind"


class ReadSide:
    """The views of one application's store, and the queries over them.

    With `live=True` (the embedded SQLite mode) the views catch up in-process after
    every save, so a read right after a write sees it. Otherwise a worker
    (`delivery worker`) follows the store and callers use `wait_for(position)`.
    """

    def __init__(
        self, app: DeliveryApplication, *, live: bool = False, store: ViewStore | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.app = app
        self.store = store or ViewStore(app.database, app.name)
        self.batch_size = batch_size
        self.live = live
        stale = self.store.groups_needing_rebuild()
        if stale:
            # A view whose shape or logic changed is rebuilt from zero, not migrated.
            log.info("views %s changed version: rebuilding them", ", ".join(stale))
            self.store.reset(stale)
        if live:
            app.after_save.append(self._after_save)

    def __enter__(self) -> ReadSide:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        if self._after_save in self.app.after_save:
            self.app.after_save.remove(self._after_save)
        self.store.close()

    # ------------------------------------------------------------ following

    def position(self) -> int:
        """The store position every view has reached."""
        return self.store.max_tracking_id(self.app.name) or 0

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply every event the views have not seen yet; returns how many were applied."""
        applied = 0
        total: int | None = None
        while True:
            start = self.position() + 1
            notifications = self.app.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=True
            )
            if not notifications:
                break
            batch = [
                (self.app.mapper.to_domain_event(n), Tracking(self.app.name, n.id))
                for n in notifications
            ]
            applied += self.store.apply(batch)
            if progress is not None:
                if total is None:
                    total = (self.app.recorder.max_notification_id() or 0) - start + 1
                progress(min(applied, total), total)
        return applied

    def wait_for(self, position: int | None, timeout: float = 10.0) -> None:
        """Return once the views include `position` (read your writes)."""
        if position is None:
            return
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if self.live and self.catch_up():
                continue
            if time.monotonic() > deadline:
                raise ViewsBehind(
                    f"The views have not reached position {position} after {timeout:g} s; "
                    "check that `delivery worker` is running.",
                    {"position": position, "reached": self.position()},
                )
            time.sleep(0.02)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view and build it again from event zero; returns the events applied."""
        self.store.reset(list(self.store.groups()))
        return self.catch_up(progress)

    def _after_save(self, position: int) -> None:
        try:
            self.catch_up()
        except Exception:
            # The write is committed; the views retry on the next save or read.
            log.exception("views could not catch up to position %s", position)

    # ------------------------------------------------------- project views

    def summary(
        self, project_id: UUID | str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> ProjectSummary:
        _pid, states = self._states(project_id, as_of, position)
        return views.summary_view(states["summary"], states.get("changes"))

    def milestones(
        self, project_id: UUID | str, *, now: datetime, as_of: datetime | None = None,
        position: int | None = None,
    ) -> MilestoneList:
        pid, states = self._states(project_id, as_of, position)
        return views.milestone_list(pid, states["milestones"], now)

    def checklist(
        self, project_id: UUID | str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> Checklist:
        pid, states = self._states(project_id, as_of, position)
        return views.checklist_view(pid, states["checklist"])

    def change_log(
        self, project_id: UUID | str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> ChangeLog:
        pid, states = self._states(project_id, as_of, position)
        return views.change_log(pid, states["changes"])

    def releases(
        self, project_id: UUID | str, *, now: datetime, as_of: datetime | None = None,
        position: int | None = None,
    ) -> ReleaseList:
        pid, states = self._states(project_id, as_of, position)
        # As of a moment, a step still open then is counted up to that moment.
        return views.release_list(pid, states["releases"], min(now, as_of) if as_of else now)

    def _states(
        self, project_id: UUID | str, as_of: datetime | None, position: int | None,
    ) -> tuple[str, dict[str, Any]]:
        pid = str(parse_project_id(project_id))
        if as_of is None and position is None:
            states = self.store.load_states(pid)
        else:
            states = self.states_as_of(pid, as_of=as_of, position=position)
        if "summary" not in states:
            raise NotFound("project", pid)
        return pid, states

    def states_as_of(
        self, project_id: str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> dict[str, Any]:
        """Every view's state folded from the project's events recorded up to the cut."""
        pid = parse_project_id(project_id)
        lte: int | None = None
        if position is not None:
            lte = self._version_at(str(pid), position)
            if lte is None:
                return {}
        events: Iterator[Any] = iter(self.app.events.get(pid, lte=lte))
        if as_of is not None:
            cut = clock.as_utc(as_of)
            events = takewhile(lambda e: e.timestamp <= cut, events)
        return fold(events)

    def _version_at(self, project_id: str, position: int) -> int | None:
        """The project's version at a store position (the audit view maps one to the other)."""
        self.wait_for(min(position, self.app.recorder.max_notification_id() or 0))
        stmt = select(func.max(audit_table.c.version)).where(
            audit_table.c.project_id == project_id, audit_table.c.position <= position,
        )
        with self.store.reader.connect() as conn:
            version = conn.execute(stmt).scalar()
        return int(version) if version is not None else None

    # ----------------------------------------------------------- portfolio

    def portfolio(
        self, *, now: datetime, stage: str | None = None, health: str | None = None,
        client: str | None = None, project_ids: list[str] | None = None, limit: int = 50,
        cursor: str | None = None, sort: str = "name",
    ) -> PortfolioPage:
        """One page of the portfolio in `sort` order (see portfolio.SORTS); `next_cursor` fetches the next."""
        query = portfolio.Query(
            today=now.astimezone(UTC).date(), stage=stage, health=health, client=client,
            project_ids=project_ids, limit=max(1, min(limit, MAX_PAGE)), cursor=cursor, sort=sort,
        )
        with self.store.reader.connect() as conn:
            return portfolio.page(conn, query)

    def portfolio_all(self, *, now: datetime, **filters: Any) -> list[PortfolioRow]:
        """Every portfolio row matching the filters (for the command line)."""
        rows: list[PortfolioRow] = []
        cursor: str | None = None
        while True:
            page = self.portfolio(now=now, limit=MAX_PAGE, cursor=cursor, **filters)
            rows.extend(page.items)
            if page.next_cursor is None:
                return rows
            cursor = page.next_cursor

    # --------------------------------------------------------------- audit

    def audit_log(
        self, project_id: UUID | str, *, after: int = 0, limit: int = 100,
        until: datetime | None = None,
    ) -> AuditPage:
        """The project's events in store order, after a position (the previous page's cursor)."""
        pid = str(parse_project_id(project_id))
        limit = max(1, min(limit, MAX_PAGE))
        stmt = (
            select(audit_table)
            .where(audit_table.c.project_id == pid, audit_table.c.position > after)
            .order_by(audit_table.c.position)
            .limit(limit + 1)
        )
        if until is not None:
            stmt = stmt.where(audit_table.c.recorded_at <= clock.as_utc(until))
        with self.store.reader.connect() as conn:
            rows = conn.execute(stmt).all()
            if not rows and after == 0:
                known = conn.execute(
                    select(audit_table.c.position).where(audit_table.c.project_id == pid).limit(1)
                ).first()
                if known is None:
                    raise NotFound("project", pid)
        items = [
            AuditEntry(
                position=r.position, project_id=r.project_id, version=r.version, type=r.type,
                actor=r.actor, recorded_at=clock.as_utc(r.recorded_at), data=portfolio.loads(r.data),
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return AuditPage(
            project_id=pid, items=items, next_cursor=str(items[-1].position) if more else None,
        )

