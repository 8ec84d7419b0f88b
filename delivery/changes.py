"""Change requests: the only way scope moves once the baseline is frozen."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class ChangeKind(StrEnum):
    ADD = "add"
    MODIFY = "modify"
    REMOVE = "remove"


class ChangeStatus(StrEnum):
    RAISED = "raised"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    IMPLEMENTED = "implemented"


KINDS = tuple(k.value for k in ChangeKind)


@dataclass
class ChangeRequest:
    id: str
    title: str
    requested_by: str
    kind: str
    tier: str
    scope_item_id: str | None
    schedule_days: int
    cost: Decimal
    raised_in_stage: str
    status: str = ChangeStatus.RAISED.value
    decision_reason: str = ""
    decided_by: str = ""

    @property
    def pending(self) -> bool:
        return self.status == ChangeStatus.RAISED


def drift_pct(baseline_size: int, approved_changes: int) -> float:
    """Scope drift: approved changes as a percentage of the baseline's items (one decimal).

    With no baseline yet, any approved change is all drift.
    """
    if baseline_size:
        return round(100.0 * approved_changes / baseline_size, 1)
    return 100.0 if approved_changes else 0.0
