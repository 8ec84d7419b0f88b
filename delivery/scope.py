"""Scope items: the features the client bought, each in a tier."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    # The seeds' order of work: core path first, touchpoints second, value-added last.
    CORE = "core"
    TOUCHPOINT = "touchpoint"
    VALUE_ADDED = "value_added"


class ItemStatus(StrEnum):
    OPEN = "open"
    DELIVERED = "delivered"
    REMOVED = "removed"


TIERS = tuple(t.value for t in Tier)


@dataclass
class ScopeItem:
    id: str
    title: str
    tier: str
    status: str = ItemStatus.OPEN.value
    # The change request that added it, when it came after the baseline.
    change_request_id: str | None = None

    @property
    def active(self) -> bool:
        return self.status != ItemStatus.REMOVED


@dataclass
class BaselineItem:
    """A scope item as it stood when the baseline froze."""

    id: str
    title: str
    tier: str
