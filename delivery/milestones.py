"""Milestones and the acceptance criteria that decide them."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from delivery.messages import Message, msg

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


class CriterionState(StrEnum):
    OPEN = "open"
    VERIFIED = "verified"
    REJECTED = "rejected"
    WAIVED = "waived"


CLOSED_STATES = frozenset({CriterionState.VERIFIED.value, CriterionState.WAIVED.value})


@dataclass
class Metric:
    """A measurable criterion: `name comparator threshold unit`, e.g. p95_load_ms <= 1000 ms."""

    name: str
    comparator: str
    threshold: float
    unit: str = ""

    def met_by(self, measured: float) -> bool:
        return COMPARATORS[self.comparator](measured, self.threshold)

    def describe(self) -> str:
        return self.message().english()

    def message(self) -> Message:
        """The threshold as a message (`latency_ms <= 1500 ms`): the unit is spaced as the language spaces it."""
        if self.unit:
            return msg("metric_spec", metric=self.name, comparator=self.comparator, threshold=self.threshold,
                       unit=self.unit)
        return msg("metric_spec_bare", metric=self.name, comparator=self.comparator, threshold=self.threshold)


@dataclass
class Reschedule:
    from_on: date
    to_on: date
    reason: str
    actor: str


@dataclass
class Milestone:
    id: str
    stage: str
    title: str
    due_on: date
    original_due_on: date
    deliverables: list[str] = field(default_factory=list)
    reschedules: list[Reschedule] = field(default_factory=list)
    # The scope items this milestone delivers (none: not said).
    scope_item_ids: list[str] = field(default_factory=list)
    completed_on: date | None = None

    @property
    def done(self) -> bool:
        return self.completed_on is not None

    @property
    def days_late(self) -> int | None:
        """Days past the current due date it was completed, or None while open."""
        if self.completed_on is None:
            return None
        return max(0, (self.completed_on - self.due_on).days)


@dataclass
class Criterion:
    id: str
    milestone_id: str
    text: str
    metric: Metric | None = None
    state: str = CriterionState.OPEN.value
    evidence: str = ""
    measured: float | None = None
    reason: str = ""
    decided_by: str = ""
    # Only the client's sign-off verifies it (delivery/participation.py); False in snapshots from before.
    client_signoff: bool = False

    @property
    def closed(self) -> bool:
        return self.state in CLOSED_STATES


class MilestoneState(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    AT_RISK = "at_risk"
    LATE = "late"
    DONE = "done"


# An open milestone due within this many days is at risk.
AT_RISK_DAYS = 7


def milestone_status(
    *, due_on: date, completed_on: date | None, stage_index: int, current_stage_index: int,
    today: date,
) -> str:
    """Status on `today`: done, late (past due), at risk (due soon), in progress (its stage is
    the project's current one, or behind it) or planned (a later stage)."""
    if completed_on is not None:
        return MilestoneState.DONE.value
    if today > due_on:
        return MilestoneState.LATE.value
    if (due_on - today).days <= AT_RISK_DAYS:
        return MilestoneState.AT_RISK.value
    if stage_index <= current_stage_index:
        return MilestoneState.IN_PROGRESS.value
    return MilestoneState.PLANNED.value
