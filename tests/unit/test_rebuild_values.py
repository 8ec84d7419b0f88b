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
    """On SQLite the folding processes make the audit's time and the rows' due date SQLite's text themselves."""
    from types import SimpleNamespace

    from sqlalchemy import Date

    from projections.rebuild import DUE_OPEN, sqlite_audit_row
    from projections.store import audit_row
    from projections.tables import rows_table

    date_bound = Date()._cached_bind_processor(sqlite.dialect())
    time_bound = DateTime(timezone=True)._cached_bind_processor(sqlite.dialect())
    assert date_bound is not None and time_bound is not None
    assert rows_table.columns[DUE_OPEN].name == "due_open"
    for at in (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
               datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=UTC)):
        event = SimpleNamespace(originator_version=3, timestamp=at, actor="李娜")
        plain, stored = audit_row(event, 7, "p"), sqlite_audit_row(event, 7, "p")
        assert stored == (*plain[:5], time_bound(plain[5]))
        assert at.date().isoformat() == date_bound(at.date())
