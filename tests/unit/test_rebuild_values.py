"""The rebuild writes SQLite rows itself: each value exactly as SQLAlchemy would have bound it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from projections.rebuild import sqlite_datetime


def test_datetimes_are_stored_as_sqlalchemy_stores_them() -> None:
    bound = DateTime(timezone=True)._cached_bind_processor(sqlite.dialect())
    assert bound is not None
    for value in (
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999), datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=8))), None,
    ):
        assert sqlite_datetime(value) == bound(value)


def test_the_folded_audit_and_rows_tuples_hold_what_sqlalchemy_would_store() -> None:
    """On SQLite the folding processes make the audit's project and time and the rows' due date what SQLite
    stores themselves: each value what the column's own type would bind, and read back as it was."""
    from types import SimpleNamespace
    from uuid import uuid4

    from sqlalchemy import Date

    from projections.rebuild import DUE_OPEN, sqlite_audit_row
    from projections.store import audit_row
    from projections.tables import audit_table, rows_table

    dialect = sqlite.dialect()
    date_bound = Date()._cached_bind_processor(dialect)
    assert date_bound is not None
    bound = [c.type._cached_bind_processor(dialect) or (lambda v: v) for c in audit_table.columns]
    read = [c.type._cached_result_processor(dialect, None) or (lambda v: v) for c in audit_table.columns]
    assert rows_table.columns[DUE_OPEN].name == "due_open"
    pid = uuid4()
    for at in (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
               datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
               datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=8)))):
        event = SimpleNamespace(originator_version=3, timestamp=at, actor="李娜")
        plain, stored = audit_row(event, 7, str(pid)), sqlite_audit_row(event, 7, pid)
        assert stored == tuple(bind(value) for bind, value in zip(bound, plain, strict=True))
        assert tuple(load(value) for load, value in zip(read, stored, strict=True)) == plain  # the same instant
        assert at.date().isoformat() == date_bound(at.date())
