"""When a project counts as red, amber or green in the portfolio (thresholds live here, once)."""

from __future__ import annotations

from typing import Any

from delivery.messages import Message, msg
from delivery.milestones import AT_RISK_DAYS

# Drift (approved changes as a share of the baseline's items) that turns a project amber / red.
DRIFT_AMBER_PCT = 20.0
DRIFT_RED_PCT = 50.0
# An open milestone due within this many days makes the project amber.
DUE_SOON_DAYS = AT_RISK_DAYS

# A P80 launch forecast more than this many days after the planned launch makes the project amber.
LAUNCH_SLACK_DAYS = 7

RED, AMBER, GREEN = "red", "amber", "green"
# A project with no milestone planned has no dates to be on track against: not green, not a colour.
NO_PLAN = "no_plan"
HEALTHS = (RED, AMBER, GREEN, NO_PLAN)

# Each reason's parameters (its thresholds); its sentence is `health_<code>` in delivery/messages.py.
REASON_PARAMS: dict[str, dict[str, Any]] = {
    "drift_high": {"pct": DRIFT_RED_PCT},
    "due_soon": {"days": DUE_SOON_DAYS},
    "launch_forecast_late": {"days": LAUNCH_SLACK_DAYS},
    "drift_moderate": {"pct": DRIFT_AMBER_PCT},
}
REASON_CODES = (
    "no_plan", "late_milestone", "release_rolled_back", "drift_high", "rejected_criteria", "due_soon",
    "launch_forecast_late", "release_paused", "drift_moderate", "pending_changes", "on_track",
)


def reason(code: str) -> Message:
    """The health reason `code` as a message (its thresholds as parameters)."""
    return msg(f"health_{code}", **REASON_PARAMS.get(code, {}))


# Each reason as a message, and in English, by code, in the order they are checked (the first that holds
# is the one shown); made once, as the portfolio shows one per row.
REASON_MESSAGES = {code: reason(code) for code in REASON_CODES}
REASONS = {code: m.english() for code, m in REASON_MESSAGES.items()}

# (code, health) in the order checked.
RULES: tuple[tuple[str, str], ...] = (
    ("late_milestone", RED),
    ("release_rolled_back", RED),
    ("drift_high", RED),
    ("rejected_criteria", AMBER),
    ("due_soon", AMBER),
    ("launch_forecast_late", AMBER),
    ("release_paused", AMBER),
    ("drift_moderate", AMBER),
    ("pending_changes", AMBER),
)


def classify(
    *, days_to_earliest_due: int | None, release_state: str | None, drift_pct: float,
    rejected_criteria: int, pending_changes: int, launched: bool = False, milestones_planned: int = 1,
    launch_p80_days_late: int | None = None,
) -> tuple[str, str]:
    """(health, reason code) of a project; `days_to_earliest_due` is negative when overdue.

    `launch_p80_days_late`: the P80 launch forecast less the planned launch, in days (None: no forecast).
    """
    if launched:
        return GREEN, "on_track"
    if milestones_planned == 0:
        return NO_PLAN, "no_plan"
    holds = {
        "late_milestone": days_to_earliest_due is not None and days_to_earliest_due < 0,
        "release_rolled_back": release_state == "rolled_back",
        "drift_high": drift_pct > DRIFT_RED_PCT,
        "rejected_criteria": rejected_criteria > 0,
        "due_soon": days_to_earliest_due is not None and days_to_earliest_due <= DUE_SOON_DAYS,
        "launch_forecast_late": launch_p80_days_late is not None and launch_p80_days_late > LAUNCH_SLACK_DAYS,
        "release_paused": release_state == "paused",
        "drift_moderate": drift_pct > DRIFT_AMBER_PCT,
        "pending_changes": pending_changes > 0,
    }
    for code, health in RULES:
        if holds[code]:
            return health, code
    return GREEN, "on_track"
