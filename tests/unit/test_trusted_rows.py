"""Rows the reducers build without validation (`trusted`) are the rows validation builds: same JSON, equal."""

from __future__ import annotations

import warnings
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from delivery.application import DeliveryApplication
from delivery.scope import Tier
from delivery.settings import Database
from delivery.stages import Stage
from projections import reducers
from projections.models import ChangeLogEntry, ChecklistItem, CriterionDecision, MilestoneRecord, trusted
from projections.reducers import fold
from tests.golden.test_golden import GOLDEN, read_golden

AT = datetime(2026, 6, 3, 10, 34, 5, 120000, tzinfo=UTC)


def same_as_validated(row: BaseModel) -> None:
    """`row` as validation would have built it from the same values: equal, with the same JSON, and a JSON
    that reads back equal (no serializer warning on the way)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = row.model_dump_json()
        validated = type(row)(**row.__dict__)
        assert validated == row
        assert validated.model_dump_json() == text
        assert type(row).model_validate_json(text) == row


def test_a_trusted_row_is_the_validated_row() -> None:
    values: dict[str, Any] = {"id": "C1", "milestone_id": "M1", "text": "首页加载 < 2 s", "added_by": "pm",
                              "added_at": AT}
    built = trusted(ChecklistItem)(**values, history=[trusted(CriterionDecision)(action="added", by="pm", at=AT)])
    validated = ChecklistItem(**values, history=[CriterionDecision(action="added", by="pm", at=AT)])
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == set(ChecklistItem.model_fields)
    # Defaults made anew for each instance where pydantic makes them anew (lists), shared where immutable.
    other = trusted(ChecklistItem)(**values)
    assert other.history == [] and other.history is not trusted(ChecklistItem)(**values).history
    # Attributes set afterwards are stored as they are, as on a validated row (`ReadModel.__setattr__`).
    other.state = "verified"
    assert other.model_dump()["state"] == "verified"


def test_kindred_values_give_the_validated_json() -> None:
    """In a live process the events carry enums and ints where the rows declare str and float."""
    entry = dict(id="CR1", title="会员积分", requested_by="client", kind="add", tier=Tier.VALUE_ADDED,
                 schedule_days=3, cost=Decimal("1200.50"), status="raised", raised_in_stage=Stage.DEVELOPMENT,
                 raised_at=AT, raised_by="pm")
    same_as_validated(trusted(ChangeLogEntry)(**entry))
    same_as_validated(trusted(CriterionDecision)(action="verified", by="qa", at=AT, measured=2))
    same_as_validated(trusted(MilestoneRecord)(
        id="M1", stage=Stage.UAT, title="UAT", due_on=date(2026, 7, 1), original_due_on=date(2026, 7, 1),
        planned_at=AT, planned_by="pm"))


def test_a_required_field_left_out_is_refused() -> None:
    with pytest.raises(TypeError, match="milestone_id"):
        trusted(ChecklistItem)(id="C1", text="t", added_by="pm", added_at=AT)


def rows_of(state: Any) -> list[BaseModel]:
    """The header, every row, and every model nested in them."""
    found: list[BaseModel] = []
    stack: list[Any] = [state.h, *(row for _key, _seq, row in state.rows.items())]
    while stack:
        value = stack.pop()
        if isinstance(value, BaseModel):
            found.append(value)
            stack.extend(value.__dict__.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return found


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_every_row_folded_from_the_golden_events_is_the_validated_row(path: Any) -> None:
    app = DeliveryApplication(Database("sqlite:///:memory:"))
    try:
        by_project: dict[Any, list[Any]] = defaultdict(list)
        for stored in read_golden(path):
            by_project[stored.originator_id].append(app.mapper.to_domain_event(stored))
    finally:
        app.close()
    checked: set[str] = set()
    for events in by_project.values():
        for row in rows_of(fold(events)):
            same_as_validated(row)
            checked.add(type(row).__name__)
    # The golden events reach every row the reducers build trusted.
    made = {name for name, value in vars(reducers).items() if name.startswith("new_") and callable(value)}
    assert {"new_" + _snake(name) for name in checked} >= made


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
