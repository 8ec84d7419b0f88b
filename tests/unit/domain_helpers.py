"""Given / when / then for the Project aggregate, without a database.

`Given` runs commands at known moments and keeps the events they record; its
`project()` replays those events into a fresh aggregate with nothing pending, so
a test's "when" sees only what its own command records. `refused` runs a command
that must fail and proves it left the stream and the state exactly as they were.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from delivery import clock, messages
from delivery.errors import DeliveryError
from delivery.project import Project
from delivery.stages import STAGES, Stage

PM = "pm@agency"
T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
D0: date = T0.date()
MEASURABLE = {"name": "p95_load_ms", "comparator": "<=", "threshold": 1000, "unit": "ms"}

Command = Callable[..., Any]


class Given:
    """A project's history built by running commands an hour apart from T0."""

    def __init__(self, *, name: str = "优购生鲜小程序", client: str = "优购生鲜", actor: str = PM) -> None:
        self.at = T0
        with clock.frozen_at(self.at):
            created = Project.create(name=name, client=client, description="fresh food ordering", actor=actor)
        self.id = created.id
        self.events: list[Any] = list(created.collect_events())
        # When each event was recorded (the clock the command ran under), index for index.
        self.recorded_at: list[datetime] = [self.at]

    def __call__(self, command: Command, *, actor: str = PM, **kwargs: Any) -> Any:
        """Run one command on the history so far and keep what it records."""
        project = self.project()
        self.at += timedelta(hours=1)
        with clock.frozen_at(self.at):
            result = command(project, actor=actor, **kwargs)
        new = project.collect_events()
        self.events.extend(new)
        self.recorded_at.extend(self.at for _ in new)
        return result

    def project(self) -> Project:
        return replay(self.events)

    # ------------------------------------------------------- common histories

    def scope(self, *items: tuple[str, str]) -> list[str]:
        """Add (title, tier) scope items; returns their ids."""
        return [self(Project.add_scope_item, title=title, tier=tier) for title, tier in items]

    def walk_to(self, stage: str | Stage) -> None:
        """Close the gate of every stage on the way (waive, complete) and advance to `stage`."""
        target = Stage(stage)
        while (current := self.project().stage) is not target:
            if target.order < current.order:
                raise AssertionError(f"walk_to only moves forward: {current} is past {target}")
            self.close_gate()
            self(Project.transition, to_stage=current.next)

    def close_gate(self) -> None:
        """Waive every open criterion and complete every open milestone of the current stage (a stage
        with no milestone gets its plan waived: no gate passes without a plan or a reason)."""
        self.waive_plan()
        p = self.project()
        for item in p.gate(p.stage):
            if item["kind"] == "criterion_open":
                self(Project.waive_criterion, criterion_id=item["criterion_id"], reason="agreed with client")
        for item in self.project().gate(p.stage):
            if item["kind"] == "milestone_open":
                self(Project.complete_milestone, milestone_id=item["milestone_id"])

    def waive_plan(self) -> Given:
        """Waive the current stage's plan if it has no milestone (its gate then needs none)."""
        p = self.project()
        if any(item["kind"] == "no_plan" for item in p.gate(p.stage)):
            self(Project.waive_stage_plan, stage=p.stage, reason="not planned in this test")
        return self

    def ramping_release(self, *, steps: Sequence[int] = (5, 50, 100), health: bool = True) -> str:
        """In trial or launch: a release planned and started (at its first step)."""
        checks = [{"metric": "error_rate", "comparator": "<=", "threshold": 1.0}] if health else []
        release_id: str = self(Project.plan_release, version=f"1.{len(self.events)}", steps=list(steps),
                               health=checks)
        self(Project.start_release, release_id=release_id)
        return release_id


def replay(events: Iterable[Any]) -> Project:
    """The aggregate as its events leave it (what a repository would load)."""
    project: Project | None = None
    for e in events:
        project = e.mutate(project)
    assert project is not None, "no events to replay"
    return project


def state(project: Project) -> dict[str, Any]:
    """Everything the aggregate knows, deep-copied so later changes cannot leak into it."""
    return copy.deepcopy({k: v for k, v in project.__dict__.items() if k != "_pending_events"})


def names(events: Iterable[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def when(project: Project, command: Command, *, actor: str = PM, at: datetime | None = None,
         **kwargs: Any) -> list[Any]:
    """Run a command that must be accepted; returns the events it recorded."""
    moment = at or T0 + timedelta(days=30)
    with clock.frozen_at(moment):
        command(project, actor=actor, **kwargs)
    return list(project.collect_events())


def refused(project: Project, command: Command, code: str, *, actor: str = PM, **kwargs: Any) -> DeliveryError:
    """Run a command that must be refused with `code`; prove it recorded and changed nothing."""
    version, before = project.version, state(project)
    with pytest.raises(DeliveryError) as caught:
        command(project, actor=actor, **kwargs)
    error = caught.value
    assert error.code == code, f"expected {code}, got {error.code}: {error}"
    assert project.collect_events() == []
    assert project.version == version
    assert state(project) == before
    # A sentence a person can act on, and the same shape the API sends.
    assert error.message.strip() and error.message.rstrip().endswith("."), error.message
    assert error.to_dict() == {"code": code, "message": error.message, "details": error.details}
    # ... said by a registered message, whose English is the message (the pages render the same code).
    assert spoken(error) == error.message
    return error


def spoken(error: DeliveryError) -> str:
    """The error's English rendered anew from its message code and parameters alone."""
    details = error.details
    said = messages.from_dict({"code": details["message_code"], "params": details["params"]})
    if error.code in ("invalid_input", "conflicting_input"):
        return messages.msg("field_rule", field=details["field"], rule=said.english()).english()
    return said.english()


def facts(error: DeliveryError) -> dict[str, Any]:
    """The error's details without its message code and parameters (the facts a client acts on)."""
    return {k: v for k, v in error.details.items() if k not in ("message_code", "params")}


def invalid(project: Project, command: Command, field: str, *, conflicting: bool = False,
            **kwargs: Any) -> DeliveryError:
    """A command refused as bad input naming `field` (`conflicting`: fine alone, refused for the project or day)."""
    error = refused(project, command, "conflicting_input" if conflicting else "invalid_input", **kwargs)
    assert error.details["field"] == field, error.details
    assert error.message.startswith(f"{field}: ")
    return error


def stage_after(stage: Stage, steps: int = 1) -> Stage:
    return STAGES[stage.order + steps]
