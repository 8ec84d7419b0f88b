"""The read side: keeps the views current and answers the queries the API and pages call.

Live views come from the SQL tables (kept in memory until their project's next
event); *as of* views start from the nearest view snapshot at or before the cut
and fold only the project's events after it, with the same reducers. Every query
takes `now` explicitly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking
from sqlalchemy import bindparam, select, text

from delivery import clock
from delivery.application import DeliveryApplication, parse_project_id
from delivery.errors import DeliveryError, InvalidInput, NotFound
from delivery.messages import msg
from projections import portfolio, reference, views
from projections import state as view_state
from projections.applier import Applier, Follower
from projections.cache import ViewCache
from projections.events import EVENT_TYPES
from projections.forecast import forecast
from projections.models import (
    AuditEntry,
    AuditPage,
    ChangeLog,
    Checklist,
    CommentList,
    MilestoneList,
    PortfolioPage,
    PortfolioRow,
    PortfolioTotals,
    ProjectForecast,
    ProjectSummary,
    ReceiptList,
    ReleaseList,
)
from projections.portfolio import Query as PortfolioQuery
from projections.rebuild import events_table
from projections.reducers import fold
from projections.state import ProjectState
from projections.store import ApplyFailed, ViewStore, audit_data, audit_table, decode

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

BATCH_SIZE = 500
# Projects as of a past version kept in memory (an auditor paging through one moment's views).
PAST_STATES = 16
# View snapshots an idle applier leaves per pause (each costs a fold and an encoding of the state).
SNAPSHOTS_PER_IDLE = 10
MAX_PAGE = 500
# A catch-up stops after this many batches without progress: the store is inconsistent, say where.
STALLED_BATCHES = 3
# Events handed over by this process's saves and not yet taken by the applier, at most (then it reads them).
HANDED_MAX = 10_000
# A write (or an as-of read) waits this long for the views to reach its event, then answers 503 with
# Retry-After: the applier normally takes milliseconds, and another process takes over a dead one within a
# second or two; a longer wait would only hold a server thread while the worker is down.
WAIT_SECONDS = 3.0


class ViewsBehind(DeliveryError):
    """The views did not reach a position in time (the worker is down or far behind)."""

    code = "views_behind"


class ReadSide:
    """The views of one application's store, and the queries over them.

    With `live=True` this process applies the views in one background thread: on
    SQLite always (a save waits until its event is applied, so a read right after a
    write sees it), on PostgreSQL while it holds the applier lock. With `follow=True`
    (PostgreSQL API processes) it hears each applied batch, to wake `wait_for` and
    drop cached reads. Without either, `catch_up()` applies on demand (the CLI).
    """

    def __init__(
        self, app: DeliveryApplication, *, live: bool = False, store: ViewStore | None = None,
        batch_size: int = BATCH_SIZE, follow: bool | None = None, stopping: threading.Event | None = None,
        rebuild_stale: bool = True,
    ) -> None:
        self.app = app
        self.store = store or ViewStore(app.database, app.name)
        self.batch_size = batch_size
        self.live = live
        self.postgres = app.database.kind == "postgresql"
        self.failure: ApplyFailed | None = None
        self.metrics: Counter[str] = Counter()
        self.cache = ViewCache()
        self.past = ViewCache(max_entries=PAST_STATES)
        self._cond = threading.Condition()
        # Projects whose views moved (their version), and the version of each one's latest view snapshot.
        self._due: dict[str, int] = {}
        self._snapshotted: dict[str, int] = {}
        # Set to stop a long catch-up between batches (SIGTERM on the worker).
        self.stopping = stopping or threading.Event()
        self._known = 0
        if rebuild_stale:
            self._rebuild_stale()
        self._known = self.stored_position()
        self.applier: Applier | None = None
        self.follower: Follower | None = None
        self._trust_announced = False
        # Events this process saved, by position, handed over at their commit (`_recorded`): the applier
        # takes a run of them from here instead of reading the store again; anything missing is read.
        self._handed: dict[int, Any] = {}
        self._handed_lock = threading.Lock()
        # SQLite, views applied here: this process sees every event recorded in the file, its own as they are
        # saved and any other process's when the applier reads it. So the cached projects are not brought up
        # to date by a query per command; the applier forgets a cached project another process wrote to before
        # that write shows in any view (a command on the stale copy meanwhile fails to save, and is run again
        # on a fresh one).
        self._forget_foreign = live and not self.postgres
        if live:
            if self._forget_foreign:
                app.trust_cached_projects()
            self.applier = Applier(self)
            app.after_save.append(self._after_save)
            app.on_recorded.append(self._recorded)
            self.applier.start()
        if self.postgres and (follow if follow is not None else live):
            # PostgreSQL: every batch applied, here or in another process, is announced with the projects it
            # touched and their versions. Heard here, they drop the cached projects another process wrote to,
            # so a command trusts its cached copy instead of asking the store for newer events (a query per
            # command). Until the announcement comes, a command on a stale copy fails to save and runs again on
            # a fresh one, as on SQLite.
            self._trust_announced = live
            if live:
                app.trust_cached_projects()
            self.follower = Follower(self, self._heard)
            self.follower.start()
        # Kept reads are dropped by whoever applies (this process) or announces (the follower).
        self.cache.enabled = (self.applier is not None and not self.postgres) or self.follower is not None
        self.past.enabled = self.cache.enabled

    def _rebuild_stale(self) -> None:
        stale = self.store.groups_needing_rebuild()
        if not stale:
            return
        from projections.rebuild import rebuild

        # A view whose shape or logic changed is built anew beside the old one, then swapped in.
        log.info("views %s changed version: rebuilding them", ", ".join(stale))
        if any(g in stale for g in self.store.rebuildable_groups()):
            rebuild(self.store, self.app, only_if_stale=True)
        kept = [g for g in stale if g not in self.store.rebuildable_groups()]
        if "chain" in kept and not self._relinkable():
            kept.remove("chain")
        if kept:
            self.store.reset(kept)

    def _relinkable(self) -> bool:
        """Whether the chain may be linked anew in the current form: only when it has no links yet, or its
        links verify in the form they were made in (an edit is never blessed by an upgrade)."""
        if not self.store.positions()["chain"]:
            return True
        from projections.integrity import Verifier

        form = self.store.chain_form()
        verdict = Verifier(self.app, self.store).walk(form=form) if form is not None else None
        if verdict is None or not verdict.valid:
            bad = verdict.first_bad if verdict is not None else {"message": "the chain's version record is unknown"}
            log.error("the chain is not linked anew in the current form: its links do not verify in the form "
                      "they were made in (%s); `delivery verify` reports it", (bad or {}).get("message"))
            return False
        log.warning("the chain's links (form %s) verify over %s events, head %s: linking them anew in the "
                    "current form (checkpoints signed before stay checkable in their own form)",
                    form, verdict.events, verdict.head)
        return True

    def __enter__(self) -> ReadSide:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    def close(self) -> None:
        self.stopping.set()
        if self._after_save in self.app.after_save:
            self.app.after_save.remove(self._after_save)
        if self._recorded in self.app.on_recorded:
            self.app.on_recorded.remove(self._recorded)
        if self.applier is not None:
            self.applier.stop()
        if self.follower is not None:
            self.follower.stop()
        self.store.close()

    # ------------------------------------------------------------ following

    def stored_position(self) -> int:
        return self.store.max_tracking_id(self.app.name) or 0

    def position(self) -> int:
        """The store position every view has reached."""
        if self.cache.enabled:
            return self._known
        return self.stored_position()

    def _heard(self, position: int, versions: dict[str, int] | None) -> None:
        """An announcement (or the follower's own look at the stored position, with no projects named)."""
        if self._trust_announced:
            if versions is None or (not versions and position > self._known):
                self.app.forget_projects_behind(None)  # moved without saying which projects
            elif versions:
                self.app.forget_projects_behind(versions)
        self._advanced(position, None if versions is None else set(versions))

    def _advanced(self, position: int, projects: set[str] | None) -> None:
        """The views reached `position`, changing these projects (None or unknown: any project)."""
        with self._cond:
            if position > self._known:
                # Moved without saying which projects (another process applied): forget everything.
                self.cache.drop(projects if projects else None)
                self._known = position
                self._cond.notify_all()
            elif projects:
                self.cache.drop(projects)

    def take_snapshots(self, limit: int = SNAPSHOTS_PER_IDLE) -> int:
        """Leave view snapshots every SNAPSHOT_EVERY versions of the projects that moved that far.

        The applier calls this when idle: from each project's latest snapshot it folds the
        events since, leaving a snapshot at every multiple passed (at most `limit` in all per
        call; the rest next time), so an *as of* read anywhere in a history folds at most
        that many events past a snapshot, whether or not a rebuild left them.
        """
        every = view_state.SNAPSHOT_EVERY
        taken = 0
        for pid in list(self._due):
            if taken >= limit:
                break
            version = self._due.pop(pid)
            last = self._snapshotted.get(pid)
            if last is None:
                last = self.store.latest_snapshot_version(pid)
            if version - last < every:
                self._snapshotted[pid] = last
                continue
            found = self.store.snapshot_at_or_before(pid, last) if last else None
            start, state = found if found is not None else (0, ProjectState())
            saved: list[dict[str, Any]] = []
            for event in self.app.events.get(UUID(pid), gt=start, lte=version):
                fold([event], state)
                v = int(event.originator_version)
                if v % every == 0:
                    saved.append({"project_id": pid, "version": v, "doc": state.dumps()})
                    if taken + len(saved) >= limit:
                        self._due[pid] = version  # the rest next time
                        break
            self.store.save_snapshots(saved)
            taken += len(saved)
            self._snapshotted[pid] = saved[-1]["version"] if saved else last
        return taken

    def advanced_elsewhere(self) -> None:
        """Look at the stored position: views moved by another process drop every kept read."""
        self._advanced(self.stored_position(), set())

    def report_failure(self, exc: ApplyFailed) -> None:
        if self.failure is None or self.failure.position != exc.position:
            log.error("views stuck: %s", exc)
        self.failure = exc
        self.metrics["apply_failures"] += 1

    def catch_up(self, progress: Progress | None = None) -> int:
        """Apply every event the views have not seen yet; returns how many were applied.

        Raises ApplyFailed naming the position when an event cannot be applied (after
        narrowing a failing batch down to its first failing event).
        """
        applied = 0
        total: int | None = None
        stalled = 0
        # Where this process knows the views are (no read); a batch applied elsewhere meanwhile is seen by
        # the compare-and-set of the positions (nothing applied) and the stored position read then.
        start = self.position() + 1
        while not self.stopping.is_set():
            handed = self._take_handed(start)
            notifications = handed or self.app.follower_recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=True)
            if not notifications:
                break
            if not handed and self._forget_foreign:
                # Read from the store, not handed over: some may be another process's. A cached project
                # already at an event's version has it (this process saved it, and a save that lost is
                # forgotten at once); one behind is dropped. Dropping every project named (as before)
                # dropped this process's own projects whenever a batch was read before its saves were
                # handed over, and each was read again from its last snapshot: on one project written
                # by 32 connections, a growing share of every command (docs/performance.md, ninth pass).
                versions: dict[str, int] = {}
                for n in notifications:
                    pid = str(n.originator_id)
                    versions[pid] = max(versions.get(pid, 0), n.originator_version)
                self.app.forget_projects_behind(versions)
            batch = [(decode(self.app.mapper, n), Tracking(self.app.name, n.id)) for n in notifications]
            try:
                done = self.store.apply_batch(batch, notify=self.postgres)
            except ApplyFailed:
                if len(batch) == 1:
                    raise
                for one in batch:  # find the one event that fails, and apply those before it
                    done = self.store.apply_batch([one], notify=self.postgres)
                    self._advanced(done.position, done.projects)
                    applied += done.count
                raise AssertionError("a batch failed but none of its events did") from None
            if done.count == 0:
                # Another applier got there first (or nothing moves: say where after a few tries).
                stalled += 1
                start = self.stored_position() + 1
                if stalled >= STALLED_BATCHES and start <= notifications[0].id:
                    raise ApplyFailed(notifications[0].id, notifications[-1].id, "any",
                                      RuntimeError("the views' position does not move"))
                continue
            stalled = 0
            applied += done.count
            start = done.position + 1
            self._due.update(done.versions)
            self._advanced(done.position, done.projects)
            self.metrics["events_applied"] += done.count
            self.metrics["batches_applied"] += 1
            if handed:
                self.metrics["events_handed"] += len(handed)
            if progress is not None:
                if total is None:
                    total = (self.app.recorder.max_notification_id() or 0) - start + 1 + applied
                progress(min(applied, total), total)
            if len(notifications) < self.batch_size:
                # At the head (or at the end of what this process saved; anything another process saved after
                # it is read at the next wake, or within IDLE_SECONDS): the next save or NOTIFY wakes the applier.
                break
        return applied

    def _recorded(self, notifications: list[Any]) -> None:
        """A save of this process committed these (stored events with their positions): keep them for the applier."""
        if self.postgres and not (self.applier is not None and self.applier.leading):
            return  # another process applies: nobody here would take them
        with self._handed_lock:
            if len(self._handed) >= HANDED_MAX:
                self._handed.clear()  # the applier is not taking them (stuck, or far behind): it reads instead
            for n in notifications:
                self._handed[n.id] = n

    def _take_handed(self, start: int) -> list[Any]:
        """The run of handed-over events from `start` on without a gap (at most a batch), dropping older ones."""
        with self._handed_lock:
            if not self._handed:
                return []
            run: list[Any] = []
            position = start
            while len(run) < self.batch_size and (n := self._handed.pop(position, None)) is not None:
                run.append(n)
                position += 1
            if run or min(self._handed) < start:
                for old in [p for p in self._handed if p < start]:
                    del self._handed[old]
            return run

    def wait_for(self, position: int | None, timeout: float = WAIT_SECONDS) -> None:
        """Return once the views include `position` (read your writes)."""
        if position is None or position <= self._known:
            return
        deadline = time.monotonic() + timeout
        if self.applier is not None and not self.postgres:
            self.applier.wake.set()
        while True:
            if self.failure is not None and self.failure.position <= position:
                raise ViewsBehind(
                    msg("views_stuck", stuck_at=self.failure.position),
                    {"position": position, "reached": self.position(), "stuck_at": self.failure.position},
                )
            if not self.cache.enabled:
                if self.live or not self.postgres:
                    self.catch_up()
                reached = self.stored_position()
                if reached >= position:
                    self._known = max(self._known, reached)
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ViewsBehind(msg("views_behind", position=position, seconds=float(timeout)),
                                  {"position": position, "reached": self.position()})
            with self._cond:
                if self._known >= position:
                    return
                self._cond.wait(min(remaining, 0.25))
                if self._known >= position:
                    return

    def rebuild(self, progress: Progress | None = None, processes: int | None = None) -> int:
        """Build every view anew from event zero beside the old ones and swap; returns the events folded."""
        from projections.rebuild import rebuild

        count = rebuild(self.store, self.app, progress, processes)
        self.store.forget_applied()
        self._advanced(self.stored_position(), None)
        return count

    def _after_save(self, position: int) -> None:
        # A save in a live process returns once its event is applied (read your writes in-process).
        if self.applier is None:
            return
        self.applier.wake.set()
        try:
            self.wait_for(position)
        except ViewsBehind:
            # The write is committed; the views catch up when they can, and readers are told.
            log.warning("views have not reached position %s yet", position)

    # ------------------------------------------------------- project views

    def summary(
        self, project_id: UUID | str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> ProjectSummary:
        pid, state, epoch = self._state(project_id, as_of, position)
        if as_of is None and position is None:
            return self.cache.get_or_make(pid, "summary", lambda: views.summary_view(state), epoch)  # type: ignore[no-any-return]
        return views.summary_view(state)

    def milestones(
        self, project_id: UUID | str, *, now: datetime, as_of: datetime | None = None,
        position: int | None = None,
    ) -> MilestoneList:
        pid, state, epoch = self._state(project_id, as_of, position)
        if as_of is None and position is None:
            # Statuses depend on the day: kept until the next event or the next day.
            return self.cache.get_or_make(  # type: ignore[no-any-return]
                pid, ("milestones", now.date()), lambda: views.milestone_list(pid, state, now), epoch,
            )
        return views.milestone_list(pid, state, now)

    def checklist(
        self, project_id: UUID | str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> Checklist:
        pid, state, epoch = self._state(project_id, as_of, position)
        if as_of is None and position is None:
            return self.cache.get_or_make(pid, "checklist", lambda: views.checklist_view(pid, state), epoch)  # type: ignore[no-any-return]
        return views.checklist_view(pid, state)

    def change_log(
        self, project_id: UUID | str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> ChangeLog:
        pid, state, epoch = self._state(project_id, as_of, position)
        if as_of is None and position is None:
            return self.cache.get_or_make(pid, "changes", lambda: views.change_log(pid, state), epoch)  # type: ignore[no-any-return]
        return views.change_log(pid, state)

    def comments(
        self, project_id: UUID | str, *, target_kind: str | None = None, target_id: str | None = None,
        as_of: datetime | None = None, position: int | None = None,
    ) -> CommentList:
        pid, state, _ = self._state(project_id, as_of, position)
        return views.comment_list(pid, state, target_kind, target_id)

    def receipts(self, project_id: UUID | str) -> ReceiptList:
        pid, state, _ = self._state(project_id, None, None)
        return views.receipt_list(pid, state)

    def releases(
        self, project_id: UUID | str, *, now: datetime, as_of: datetime | None = None,
        position: int | None = None,
    ) -> ReleaseList:
        pid, state, _ = self._state(project_id, as_of, position)
        # As of a moment, a step still open then is counted up to that moment.
        return views.release_list(pid, state, min(now, as_of) if as_of else now)

    def forecast(
        self, project_id: UUID | str, *, now: datetime, as_of: datetime | None = None,
        position: int | None = None,
    ) -> ProjectForecast:
        """P50 and P80 dates of the open milestones and of launch (projections/forecast.py).

        Not kept: it depends on the day and on other projects' events (the reference class).
        As of a moment, the project's own history and day are those of the moment; the
        reference class is the current one (less this project's own milestones).
        """
        pid, state, _ = self._state(project_id, as_of, position)
        live = as_of is None and position is None
        with self.store.reader.connect() as conn:
            ref = reference.load(conn, self.store.live, state.h.template)
            current = state.h if live else self.store.header(pid, conn)
        if current is not None:
            ref = ref.without(current)
        today = (now if as_of is None else min(now, as_of)).date()
        return forecast(state.h, state.rows.of("milestone"), ref, today)

    def view(self, view: str, project_id: str, *, now: datetime, as_of: datetime | None = None) -> Any:
        """One of the API's per-project views by its path name (`milestones`, `checklist`, ...)."""
        if view == "milestones":
            return self.milestones(project_id, now=now, as_of=as_of)
        if view == "checklist":
            return self.checklist(project_id, as_of=as_of)
        if view == "change-requests":
            return self.change_log(project_id, as_of=as_of)
        if view == "releases":
            return self.releases(project_id, now=now, as_of=as_of)
        raise ValueError(f"no view {view!r}")

    def kept_encoded(self, view: str, project_id: str, now: datetime) -> bytes | None:
        """A live view's JSON if kept for this moment (no database, no thread hand-off), else None."""
        found = self.cache.get(project_id, view + ".json")
        if found is not None and found[0] == _moment(view, now):
            return found[1]  # type: ignore[no-any-return]
        return None

    def encoded(self, view: str, project_id: str, now: datetime) -> bytes:
        """A live view as the API sends it (JSON bytes), kept until the project's next event.

        The milestone list is kept for the day (its statuses depend on it) and the release
        list for the second (time at the current step counts up to now).
        """
        moment = _moment(view, now)
        kept = self.kept_encoded(view, project_id, now)
        if kept is not None:
            return kept
        epoch = self.cache.epoch
        # The release list is counted to the second it is kept for.
        at = now.replace(microsecond=0) if view == "releases" else now
        body: bytes = self.view(view, project_id, now=at).model_dump_json().encode()
        self.cache.put(str(project_id), view + ".json", (moment, body), epoch)
        return body

    def _state(
        self, project_id: UUID | str, as_of: datetime | None, position: int | None,
    ) -> tuple[str, ProjectState, int]:
        """The project's id, its view state (live, or as of the cut) and the cache epoch read before it.

        Views made from this state are kept with that epoch (`ViewCache.get_or_make`), so an
        event applied after the state was read drops them even if it went by before they were made.
        """
        pid = str(parse_project_id(project_id))
        epoch = self.cache.epoch
        if as_of is None and position is None:
            state = self.cache.get_or_make(pid, "state", lambda: self.store.load_state(pid), epoch)
        else:
            state = self.state_as_of(pid, as_of=as_of, position=position)
        if state is None:
            raise NotFound("project", pid)
        return pid, state, epoch

    def state_as_of(
        self, project_id: str, *, as_of: datetime | None = None, position: int | None = None,
    ) -> ProjectState | None:
        """The project's view state folded from its events recorded up to the cut (None before it existed).

        Starts from the nearest view snapshot at or before the cut and reads only the
        events after it, up to the cut; leaves snapshots behind where it folded far.
        """
        pid = parse_project_id(project_id)
        # Read your writes: the views hold every event recorded before this read began.
        self.wait_for(self.app.recorder.max_notification_id() or 0)
        recorded_by = clock.as_utc(as_of) if as_of is not None else None
        version, snapshot = self.store.as_of_cut(str(pid), recorded_by=recorded_by, position=position)
        if version is None:
            return None
        # History does not change: a project as of a version is kept (never dropped by new events), a few
        # at a time (a whole state is many objects: more would cost memory and long collector pauses).
        return self.past.get_or_make(  # type: ignore[no-any-return]
            str(pid), version, lambda: self._fold_to(pid, version, snapshot),
        )

    def _fold_to(self, pid: UUID, version: int, snapshot: int | None) -> ProjectState | None:
        start, state = 0, ProjectState()
        if snapshot is not None and (parts := self.store.snapshot_parts(str(pid), snapshot)) is not None:
            start, state = snapshot, ProjectState.from_parts(parts)
        # One snapshot left behind at most (the last multiple passed): the next read near here starts from it.
        last_multiple = version - version % view_state.SNAPSHOT_EVERY
        saved: list[dict[str, Any]] = []
        for event in self.app.events.get(pid, gt=start, lte=version):
            fold([event], state)
            v = int(event.originator_version)
            if v == last_multiple and v - start >= view_state.SNAPSHOT_EVERY:
                saved.append({"project_id": str(pid), "version": v, "doc": state.dumps()})
        self.store.save_snapshots(saved)
        return state if state.header is not None else None

    # ----------------------------------------------------------- portfolio

    def portfolio_query(
        self, *, now: datetime, stage: str | None = None, health: str | None = None,
        client: str | None = None, q: str | None = None, project_ids: list[str] | None = None, limit: int = 50,
        cursor: str | None = None, sort: str = "name",
    ) -> PortfolioQuery:
        return PortfolioQuery(
            today=now.astimezone(UTC).date(), stage=stage, health=health, client=client,
            q=portfolio.search_term(q),
            project_ids=tuple(project_ids) if project_ids is not None else None,
            limit=max(1, min(limit, MAX_PAGE)), cursor=cursor, sort=sort,
        )

    def portfolio(self, *, now: datetime, **filters: Any) -> PortfolioPage:
        """One page of the portfolio in `sort` order (see portfolio.SORTS); `next_cursor` fetches the next."""
        return self.portfolio_page(self.portfolio_query(now=now, **filters))

    def portfolio_page(self, query: PortfolioQuery) -> PortfolioPage:
        def page() -> PortfolioPage:
            with self.store.reader.connect() as conn:
                return portfolio.page(conn, query)

        # Health depends on the day (in the query); any event may move any row.
        return self.cache.get_or_make("*", ("portfolio", query), page)  # type: ignore[no-any-return]

    def portfolio_json(self, query: PortfolioQuery) -> bytes:
        """A portfolio page as the API sends it, kept until the next event."""
        return self.cache.get_or_make(  # type: ignore[no-any-return]
            "*", ("portfolio.json", query), lambda: self.portfolio_page(query).model_dump_json().encode(),
        )

    def portfolio_totals(self, *, now: datetime, **filters: Any) -> PortfolioTotals:
        """How many projects match the filters, per health and per stage (cursor, limit and sort aside)."""
        query = replace(self.portfolio_query(now=now, **filters), cursor=None, limit=1, sort="name")

        def count() -> PortfolioTotals:
            with self.store.reader.connect() as conn:
                return portfolio.totals(conn, query)

        return self.cache.get_or_make("*", ("portfolio.totals", query), count)  # type: ignore[no-any-return]

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
        until: datetime | None = None, types: Sequence[str] = (), actor: str | None = None,
    ) -> AuditPage:
        """The project's events in store order, after a position (the previous page's cursor).

        `types` keeps only events of those kinds (`StageAdvanced`...; InvalidInput naming `type` for one no
        project records) and `actor` only those recorded by that name, exactly; the cursor pages the same.
        """
        pid = str(parse_project_id(project_id))
        limit = max(1, min(limit, MAX_PAGE))
        a = audit_table
        stmt = (
            select(a.c.position, a.c.project_id, a.c.version, a.c.type, a.c.actor, a.c.recorded_at)
            .where(a.c.project_id == pid, a.c.position > after)
            .order_by(a.c.position)
            .limit(limit + 1)
        )
        unknown = sorted(set(types) - EVENT_TYPES)
        if unknown:
            raise InvalidInput("type", msg("rule_event_type", value=repr(unknown[0])))
        if types:
            stmt = stmt.where(a.c.type.in_(sorted(set(types))))
        if actor is not None:
            stmt = stmt.where(a.c.actor == actor)
        if until is not None:
            stmt = stmt.where(a.c.recorded_at <= clock.as_utc(until))
        with self.store.reader.connect() as conn:
            rows = conn.execute(stmt).all()
            if not rows and after == 0 and not types and actor is None:
                known = conn.execute(select(a.c.position).where(a.c.project_id == pid).limit(1)).first()
                if known is None:
                    raise NotFound("project", pid)
            events = _events_at(self.app, self.store, conn, [r.position for r in rows[:limit]])
        items = [
            AuditEntry(
                position=r.position, project_id=r.project_id, version=r.version, type=r.type,
                actor=r.actor, recorded_at=clock.as_utc(r.recorded_at), data=audit_data(events.get(r.position)),
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        return AuditPage(
            project_id=pid, items=items, next_cursor=str(items[-1].position) if more else None,
        )

    def audit_facets(self, project_id: UUID | str) -> tuple[list[str], list[str]]:
        """(the event types, the actors) a project's log holds, each sorted, for the audit page's filters."""
        pid = str(parse_project_id(project_id))
        a = audit_table
        with self.store.reader.connect() as conn:
            types = conn.execute(select(a.c.type).where(a.c.project_id == pid).distinct().order_by(a.c.type))
            actors = conn.execute(select(a.c.actor).where(a.c.project_id == pid).distinct().order_by(a.c.actor))
            return list(types.scalars()), list(actors.scalars())


def _events_at(app: DeliveryApplication, store: ViewStore, conn: Any, positions: list[int]) -> dict[int, Any]:
    """The domain events at these positions, read from the store's own table (the audit log keeps no copy).

    An event that cannot be decoded (its topic or state edited in the table) is the error it raises:
    the log shows it as unreadable and `delivery verify` reports it.
    """
    if not positions:
        return {}
    table, column = events_table(app, store)
    sql = text(
        f"SELECT {column}, originator_id, originator_version, topic, state FROM {table} WHERE {column} IN :positions"
    ).bindparams(bindparam("positions", expanding=True))
    found: dict[int, Any] = {}
    for position, originator_id, version, topic, state in conn.execute(sql, {"positions": positions}):
        try:
            found[int(position)] = decode(app.mapper, Notification(
                id=position, originator_id=originator_id if isinstance(originator_id, UUID) else UUID(originator_id),
                originator_version=version, topic=topic, state=state,
            ))
        except ApplyFailed as exc:
            found[int(position)] = exc.cause
    return found


def _moment(view: str, now: datetime) -> Any:
    """What a kept answer depends on besides the project's version."""
    if view == "milestones":
        return now.date()
    if view == "releases":
        return now.replace(microsecond=0)
    return None

