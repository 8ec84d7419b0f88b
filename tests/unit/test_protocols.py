"""The kept protocol member lists answer isinstance exactly as Python's own walk does."""

from __future__ import annotations

import typing
from typing import Protocol, runtime_checkable

from eventsourcing.domain import CanMutateProtocol, CollectEventsProtocol, DomainEventProtocol

from delivery.application import DeliveryApplication  # noqa: F401  (installs the kept lists)
from delivery.project import Project
from delivery.protocols import keep_protocol_members


@runtime_checkable
class HasName(Protocol):
    name: str


@runtime_checkable
class Closes(Protocol):
    def close(self) -> None: ...


class Named:
    def __init__(self) -> None:
        self.name = "x"


class Closing:
    def close(self) -> None:
        pass


def test_isinstance_answers_the_same_with_the_kept_lists() -> None:
    keep_protocol_members()  # a second call changes nothing
    project = Project.create(name="P", client="C", description="", actor="pm")
    event = project.pending_events[0]
    assert isinstance(event, DomainEventProtocol)
    assert isinstance(event, CanMutateProtocol)
    assert not isinstance(project, DomainEventProtocol)
    assert isinstance(project, CollectEventsProtocol)
    assert isinstance(Named(), HasName) and not isinstance(Closing(), HasName)
    assert isinstance(Closing(), Closes) and not isinstance(Named(), Closes)
    members = typing._get_protocol_attrs  # type: ignore[attr-defined]
    assert members(HasName) == frozenset({"name"}) and members(Closes) == frozenset({"close"})
    assert members(HasName) is members(HasName)  # kept, not walked again
