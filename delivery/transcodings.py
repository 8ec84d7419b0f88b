"""How values beyond JSON's own (dates, the domain's dataclasses) are stored in events and snapshots."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding

from delivery.changes import ChangeRequest
from delivery.funnel import FunnelStep
from delivery.milestones import Criterion, Metric, Milestone, Reschedule
from delivery.participation import Proposal
from delivery.releases import HealthCheck, Observation, Release
from delivery.scope import BaselineItem, ScopeItem


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DataclassAsDict(Transcoding):
    """One shallow dict per dataclass, so nested values go through their own transcodings."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = cls.__name__
        # Asked once: `dataclasses.fields` per object was most of the cost of encoding a project's snapshot.
        self.fields = tuple(f.name for f in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.fields}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


# Names here are stored in snapshots: renaming a class needs its old name kept as `name`.
SNAPSHOT_TYPES: tuple[type[Any], ...] = (
    ScopeItem, BaselineItem, Milestone, Reschedule, Metric, Criterion,
    ChangeRequest, Release, HealthCheck, Observation, FunnelStep, Proposal,
)


def register_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    for cls in SNAPSHOT_TYPES:
        transcoder.register(DataclassAsDict(cls))
