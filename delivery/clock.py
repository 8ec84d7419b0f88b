"""The one place the domain reads the time, so tests and the demo can set it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime

_fixed: ContextVar[datetime | None] = ContextVar("delivery_clock", default=None)


def now() -> datetime:
    """The current time, timezone-aware UTC (or the time set by `frozen_at`)."""
    fixed = _fixed.get()
    return fixed if fixed is not None else datetime.now(tz=UTC)


def today() -> date:
    return now().date()


def as_utc(moment: datetime) -> datetime:
    """A time as aware UTC; a naive one (SQLite hands them back, ISO text without offset) is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date or time as aware UTC (UTC when it has no offset); ValueError otherwise."""
    return as_utc(datetime.fromisoformat(text.strip()))


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    """Record events as if it were `moment` (tests, and the demo's simulated history)."""
    if moment.tzinfo is None:
        raise ValueError("frozen_at needs a timezone-aware datetime")
    token = _fixed.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _fixed.reset(token)
