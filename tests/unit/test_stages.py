"""The eight stages: order, labels, neighbours and parsing."""

from __future__ import annotations

import pytest

from delivery.errors import InvalidInput
from delivery.stages import STAGES, Stage, parse_stage


def test_eight_stages_in_delivery_order() -> None:
    assert [s.value for s in STAGES] == [
        "research", "solution", "planning", "development",
        "integration_test", "uat", "trial", "launch",
    ]


def test_every_stage_has_english_and_chinese_labels() -> None:
    assert Stage.UAT.label("en") == "UAT testing"
    assert Stage.LAUNCH.label("zh-CN") == "正式上线"
    assert all(s.label_en and s.label_zh for s in STAGES)


def test_next_and_previous_walk_the_order() -> None:
    assert Stage.RESEARCH.previous is None
    assert Stage.RESEARCH.next is Stage.SOLUTION
    assert Stage.TRIAL.next is Stage.LAUNCH
    assert Stage.LAUNCH.next is None
    assert all(s.next is None or s.next.previous is s for s in STAGES)


def test_parse_accepts_ids_case_insensitively() -> None:
    assert parse_stage(" UAT ") is Stage.UAT
    assert parse_stage(Stage.TRIAL) is Stage.TRIAL


@pytest.mark.parametrize("bad", ["qa", "", None, 3])
def test_parse_refuses_unknown_ids_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_stage(bad, field="to_stage")
    assert caught.value.field == "to_stage"
    assert "research, solution" in caught.value.rule
