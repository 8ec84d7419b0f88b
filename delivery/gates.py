"""The stage gate as a pure function, shared by the aggregate and the read side's checklist."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from delivery.messages import Message, msg
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
            result.append(_item({"kind": "milestone_open", "milestone_id": m.id},
                                msg("gate_milestone_open", milestone_id=m.id, title=m.title)))
        for c in by_milestone.get(m.id, []):
            if c.state not in CLOSED_STATES:
                result.append(_item(
                    {"kind": "criterion_open", "criterion_id": c.id, "milestone_id": m.id, "state": c.state},
                    msg("gate_criterion_open", criterion_id=c.id, text=c.text, milestone_id=m.id, state=c.state),
                ))
    if not planned and not plan_waived:
        result.append(_item({"kind": "no_plan", "stage": stage.value}, msg("gate_no_plan")))
    if stage is Stage.LAUNCH and not release_completed:
        result.append(_item({"kind": "release_not_completed"}, msg("gate_release_not_completed")))
    return result


def _item(facts: dict[str, Any], message: Message) -> dict[str, Any]:
    """An unmet condition: its facts, its English `message`, and the same as `message_code` + `params`."""
    return {**facts, "message": message.english(), "message_code": message.code, "params": dict(message.params)}
