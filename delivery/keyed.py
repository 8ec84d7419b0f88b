"""Keyed commands: a command sent under a key is recorded together with its key, in the events' own transaction.

A retry of a keyed command finds what the first one recorded (project, version,
store position, the id it made) and answers that, never a second set of events.
Because the key's row commits or rolls back with the events, a crash at any
moment leaves either nothing (the retry runs the command) or both (the retry
finds it): no "in progress" state survives a process.

The recorders below are the library's own with one more row written inside
`insert_events`; the factories at the end (PERSISTENCE_MODULE) give them to the
application. On PostgreSQL they also fail fast while the database is away.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore, SQLiteFactory
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

# A key is remembered this long (then a retry with it runs the command again).
KEEP_SECONDS = 24 * 3600
# The pool gives up re-connecting after this long and connects again when next asked: back within a
# moment of the database, not after the pool's exponential back-off (minutes).
RECONNECT_SECONDS = 3.0

# The library tries each statement 10 times, each waiting for a pooled connection: minutes while the
# database is down. Here a read is tried twice (a connection left stale by a restart, then a fresh one),
# then the caller answers 503. An insert is tried once: one whose commit was cut may have been recorded,
# and sent again blindly it could be recorded twice; a client's retry with its Idempotency-Key settles it.
_read_twice = retry((InterfaceError, OperationalError), max_attempts=2, wait=0.1)


def _unretried(method: Any) -> Any:
    """The library's method without its retry decorator."""
    return method.__wrapped__


@dataclass(frozen=True)
class CommandKey:
    """Who sent a command (`owner`, e.g. a token id), under which key (hashed) and what it asked (`fingerprint`)."""

    owner: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class KeyedSave:
    """What `insert_events` records beside the events of a keyed command (the kwarg `keyed`)."""

    key: CommandKey
    project_id: UUID
    value: str | None


@dataclass(frozen=True)
class KeptCommand:
    """A keyed command as it was recorded."""

    fingerprint: str
    project_id: UUID
    version: int
    position: int
    value: str | None


def _row(keyed: KeyedSave, stored_events: Sequence[StoredEvent], ids: Sequence[int] | None) -> dict[str, Any]:
    last = [e for e in stored_events if e.originator_id == keyed.project_id][-1]
    assert ids, "the store returned no positions for a keyed command"
    return {
        "owner": keyed.key.owner, "key": keyed.key.key, "fingerprint": keyed.key.fingerprint,
        "project_id": str(keyed.project_id), "version": last.originator_version, "position": ids[-1],
        "value": keyed.value, "recorded_at": time.time(),
    }


def _kept(row: Any) -> KeptCommand:
    return KeptCommand(row["fingerprint"], UUID(str(row["project_id"])), int(row["version"]),
                       int(row["position"]), row["value"])


# One SQLite file has one writer at a time. The library's pool lets its writers take turns on a lock; the
# views, tokens and notifications write through other connections of the same process. Registered here by
# file, the library's writer lock becomes every writer's turnstile (projections.store.make_engine takes it
# when a transaction begins): writers queue on it and are handed the file in turn, instead of meeting SQLite's
# busy handler, which sleeps 1, 2, 5, 10... ms between tries while the other writers keep taking the file.
_WRITER_LOCKS: dict[str, Any] = {}


def writer_lock(path: str) -> Any | None:
    """The lock the library's writers of the SQLite file `path` take in turn (None: no library in this process)."""
    return _WRITER_LOCKS.get(path)


@dataclass(eq=False)
class _Save:
    """One caller's events waiting to be written, then what became of them."""

    events: Sequence[StoredEvent]
    kwargs: dict[str, Any]
    turn: threading.Event = field(default_factory=threading.Event)
    done: bool = False
    ids: Sequence[int] | None = None
    error: BaseException | None = None

    def recorded(self, ids: Sequence[int] | None) -> None:
        self.ids, self.done = ids, True

    def failed(self, error: BaseException) -> None:
        self.error, self.done = error, True


class Together:
    """Group commit: saves that arrive while another transaction is being written go together in the next one.

    One caller at a time writes (the leader): every save waiting when it starts, in one transaction,
    so they share one BEGIN, one COMMIT (with its fsync, or its round trip) and one turn of the lock
    that serialises writers. It then hands the lead to the first save that arrived meanwhile. Each
    caller gets its own positions, or its own error: when the shared transaction is refused with an
    IntegrityError (rolled back whole), each of its saves is written again alone (`write_alone`), so a
    conflict fails only the save that conflicts. Any other error (a database gone away, a commit cut)
    is every save's own: one of them written again after a cut commit could be recorded twice.
    """

    def __init__(self, write_all: Callable[[list[_Save]], list[Sequence[int] | None]],
                 write_alone: Callable[[_Save], Sequence[int] | None]) -> None:
        self._write_all = write_all
        self._write_alone = write_alone
        self._lock = threading.Lock()
        self._waiting: list[_Save] = []
        self._leading = False
        self.saves = 0  # saves written, and the transactions they took (the shared ones, and any alone)
        self.transactions = 0

    def save(self, events: Sequence[StoredEvent], kwargs: dict[str, Any]) -> Sequence[int] | None:
        mine = _Save(events, kwargs)
        with self._lock:
            self._waiting.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            mine.turn.wait()  # set once written, or when handed the lead
        if not mine.done:
            self._lead()
        if mine.error is not None:
            raise mine.error
        return mine.ids

    def _lead(self) -> None:
        with self._lock:
            saves, self._waiting = self._waiting, []
        try:
            self._write(saves)
        except BaseException as exc:
            for save in saves:
                if not save.done:
                    save.failed(exc)
            raise
        finally:
            with self._lock:
                following = self._waiting[0] if self._waiting else None
                self._leading = following is not None
            for save in saves:
                save.turn.set()
            if following is not None:
                following.turn.set()

    def _write(self, saves: list[_Save]) -> None:
        self.saves += len(saves)
        self.transactions += 1
        try:
            written = self._write_all(saves)
        except IntegrityError as exc:
            if len(saves) == 1:
                saves[0].failed(exc)
                return
        except Exception as exc:
            for save in saves:
                save.failed(exc)
            return
        else:
            for save, ids in zip(saves, written, strict=True):
                save.recorded(ids)
            return
        for save in saves:
            self.transactions += 1
            try:
                save.recorded(self._write_alone(save))
            except Exception as exc:  # the caller raises it
                save.failed(exc)


class KeyedSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        self.keys_table_name = "command_keys"
        super().__init__(datastore, events_table_name)
        self.group_commit: Together | None = None
        if not datastore.pool.is_sqlite_memory_mode:
            _WRITER_LOCKS[datastore.pool.db_name] = datastore.pool._writer_lock
            self.group_commit = Together(self._insert_together, self._insert_alone)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, in a transaction shared with the saves that wait beside it (`Together`)."""
        if self.group_commit is None or not stored_events or kwargs.get("tracking") is not None:
            return super().insert_events(stored_events, **kwargs)
        return self.group_commit.save(stored_events, kwargs)

    def _insert_together(self, saves: list[_Save]) -> list[Sequence[int] | None]:
        with self.datastore.transaction(commit=True) as c:
            return [self._insert_events(c, s.events, **s.kwargs) for s in saves]

    def _insert_alone(self, save: _Save) -> Sequence[int] | None:
        return super().insert_events(save.events, **save.kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), (
            f"CREATE TABLE IF NOT EXISTS {self.keys_table_name} ("
            "owner TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, project_id TEXT NOT NULL, "
            "version INTEGER NOT NULL, position INTEGER NOT NULL, value TEXT, recorded_at REAL NOT NULL, "
            "PRIMARY KEY (owner, key))"
        )]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        keyed: KeyedSave | None = kwargs.get("keyed")
        if keyed is not None:
            # A second row for the same key fails here and rolls the events back with it.
            c.execute(
                f"INSERT INTO {self.keys_table_name} VALUES "
                "(:owner, :key, :fingerprint, :project_id, :version, :position, :value, :recorded_at)",
                _row(keyed, stored_events, ids),
            )
        return ids

    def find_command(self, key: CommandKey) -> KeptCommand | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT * FROM {self.keys_table_name} WHERE owner=? AND key=?", (key.owner, key.key))
            row = c.fetchone()
        return _kept(row) if row is not None else None

    def forget_commands(self, older_than: float = KEEP_SECONDS) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {self.keys_table_name} WHERE recorded_at < ?", (time.time() - older_than,))


class KeyedPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        assert not datastore.enable_db_functions, "keyed commands insert beside the events, not through a function"
        datastore.pool.reconnect_timeout = RECONNECT_SECONDS
        self.keys_table = SQL("{0}.{1}").format(Identifier(datastore.schema), Identifier("command_keys"))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0} ("
            "owner text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, project_id uuid NOT NULL, "
            "version bigint NOT NULL, position bigint NOT NULL, value text, recorded_at double precision NOT NULL, "
            "PRIMARY KEY (owner, key))"
        ).format(self.keys_table))
        self.group_commit = Together(self._insert_together, self._insert_alone)

    _insert_once = _unretried(PostgresApplicationRecorder.insert_events)
    select_events = _read_twice(_unretried(PostgresApplicationRecorder.select_events))
    select_notifications = _read_twice(_unretried(PostgresApplicationRecorder.select_notifications))
    max_notification_id = _read_twice(_unretried(PostgresApplicationRecorder.max_notification_id))

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert (tried once), in a transaction shared with the saves waiting beside it."""
        if not stored_events or kwargs.get("tracking") is not None:
            return self._insert_alone(_Save(stored_events, kwargs))
        return self.group_commit.save(stored_events, kwargs)

    def _insert_together(self, saves: list[_Save]) -> list[Sequence[int] | None]:
        # One INSERT of every save's events, in order; each save's key row goes in with its own positions.
        ids = self._insert_once([e for s in saves for e in s.events],
                                together=[(s.kwargs.get("keyed"), len(s.events)) for s in saves])
        assert ids is not None and len(ids) == sum(len(s.events) for s in saves)
        split, at = [], 0
        for save in saves:
            split.append(ids[at:at + len(save.events)])
            at += len(save.events)
        return split

    def _insert_alone(self, save: _Save) -> Sequence[int] | None:
        ids: Sequence[int] | None = self._insert_once(save.events, **save.kwargs)
        return ids

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        saves: list[tuple[KeyedSave | None, int]] = (kwargs.get("together")
                                                      or [(kwargs.get("keyed"), len(stored_events))])
        at = 0
        for keyed, count in saves:
            if keyed is not None:
                # In the same transaction as the events (committed or rolled back with them); a second
                # row for the same key is a unique violation, raised as IntegrityError at the commit.
                own = ids[at:at + count] if ids else ids
                curs.execute(SQL(
                    "INSERT INTO {0} VALUES (%(owner)s, %(key)s, %(fingerprint)s, %(project_id)s, %(version)s, "
                    "%(position)s, %(value)s, %(recorded_at)s)"
                ).format(self.keys_table), _row(keyed, stored_events[at:at + count], own))
            at += count
        return ids

    @_read_twice
    def find_command(self, key: CommandKey) -> KeptCommand | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT * FROM {0} WHERE owner = %s AND key = %s").format(self.keys_table),
                         (key.owner, key.key))
            row = curs.fetchone()
        return _kept(row) if row is not None else None

    def forget_commands(self, older_than: float = KEEP_SECONDS) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {0} WHERE recorded_at < %s").format(self.keys_table),
                         (time.time() - older_than,))


class FailFastPostgresRecorder(PostgresAggregateRecorder):
    """The snapshots' recorder, with the same bounded tries as the events'."""

    insert_events = _unretried(PostgresAggregateRecorder.insert_events)
    select_events = _read_twice(_unretried(PostgresAggregateRecorder.select_events))


class SQLiteStore(SQLiteFactory):
    application_recorder_class = KeyedSQLiteRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        if not pool.is_sqlite_memory_mode:
            # Keep every connection the pool may hand out (5 kept and 10 more by default): with more than
            # five commands at once, each connection past the fifth was closed when given back and opened
            # again for the next command (~1.5 ms each, for a sixth of the commands under load).
            pool.pool_size += pool.max_overflow
            pool.max_overflow = 0


class PostgresStore(PostgresFactory):
    aggregate_recorder_class = FailFastPostgresRecorder
    application_recorder_class = KeyedPostgresRecorder


KeyedRecorder = KeyedSQLiteRecorder | KeyedPostgresRecorder

PERSISTENCE_MODULES = {
    "sqlite": f"{__name__}:SQLiteStore",
    "postgresql": f"{__name__}:PostgresStore",
}


def follower_recorder(app: Any) -> Any:
    """A second recorder of a SQLite store, for reading notifications (see DeliveryApplication.follower_recorder)."""
    recorder = app.recorder
    if not isinstance(recorder, KeyedSQLiteRecorder) or recorder.datastore.pool.is_sqlite_memory_mode:
        return recorder
    pool = recorder.datastore.pool
    datastore = SQLiteDatastore(pool.db_name, lock_timeout=pool.lock_timeout, pool_size=2, max_overflow=2)
    return SQLiteApplicationRecorder(datastore, recorder.events_table_name)
