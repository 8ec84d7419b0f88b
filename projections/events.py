"""Small helpers every reducer uses to read a domain event."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent

from delivery.project import Project

ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
# Every kind of event a project records (`kind` of each), e.g. for the audit log's filter.
EVENT_TYPES = frozenset(
    name for name, value in vars(Project).items()
    if isinstance(value, type) and issubclass(value, DomainEvent) and name != "Event"
)


def kind(event: Any) -> str:
    """The event's class name within its aggregate, e.g. 'StageAdvanced'."""
    return type(event).__name__


def data(event: Any) -> dict[str, Any]:
    """The event's own attributes (without id, version and time), as JSON-ready values."""
    return {k: jsonable(v) for k, v in vars(event).items() if k not in ENVELOPE}


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
