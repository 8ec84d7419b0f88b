"""One process at a time does a job on PostgreSQL: it holds the job's advisory lock on a connection of its own.

The views' applier and the notification planner each keep one `Leadership`. The lock lives as long as
the connection: when the holder dies or loses the database, the lock is released and the next process
that tries takes it over. On SQLite there is one serving process, which always leads.
"""

from __future__ import annotations

import contextlib
from typing import Any

from delivery.settings import Database


def pg_connect(database: Database) -> Any:
    """An autocommit psycopg connection to the store's database (for locks, LISTEN and NOTIFY)."""
    import psycopg

    return psycopg.connect(database.url.split("?", 1)[0], autocommit=True, connect_timeout=5)


class Leadership:
    """Holds the advisory lock of one job (`purpose`) in one store, on PostgreSQL; always held on SQLite."""

    def __init__(self, database: Database, purpose: str) -> None:
        self.database = database
        self.purpose = purpose
        self.postgres = database.kind == "postgresql"
        self.conn: Any = None
        self.leading = not self.postgres

    def take(self) -> bool:
        """True when this process leads (it just took the lock, or held it already); False when another does."""
        if not self.postgres or (self.conn is not None and self.leading):
            return True
        if self.conn is None:
            self.conn = pg_connect(self.database)
        key = self.database.lock_key(self.purpose)
        self.leading = bool(self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0])
        return self.leading

    def release(self) -> None:
        """Close the lock's connection (the database releases the lock with it)."""
        if self.conn is not None:
            with contextlib.suppress(Exception):  # already gone with the database
                self.conn.close()
            self.conn = None
        self.leading = not self.postgres
