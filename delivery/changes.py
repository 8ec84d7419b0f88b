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
