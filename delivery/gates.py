"""The stage gate as a pure function, shared by the aggregate and the read side's checklist."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from delivery.milestones import CLOSED_STATES
from delivery.stages import Stage


class MilestoneLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def done(self) -> bool: ...


class CriterionLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def milestone_id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def state(self) -> str: ...


def unmet(
    stage: Stage,
    milestones: Iterable[MilestoneLike],
    criteria: Iterable[CriterionLike],
    release_completed: bool,
    plan_waived: bool,
) -> list[dict[str, Any]]:
    """What still keeps a project from leaving `stage` (empty when the gate holds).

    The stage has a plan (at least one milestone, or a skip recorded with a reason:
    no gate passes silently), every milestone of the stage is completed, every
    criterion on them is verified or waived, and the launch stage also needs a
    release that completed its ramp.
    """
    by_milestone: dict[str, list[CriterionLike]] = {}
    for c in criteria:
        by_milestone.setdefault(c.milestone_id, []).append(c)
    result: list[dict[str, Any]] = []
    planned = False
    for m in milestones:
        if m.stage != stage:
            continue
        planned = True
        if not m.done:
            result.append({
                "kind": "milestone_open", "milestone_id": m.id,
                "message": f"milestone {m.id} '{m.title}' is not completed",
            })
        for c in by_milestone.get(m.id, []):
            if c.state not in CLOSED_STATES:
                result.append({
                    "kind": "criterion_open", "criterion_id": c.id, "milestone_id": m.id,
                    "state": c.state,
                    "message": f"criterion {c.id} '{c.text}' on {m.id} is {c.state}",
                })
    if not planned and not plan_waived:
        result.append({
            "kind": "no_plan", "stage": stage.value,
            "message": "no plan for this stage: plan a milestone for it, or record a skip with a reason",
        })
    if stage is Stage.LAUNCH and not release_completed:
        result.append({
            "kind": "release_not_completed",
            "message": "no release has completed its ramp to 100%",
        })
    return result
