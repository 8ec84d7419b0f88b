"""The eight delivery stages, in order, with their English and Chinese labels."""

from __future__ import annotations

from enum import StrEnum

from delivery.errors import InvalidInput
from delivery.messages import msg


class Stage(StrEnum):
    RESEARCH = "research"
    SOLUTION = "solution"
    PLANNING = "planning"
    DEVELOPMENT = "development"
    INTEGRATION_TEST = "integration_test"
    UAT = "uat"
    TRIAL = "trial"
    LAUNCH = "launch"

    @property
    def order(self) -> int:
        return _ORDER.index(self)

    @property
    def label_en(self) -> str:
        return _LABELS[self][0]

    @property
    def label_zh(self) -> str:
        return _LABELS[self][1]

    @property
    def next(self) -> Stage | None:
        i = self.order + 1
        return _ORDER[i] if i < len(_ORDER) else None

    @property
    def previous(self) -> Stage | None:
        i = self.order - 1
        return _ORDER[i] if i >= 0 else None

    def label(self, language: str = "en") -> str:
        return self.label_zh if language.lower().startswith("zh") else self.label_en


_ORDER: tuple[Stage, ...] = tuple(Stage)

_LABELS: dict[Stage, tuple[str, str]] = {
    Stage.RESEARCH: ("Requirement research & communication", "需求调研与沟通"),
    Stage.SOLUTION: ("Product & solution confirmation", "产品与方案确认"),
    Stage.PLANNING: ("Milestones & detailed planning", "项目里程碑与详细计划"),
    Stage.DEVELOPMENT: ("Product configuration / development", "产品配置/开发"),
    Stage.INTEGRATION_TEST: ("Integration testing", "集成测试"),
    Stage.UAT: ("UAT testing", "UAT测试"),
    Stage.TRIAL: ("Training & trial operation", "培训与试运行"),
    Stage.LAUNCH: ("Official launch", "正式上线"),
}

STAGES: tuple[Stage, ...] = _ORDER
FIRST_STAGE = Stage.RESEARCH
# Scope items change freely before the project leaves this stage; leaving it freezes the baseline.
BASELINE_STAGE = Stage.SOLUTION
RELEASE_STAGES = frozenset({Stage.TRIAL, Stage.LAUNCH})
# Change requests raised from here on are "late in delivery" (a warning sign in the drift summary).
LATE_CHANGE_STAGE = Stage.DEVELOPMENT


def parse_stage(value: object, field: str = "stage") -> Stage:
    """Return the stage with this id, or raise InvalidInput naming the field and the known ids."""
    if isinstance(value, Stage):
        return value
    if isinstance(value, str):
        try:
            return Stage(value.strip().lower())
        except ValueError:
            pass
    raise InvalidInput(field, msg("rule_stage_id", known=[s.value for s in _ORDER], value=repr(value)))
