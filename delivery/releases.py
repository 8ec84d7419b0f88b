"""Gradual releases (灰度发布): a ramp of audience percentages with health checks per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from delivery.milestones import COMPARATORS


class ReleaseState(StrEnum):
    PLANNED = "planned"
    RAMPING = "ramping"
    PAUSED = "paused"
    ROLLED_BACK = "rolled_back"
    COMPLETED = "completed"


ACTIVE_STATES = frozenset({ReleaseState.RAMPING.value, ReleaseState.PAUSED.value})


@dataclass
class HealthCheck:
    """A release stays healthy while `metric comparator threshold` holds, e.g. error_rate <= 0.5."""

    metric: str
    comparator: str
    threshold: float

    def holds(self, value: float) -> bool:
        return COMPARATORS[self.comparator](value, self.threshold)

    def describe(self) -> str:
        return f"{self.metric} {self.comparator} {self.threshold:g}"


@dataclass
class Observation:
    percent: int
    # Which ramp it belongs to: a rollback starts a new ramp, and old observations no longer count.
    ramp: int
    metrics: dict[str, float]
    failures: list[str]
    actor: str

    @property
    def healthy(self) -> bool:
        return not self.failures


@dataclass
class Release:
    id: str
    version: str
    steps: list[int]
    checks: list[HealthCheck] = field(default_factory=list)
    state: str = ReleaseState.PLANNED.value
    step_index: int = -1
    observations: list[Observation] = field(default_factory=list)
    rollbacks: int = 0

    @property
    def percent(self) -> int:
        if self.state in (ReleaseState.PLANNED, ReleaseState.ROLLED_BACK) or self.step_index < 0:
            return 0
        return self.steps[self.step_index]

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def failures_for(self, metrics: dict[str, float]) -> list[str]:
        """The checks these metrics break; a check whose metric is missing is not judged."""
        return [
            f"{c.describe()} (observed {metrics[c.metric]:g})"
            for c in self.checks
            if c.metric in metrics and not c.holds(metrics[c.metric])
        ]

    def latest_observation_at_step(self) -> Observation | None:
        """The most recent observation at the current percent of the current ramp."""
        if not self.observations:
            return None
        last = self.observations[-1]
        if last.ramp != self.rollbacks or last.percent != self.percent:
            return None
        return last
