"""The application: its methods are the commands, each one a load, a rule check and a save."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, Repository
from eventsourcing.persistence import EventStore, IntegrityError, JSONTranscoder

from delivery import clock
from delivery import currency as money
from delivery import validation as v
from delivery.currency import DEFAULT_CURRENCY
from delivery.errors import (
    ConflictingInput,
    DeliveryError,
    KeyReused,
    NotFound,
    VersionConflict,
    VersionMismatch,
)
from delivery.keyed import PERSISTENCE_MODULES, CommandKey, KeptCommand, KeyedRecorder, KeyedSave, follower_recorder
from delivery.messages import msg
from delivery.project import Project
from delivery.protocols import keep_protocol_members
from delivery.settings import Database
from delivery.stages import Stage
from delivery.templates import Catalog, language_of, plan_project
from delivery.transcodings import register_transcodings

T = TypeVar("T")

# The library checks every event it saves or loads against runtime protocols: cheap on 3.12, not on 3.11.
keep_protocol_members()

# Projects kept in memory per process, and the locks their commands take (two projects may share one).
CACHED_PROJECTS = 1000
LOCK_STRIPES = 256
# Commands running at once in a process; more wait their turn. Since saves that meet go in one transaction
# (delivery/keyed.py Together) and the views applier folds all that landed in one batch, more at once cost
# less each: at 32 connections on SQLite, 8 at once ran 823-841 commands/s, 16 963-1,017/s, 32 1,164-1,225/s
# (bench/cpu.py, docs/performance.md eighth pass). Not all 40 of the thread pool: reads that need it still
# find a thread.
COMMANDS_AT_ONCE = 32


def snapshot_due(version: int, interval: int) -> bool:
    """Whether a project is snapshotted at `version`: every `interval` events up to 20 intervals (1,000 events
    at 50), then every tenth to twentieth of its versions: `interval` times the power of two that puts ten
    snapshots in each doubling (1,000-2,000 events: every 100; 16,000-32,000: every 1,600).

    A snapshot encodes the whole project, so at a fixed interval its cost per event grew with the project:
    on one project written to by 32 connections, ~5,000 scope items in, the snapshots took a quarter of the
    request threads' CPU (bench/cpu.py --projects 1). Spaced with the project's size, their cost per event
    stays flat, and a project read cold folds at most a tenth of its history past its latest snapshot.
    The step is a power of two so that every version a step divides lies in that step's own doubling
    (a step of `interval * (version // (interval * 10))`, the first form, divided every multiple of
    500: a snapshot every 500 events at any size, a cost per event growing with the project).
    """
    doublings = (version // (interval * 10)).bit_length() - 1
    step = interval << max(0, doublings)
    return version % step == 0


def commands_at_once() -> int:
    """COMMANDS_AT_ONCE, or DELIVERY_COMMANDS_AT_ONCE (a whole number from 1) where set."""
    text = os.environ.get("DELIVERY_COMMANDS_AT_ONCE", "").strip()
    if not text:
        return COMMANDS_AT_ONCE
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"DELIVERY_COMMANDS_AT_ONCE must be a whole number from 1, not {text!r}")
    return int(text)


# A write that loses a race is replayed on the fresh state this many times before giving up.
DEFAULT_RETRIES = 5
RETRY_BACKOFF_SECONDS = 0.005
# Command keys past their keeping time are dropped once every so many keyed saves.
FORGET_KEYS_EVERY = 500


@dataclass(frozen=True)
class Recorded(Generic[T]):
    """What a command returns: its own result, the project's new version and the store position."""

    project_id: UUID
    value: T
    version: int
    position: int | None
    # True when a keyed command had already been recorded: this is what the first one recorded.
    replayed: bool = False


@contextmanager
def schema_lock(database: Database) -> Iterator[None]:
    """On PostgreSQL, processes starting at once create the store's tables one after another."""
    if database.kind != "postgresql":
        yield
        return
    import psycopg

    with psycopg.connect(database.url.split("?", 1)[0], autocommit=True, connect_timeout=10) as conn:
        key = database.lock_key("schema")
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


class DeliveryApplication(Application[UUID]):
    name = "delivery"
    snapshotting_intervals = {Project: 50}  # noqa: RUF012 (the library reads this class attribute)

    def __init__(self, database: Database | None = None, env: Mapping[str, str] | None = None) -> None:
        self.database = database or Database.from_env()
        # Projects stay in memory between commands, brought up to date with the events saved since
        # (by any process) and never copied: a command costs the events it adds, not the project's
        # history. `execute` holds a per-project lock around load, decide and save, and forgets
        # the cached copy when a save fails, so a refused or lost write never leaves it changed.
        cache = {"AGGREGATE_CACHE_MAXSIZE": str(CACHED_PROJECTS), "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
        # The library's stores, recording a keyed command's key in the same transaction as its events
        # (delivery/keyed.py).
        keyed = {"PERSISTENCE_MODULE": PERSISTENCE_MODULES[self.database.kind]}
        self._follower: Any = None
        with schema_lock(self.database):
            super().__init__(env={**cache, **self.database.eventsourcing_env(), **keyed, **(env or {})})
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self._at_once = threading.BoundedSemaphore(commands_at_once())
        # Called with the store position after every save (the in-process views follow this way).
        self.after_save: list[Callable[[int], None]] = []
        # Called with a save's stored events (their positions set) as soon as it commits, before the project's
        # lock is released: the in-process applier takes them from here instead of reading them back.
        self.on_recorded: list[Callable[[list[Any]], None]] = []
        # Commands under way in this process (from their start to their commit or refusal), so the applier
        # can let those land and apply them in one batch.
        self._under_way = 0
        self._under_way_changed = threading.Condition()
        self._keyed_saves = 0
        self._templates: Catalog | None = None

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """A snapshot of each saved project whose events reached a version `snapshot_due`, from memory.

        The library would load the project again at that version (the last snapshot and up
        to an interval of events, read and decoded) on the saving request's path; the copy
        in hand is already that project, saved and under its lock.
        """
        if self.snapshots is None:
            return
        taken = []
        for pid, aggregate in processing_event.aggregates.items():
            interval = self.snapshotting_intervals.get(type(aggregate))  # type: ignore[union-attr]
            versions = [e.originator_version for e in processing_event.events if e.originator_id == pid]
            if interval and any(snapshot_due(v, interval) for v in versions):
                snapshot_class: Any = getattr(type(aggregate), "Snapshot", type(self).snapshot_class)
                taken.append(snapshot_class.take(aggregate))
        if taken:
            self.snapshots.put(taken)

    @property
    def follower_recorder(self) -> Any:
        """The recorder that followers of the store (the views' applier, the notification planner) read new events from.

        On SQLite, a recorder of its own over the same file: the library's pool hands out connections in
        one queue, where a reader waits behind every writer that waits for its turn to write; the applier,
        whose work every waiting writer needs done, must not queue behind them. On PostgreSQL, the same.
        """
        if self._follower is None:
            self._follower = follower_recorder(self)
        return self._follower

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, reading events through the follower recorder (on SQLite, its own pool).

        A command's load reads only the events saved since its cached copy; in the library's one queue
        for connections it would wait behind every writer waiting for its turn to write.
        """
        repository = super().construct_repository()
        if self.follower_recorder is not self.recorder:
            repository.event_store = EventStore(self.mapper, self.follower_recorder)
        return repository

    def close(self) -> None:
        if self._follower is not None and self._follower is not self.recorder:
            self._follower.datastore.close()
        super().close()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_transcodings(transcoder)

    # ------------------------------------------------------------------ reads

    def get_project(self, project_id: UUID | str, version: int | None = None) -> Project:
        """A copy of the project to read (commands go through `execute`)."""
        pid = parse_project_id(project_id)
        with self._lock(pid):
            return copy.deepcopy(self._load(pid, version))

    def _load(self, pid: UUID, version: int | None = None) -> Project:
        try:
            project: Project = self.repository.get(pid, version=version)
        except AggregateNotFoundError:
            raise NotFound("project", pid) from None
        return project

    def _lock(self, pid: UUID) -> threading.Lock:
        """The lock of a project's cached copy (striped: a fixed set, so none is ever dropped while in use)."""
        return self._locks[pid.int % LOCK_STRIPES]

    def _forget(self, pid: UUID) -> None:
        """Drop the cached project (a save failed after the command changed it)."""
        with contextlib.suppress(KeyError):
            self.repository.cache.get(pid, evict=True)  # type: ignore[union-attr]

    def trust_cached_projects(self) -> None:
        """Use cached projects as they are, without asking the store for events saved since (a query per
        command): for a process told of every other process's writes, as the SQLite views applier is
        (`forget_projects`) and a PostgreSQL process following the views' announcements
        (`forget_projects_behind`). A command on a copy gone stale meanwhile fails to save and runs again on a fresh
        one; one that names a newer version (If-Match) has the project read again before it is refused."""
        self.repository.fastforward = False

    def forget_projects_behind(self, versions: Mapping[str, int] | None) -> None:
        """Drop each cached project older than its version here (another process wrote it); None: every one."""
        cache: Any = self.repository.cache
        if cache is None:
            return
        if versions is None:
            cache.clear()
            return
        for pid, version in versions.items():
            uid = UUID(pid)
            with contextlib.suppress(KeyError):
                if cache.get(uid).version < version:
                    cache.get(uid, evict=True)

    def forget_projects(self, pids: Iterable[UUID | str]) -> None:
        """Drop these cached projects: another process wrote to them."""
        for pid in pids:
            self._forget(pid if isinstance(pid, UUID) else UUID(str(pid)))

    # ------------------------------------------------------------- machinery

    @contextmanager
    def keyed(self, key: CommandKey | None) -> Iterator[None]:
        """Run the commands inside under `key`: recorded once with it, a retry answered with what it recorded."""
        token = _command_key.set(key)
        try:
            yield
        finally:
            _command_key.reset(token)

    def kept_command(self, key: CommandKey) -> Recorded[str | None] | None:
        """What a command sent under `key` recorded (None when nothing was); KeyReused for another request."""
        recorder: KeyedRecorder = self.recorder  # type: ignore[assignment]
        kept: KeptCommand | None = recorder.find_command(key)
        if kept is None:
            return None
        if kept.fingerprint != key.fingerprint:
            raise KeyReused()
        return Recorded(kept.project_id, kept.value, kept.version, kept.position, replayed=True)

    def forget_commands(self) -> None:
        """Drop command keys past their keeping time."""
        recorder: KeyedRecorder = self.recorder  # type: ignore[assignment]
        recorder.forget_commands()

    def _save(self, project: Project, value: object = None) -> int | None:
        key = _command_key.get()
        if key is None:
            recordings = self.save(project)
        else:
            keyed = KeyedSave(key, project.id, value if isinstance(value, str) else None)
            recordings = self.save(project, keyed=keyed)
        if recordings:
            for hand in self.on_recorded:
                hand([r.notification for r in recordings])
        if key is not None:
            self._keyed_saves += 1
            if self._keyed_saves % FORGET_KEYS_EVERY == 1:
                self.forget_commands()
        if not recordings:
            return None
        return recordings[-1].notification.id

    @contextmanager
    def _command_under_way(self) -> Iterator[Callable[[], None]]:
        """Count a command as under way until it calls what this yields (once saved) or ends."""
        with self._under_way_changed:
            self._under_way += 1
        done = False

        def landed() -> None:
            nonlocal done
            if not done:
                done = True
                with self._under_way_changed:
                    self._under_way -= 1
                    if not self._under_way:
                        self._under_way_changed.notify_all()

        try:
            yield landed
        finally:
            landed()

    def let_commands_land(self, seconds: float) -> None:
        """Wait until no command of this process is under way, at most `seconds` (the applier gathers a batch:
        under load, the commands already running save within a few milliseconds of each other)."""
        with self._under_way_changed:
            if self._under_way:
                self._under_way_changed.wait_for(lambda: not self._under_way, seconds)

    def _saved(self, position: int | None) -> None:
        """Tell the listeners (the in-process views) once the project's lock is released."""
        if position is not None:
            for listener in self.after_save:
                listener(position)

    def execute(
        self,
        project_id: UUID | str,
        command: Callable[..., T],
        *,
        actor: str,
        expected_version: int | None = None,
        retries: int = DEFAULT_RETRIES,
        **kwargs: Any,
    ) -> Recorded[T]:
        """Run `command(project, actor=..., **kwargs)` and save what it records.

        With `expected_version` (a client's If-Match) a stale copy is refused with
        VersionMismatch. Without it a lost race is retried on the fresh state, the
        rules checked again, up to `retries` times; then VersionConflict.
        """
        who = v.text("actor", actor, max_len=v.NAME_MAX)
        pid = parse_project_id(project_id)
        key = _command_key.get()
        if key is not None and (kept := self.kept_command(key)) is not None:
            return kept  # type: ignore[return-value]
        try:
            return self._execute(pid, command, who, expected_version, retries, kwargs)
        except DeliveryError:
            # Refused, or lost to a copy of itself sent at the same moment (the same key): that one's answer.
            if key is not None and (kept := self.kept_command(key)) is not None:
                return kept  # type: ignore[return-value]
            raise

    def _execute(
        self, pid: UUID, command: Callable[..., T], who: str, expected_version: int | None, retries: int,
        kwargs: dict[str, Any],
    ) -> Recorded[T]:
        with self._at_once, self._command_under_way() as landed:
            return self._run(pid, command, who, expected_version, retries, kwargs, landed)

    def _run(
        self, pid: UUID, command: Callable[..., T], who: str, expected_version: int | None, retries: int,
        kwargs: dict[str, Any], landed: Callable[[], None],
    ) -> Recorded[T]:
        attempt = 0
        while True:
            with self._lock(pid):
                project = self._load(pid)
                if expected_version is not None and project.version < expected_version \
                        and not self.repository.fastforward:
                    self._forget(pid)  # the client knows a newer version than the cached copy: read it again
                    project = self._load(pid)
                if expected_version is not None and project.version != expected_version:
                    raise VersionMismatch(expected_version, project.version)
                try:
                    value = command(project, actor=who, **kwargs)
                except BaseException:
                    # A refusal comes before any event (rules first): the project is as it was. Anything
                    # else may have changed it half-way, so the next command reloads it.
                    if project.pending_events:
                        self._forget(pid)
                    raise
                try:
                    position = self._save(project, value)
                except IntegrityError:
                    self._forget(pid)  # changed in memory, not saved: another writer won
                    lost = True
                except BaseException:
                    self._forget(pid)  # the database went away: unknown whether it was saved
                    raise
                else:
                    lost = False
                    # Read while the lock is held: the cached project is shared, and the next writer changes it.
                    saved_version = project.version
            if not lost:
                landed()  # before waking the applier: it waits for the commands still under way
                self._saved(position)
                return Recorded(pid, value, saved_version, position)
            key = _command_key.get()
            if key is not None and (kept := self.kept_command(key)) is not None:
                # A copy of this command, sent at the same moment, won: its answer.
                return kept  # type: ignore[return-value]
            if expected_version is not None:
                latest = self.get_project(pid).version
                raise VersionMismatch(expected_version, latest) from None
            attempt += 1
            if attempt > retries:
                raise VersionConflict(msg("version_conflict"), {"project_id": str(pid)}) from None
            # Jittered back-off, so a crowd of writers on one project spreads out instead of colliding again.
            time.sleep(random.uniform(0, RETRY_BACKOFF_SECONDS * 2 ** attempt))

    # --------------------------------------------------------------- commands

    @property
    def templates(self) -> Catalog:
        """The stage templates on offer (built in, and the organisation's folder), read once."""
        if self._templates is None:
            self._templates = Catalog.load()
        return self._templates

    def create_project(
        self, *, name: str, client: str, description: str = "", template: str | None = None,
        start_on: date | str | None = None, language: str = "en", currency: str | None = None, actor: str,
    ) -> Recorded[UUID]:
        """Create a project; with a template, its plan is recorded in the same save (all or nothing).

        A currency other than the default (CNY) is recorded in the same save too (ProjectCurrencySet).
        """
        who = v.text("actor", actor, max_len=v.NAME_MAX)
        key = _command_key.get()
        if key is not None and (kept := self.kept_command(key)) is not None:
            return Recorded(kept.project_id, kept.project_id, kept.version, kept.position, replayed=True)
        plan = self.templates.get(template) if template is not None else None
        if plan is None and start_on is not None:
            raise ConflictingInput("start_on", msg("rule_start_needs_template"))
        start = clock.today() if start_on is None else v.day("start_on", start_on)
        lang = language_of(language)
        code = DEFAULT_CURRENCY if currency is None else money.currency("currency", currency)
        project = Project.create(name=name, client=client, description=description, actor=who)
        if code != project.currency:
            project.set_currency(currency=code, actor=who)
        if plan is not None:
            plan_project(project, plan, start_on=start, language=lang, actor=who)
        try:
            position = self._save(project)
        except IntegrityError:
            # Only the key can clash for a new project: a copy of this request was recorded first.
            if key is not None and (kept := self.kept_command(key)) is not None:
                return Recorded(kept.project_id, kept.project_id, kept.version, kept.position, replayed=True)
            raise
        self._saved(position)
        return Recorded(project.id, project.id, project.version, position)

    def transition(self, project_id: UUID | str, *, to_stage: str | Stage, reason: str = "",
                   actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.transition, actor=actor,
                            expected_version=expected_version, to_stage=to_stage, reason=reason)

    def complete_launch(self, project_id: UUID | str, *, actor: str,
                        expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.complete_launch, actor=actor,
                            expected_version=expected_version)

    def waive_stage_plan(self, project_id: UUID | str, *, stage: str | Stage, reason: str, actor: str,
                         expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.waive_stage_plan, actor=actor,
                            expected_version=expected_version, stage=stage, reason=reason)

    def add_scope_item(self, project_id: UUID | str, *, title: str, tier: str, actor: str,
                       expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.add_scope_item, actor=actor,
                            expected_version=expected_version, title=title, tier=tier)

    def remove_scope_item(self, project_id: UUID | str, *, item_id: str, actor: str,
                          expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.remove_scope_item, actor=actor,
                            expected_version=expected_version, item_id=item_id)

    def deliver_scope_item(self, project_id: UUID | str, *, item_id: str, actor: str,
                           expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.deliver_scope_item, actor=actor,
                            expected_version=expected_version, item_id=item_id)

    def plan_milestone(self, project_id: UUID | str, *, title: str, stage: str | Stage,
                       due_on: date | str, deliverables: list[str] | None = None,
                       scope_item_ids: list[str] | None = None, actor: str,
                       expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.plan_milestone, actor=actor,
                            expected_version=expected_version, title=title, stage=stage,
                            due_on=due_on, deliverables=deliverables, scope_item_ids=scope_item_ids)

    def reschedule_milestone(self, project_id: UUID | str, *, milestone_id: str,
                             due_on: date | str, reason: str, actor: str,
                             expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.reschedule_milestone, actor=actor,
                            expected_version=expected_version, milestone_id=milestone_id,
                            due_on=due_on, reason=reason)

    def complete_milestone(self, project_id: UUID | str, *, milestone_id: str,
                           completed_on: date | str | None = None, actor: str,
                           expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.complete_milestone, actor=actor,
                            expected_version=expected_version, milestone_id=milestone_id,
                            completed_on=completed_on)

    def add_criterion(self, project_id: UUID | str, *, milestone_id: str, text: str,
                      metric: dict[str, Any] | None = None, client_signoff: bool = False, actor: str,
                      expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.add_criterion, actor=actor,
                            expected_version=expected_version, milestone_id=milestone_id,
                            text=text, metric=metric, client_signoff=client_signoff)

    def verify_criterion(self, project_id: UUID | str, *, criterion_id: str, evidence: str,
                         measured: float | None = None, actor: str,
                         expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.verify_criterion, actor=actor,
                            expected_version=expected_version, criterion_id=criterion_id,
                            evidence=evidence, measured=measured)

    def reject_criterion(self, project_id: UUID | str, *, criterion_id: str, reason: str,
                         actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.reject_criterion, actor=actor,
                            expected_version=expected_version, criterion_id=criterion_id,
                            reason=reason)

    def waive_criterion(self, project_id: UUID | str, *, criterion_id: str, reason: str,
                        actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.waive_criterion, actor=actor,
                            expected_version=expected_version, criterion_id=criterion_id,
                            reason=reason)

    def raise_change_request(self, project_id: UUID | str, *, title: str, requested_by: str,
                             kind: str, tier: str, scope_item_id: str | None = None,
                             schedule_days: int = 0, cost: Decimal | int | float | str = 0,
                             actor: str, expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.raise_change_request, actor=actor,
                            expected_version=expected_version, title=title,
                            requested_by=requested_by, kind=kind, tier=tier,
                            scope_item_id=scope_item_id, schedule_days=schedule_days, cost=cost)

    def approve_change_request(self, project_id: UUID | str, *, change_request_id: str,
                               reason: str = "", actor: str,
                               expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.approve_change_request, actor=actor,
                            expected_version=expected_version,
                            change_request_id=change_request_id, reason=reason)

    def reject_change_request(self, project_id: UUID | str, *, change_request_id: str,
                              reason: str, actor: str,
                              expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.reject_change_request, actor=actor,
                            expected_version=expected_version,
                            change_request_id=change_request_id, reason=reason)

    def withdraw_change_request(self, project_id: UUID | str, *, change_request_id: str,
                                actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.withdraw_change_request, actor=actor,
                            expected_version=expected_version, change_request_id=change_request_id)

    def implement_change_request(self, project_id: UUID | str, *, change_request_id: str,
                                 actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.implement_change_request, actor=actor,
                            expected_version=expected_version, change_request_id=change_request_id)

    def plan_release(self, project_id: UUID | str, *, version: str, steps: list[int],
                     health: list[dict[str, Any]] | None = None, actor: str,
                     expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.plan_release, actor=actor,
                            expected_version=expected_version, version=version, steps=steps,
                            health=health)

    def start_release(self, project_id: UUID | str, *, release_id: str, actor: str,
                      expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.start_release, actor=actor,
                            expected_version=expected_version, release_id=release_id)

    def record_observation(self, project_id: UUID | str, *, release_id: str,
                           metrics: dict[str, Any], actor: str,
                           expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.record_observation, actor=actor,
                            expected_version=expected_version, release_id=release_id,
                            metrics=metrics)

    def advance_release(self, project_id: UUID | str, *, release_id: str, actor: str,
                        expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.advance_release, actor=actor,
                            expected_version=expected_version, release_id=release_id)

    def pause_release(self, project_id: UUID | str, *, release_id: str, reason: str, actor: str,
                      expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.pause_release, actor=actor,
                            expected_version=expected_version, release_id=release_id,
                            reason=reason)

    def resume_release(self, project_id: UUID | str, *, release_id: str, actor: str,
                       expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.resume_release, actor=actor,
                            expected_version=expected_version, release_id=release_id)

    def roll_back_release(self, project_id: UUID | str, *, release_id: str, reason: str,
                          actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.roll_back_release, actor=actor,
                            expected_version=expected_version, release_id=release_id,
                            reason=reason)

    def complete_release(self, project_id: UUID | str, *, release_id: str, actor: str,
                         expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.complete_release, actor=actor,
                            expected_version=expected_version, release_id=release_id)

    def define_funnel(self, project_id: UUID | str, *, steps: list[dict[str, Any]], actor: str,
                      expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.define_funnel, actor=actor,
                            expected_version=expected_version, steps=steps)

    def record_funnel_actuals(self, project_id: UUID | str, *, rates: list[Any], actor: str,
                              expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.record_funnel_actuals, actor=actor,
                            expected_version=expected_version, rates=rates)

    # ------------------------------------------------------------ corrections

    def set_project_currency(self, project_id: UUID | str, *, currency: str, actor: str,
                             expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.set_currency, actor=actor, expected_version=expected_version,
                            currency=currency)

    def rename_project(self, project_id: UUID | str, *, name: str, actor: str,
                       expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.rename, actor=actor, expected_version=expected_version, name=name)

    def retitle_milestone(self, project_id: UUID | str, *, milestone_id: str, title: str, actor: str,
                          expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.retitle_milestone, actor=actor,
                            expected_version=expected_version, milestone_id=milestone_id, title=title)

    def revise_deliverables(self, project_id: UUID | str, *, milestone_id: str, deliverables: list[str],
                            actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.revise_deliverables, actor=actor,
                            expected_version=expected_version, milestone_id=milestone_id,
                            deliverables=deliverables)

    def retitle_scope_item(self, project_id: UUID | str, *, item_id: str, title: str, actor: str,
                           expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.retitle_scope_item, actor=actor,
                            expected_version=expected_version, item_id=item_id, title=title)

    def reword_criterion(self, project_id: UUID | str, *, criterion_id: str, text: str, actor: str,
                         expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.reword_criterion, actor=actor,
                            expected_version=expected_version, criterion_id=criterion_id, text=text)

    # -------------------------------------- client participation (issue 14)

    def sign_off_criterion(self, project_id: UUID | str, *, criterion_id: str, verdict: str, comment: str = "",
                           actor: str, expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.sign_off_criterion, actor=actor,
                            expected_version=expected_version, criterion_id=criterion_id,
                            verdict=verdict, comment=comment)

    def propose_change(self, project_id: UUID | str, *, title: str, description: str = "", tier: str,
                       actor: str, expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.propose_change, actor=actor,
                            expected_version=expected_version, title=title, description=description, tier=tier)

    def accept_change_proposal(self, project_id: UUID | str, *, proposal_id: str, kind: str,
                               tier: str | None = None, scope_item_id: str | None = None,
                               schedule_days: int = 0, cost: Decimal | int | float | str = 0,
                               actor: str, expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.accept_change_proposal, actor=actor,
                            expected_version=expected_version, proposal_id=proposal_id, kind=kind, tier=tier,
                            scope_item_id=scope_item_id, schedule_days=schedule_days, cost=cost)

    def decline_change_proposal(self, project_id: UUID | str, *, proposal_id: str, reason: str, actor: str,
                                expected_version: int | None = None) -> Recorded[None]:
        return self.execute(project_id, Project.decline_change_proposal, actor=actor,
                            expected_version=expected_version, proposal_id=proposal_id, reason=reason)

    def add_comment(self, project_id: UUID | str, *, target_kind: str, target_id: str, text: str, actor: str,
                    expected_version: int | None = None) -> Recorded[str]:
        return self.execute(project_id, Project.add_comment, actor=actor, expected_version=expected_version,
                            target_kind=target_kind, target_id=target_id, text=text)


# The key of the command running in this thread (set by `DeliveryApplication.keyed`).
_command_key: contextvars.ContextVar[CommandKey | None] = contextvars.ContextVar("command_key", default=None)


def parse_project_id(value: UUID | str) -> UUID:
    """A project id from a UUID or its string form; anything else is an unknown project."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFound("project", value) from None
