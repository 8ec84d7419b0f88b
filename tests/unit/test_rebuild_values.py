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
