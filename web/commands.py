"""The console's forms: each one names an application command and turns its fields into the arguments.

Only input parsing lives here (text to numbers, lines to lists); every rule is the
application's, and its refusal is shown beside the form.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from delivery.application import DeliveryApplication, Recorded
from delivery.errors import InvalidInput

Form = Mapping[str, str]
Command = Callable[[DeliveryApplication, str, Form, str], Recorded[Any]]


def _text(form: Form, name: str) -> str:
    return form.get(name, "").strip()


def _optional(form: Form, name: str) -> str | None:
    return _text(form, name) or None


def _int(form: Form, name: str, default: int | None = None) -> int:
    raw = _text(form, name)
    if not raw and default is not None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(name, "must be a whole number") from None


def _float(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(name, "must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(name, "must be a finite number")
    return value


def _lines(form: Form, name: str) -> list[str]:
    return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]


_CHECK = re.compile(r"^\s*([^<>=\s]+)\s*(<=|>=|==|<|>)\s*(\S+)\s*$")
_METRIC = re.compile(r"^\s*([^=:\s]+)\s*[=:]\s*(\S+)\s*$")


def _health(form: Form) -> list[dict[str, Any]]:
    checks = []
    for i, line in enumerate(_lines(form, "health")):
        match = _CHECK.match(line)
        if match is None:
            raise InvalidInput(f"health[{i}]", "must read like error_rate <= 1")
        checks.append({"metric": match[1], "comparator": match[2], "threshold": _float(match[3], f"health[{i}]")})
    return checks


def _metrics(form: Form) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for i, line in enumerate(_lines(form, "metrics")):
        match = _METRIC.match(line)
        if match is None:
            raise InvalidInput(f"metrics[{i}]", "must read like error_rate = 0.4")
        metrics[match[1]] = _float(match[2], f"metrics[{i}]")
    if not metrics:
        raise InvalidInput("metrics", "must name at least one metric")
    return metrics


def _steps(form: Form) -> list[int]:
    parts = [p for p in re.split(r"[\s,，]+", _text(form, "steps")) if p]
    if not parts:
        raise InvalidInput("steps", "must list at least one percentage")
    out = []
    for i, part in enumerate(parts):
        try:
            out.append(int(part.rstrip("%")))
        except ValueError:
            raise InvalidInput(f"steps[{i}]", "must be a whole percentage") from None
    return out


_FUNNEL_STEP = re.compile(r"^\s*(.+?)\s*[=:：]\s*(\S+?)\s*%?\s*$")


def _funnel_steps(form: Form) -> list[dict[str, Any]]:
    """Lines like `Browse = 60` (the expected conversion of each step, in percent)."""
    steps = []
    for i, line in enumerate(_lines(form, "steps")):
        match = _FUNNEL_STEP.match(line)
        if match is None:
            raise InvalidInput(f"steps[{i}]", "must read like Browse = 60 (a percentage)")
        steps.append({"name": match[1], "expected_rate": _float(match[2], f"steps[{i}].expected_rate")})
    return steps


def _rates(form: Form) -> list[float]:
    parts = [p for p in re.split(r"[\s,，]+", _text(form, "rates")) if p]
    return [_float(p.rstrip("%"), f"rates[{i}]") for i, p in enumerate(parts)]


def _metric(form: Form) -> dict[str, Any] | None:
    name = _text(form, "metric_name")
    if not name:
        return None
    return {"name": name, "comparator": _text(form, "comparator"),
            "threshold": _float(_text(form, "threshold"), "threshold"), "unit": _text(form, "unit")}


def _measured(form: Form) -> float | None:
    raw = _text(form, "measured")
    return _float(raw, "measured") if raw else None


COMMANDS: dict[str, Command] = {
    "transition": lambda a, p, f, who: a.transition(
        p, to_stage=_text(f, "to_stage"), reason=_text(f, "reason"), actor=who),
    "complete_launch": lambda a, p, f, who: a.complete_launch(p, actor=who),
    "waive_stage_plan": lambda a, p, f, who: a.waive_stage_plan(
        p, stage=_text(f, "stage"), reason=_text(f, "reason"), actor=who),
    "add_scope_item": lambda a, p, f, who: a.add_scope_item(
        p, title=_text(f, "title"), tier=_text(f, "tier"), actor=who),
    "deliver_scope_item": lambda a, p, f, who: a.deliver_scope_item(p, item_id=_text(f, "item_id"), actor=who),
    "remove_scope_item": lambda a, p, f, who: a.remove_scope_item(p, item_id=_text(f, "item_id"), actor=who),
    "plan_milestone": lambda a, p, f, who: a.plan_milestone(
        p, title=_text(f, "title"), stage=_text(f, "stage"), due_on=_text(f, "due_on"),
        deliverables=_lines(f, "deliverables"), actor=who),
    "reschedule_milestone": lambda a, p, f, who: a.reschedule_milestone(
        p, milestone_id=_text(f, "milestone_id"), due_on=_text(f, "due_on"), reason=_text(f, "reason"), actor=who),
    "complete_milestone": lambda a, p, f, who: a.complete_milestone(
        p, milestone_id=_text(f, "milestone_id"), completed_on=_optional(f, "completed_on"), actor=who),
    "add_criterion": lambda a, p, f, who: a.add_criterion(
        p, milestone_id=_text(f, "milestone_id"), text=_text(f, "text"), metric=_metric(f),
        client_signoff=_text(f, "client_signoff") == "on", actor=who),
    "verify_criterion": lambda a, p, f, who: a.verify_criterion(
        p, criterion_id=_text(f, "criterion_id"), evidence=_text(f, "evidence"), measured=_measured(f), actor=who),
    "reject_criterion": lambda a, p, f, who: a.reject_criterion(
        p, criterion_id=_text(f, "criterion_id"), reason=_text(f, "reason"), actor=who),
    "waive_criterion": lambda a, p, f, who: a.waive_criterion(
        p, criterion_id=_text(f, "criterion_id"), reason=_text(f, "reason"), actor=who),
    "raise_change_request": lambda a, p, f, who: a.raise_change_request(
        p, title=_text(f, "title"), requested_by=_text(f, "requested_by"), kind=_text(f, "kind"),
        tier=_text(f, "tier"), scope_item_id=_optional(f, "scope_item_id"),
        schedule_days=_int(f, "schedule_days", 0), cost=_text(f, "cost") or "0", actor=who),
    "approve_change_request": lambda a, p, f, who: a.approve_change_request(
        p, change_request_id=_text(f, "change_request_id"), reason=_text(f, "reason"), actor=who),
    "reject_change_request": lambda a, p, f, who: a.reject_change_request(
        p, change_request_id=_text(f, "change_request_id"), reason=_text(f, "reason"), actor=who),
    "withdraw_change_request": lambda a, p, f, who: a.withdraw_change_request(
        p, change_request_id=_text(f, "change_request_id"), actor=who),
    "implement_change_request": lambda a, p, f, who: a.implement_change_request(
        p, change_request_id=_text(f, "change_request_id"), actor=who),
    "plan_release": lambda a, p, f, who: a.plan_release(
        p, version=_text(f, "version"), steps=_steps(f), health=_health(f), actor=who),
    "start_release": lambda a, p, f, who: a.start_release(p, release_id=_text(f, "release_id"), actor=who),
    "record_observation": lambda a, p, f, who: a.record_observation(
        p, release_id=_text(f, "release_id"), metrics=_metrics(f), actor=who),
    "advance_release": lambda a, p, f, who: a.advance_release(p, release_id=_text(f, "release_id"), actor=who),
    "pause_release": lambda a, p, f, who: a.pause_release(
        p, release_id=_text(f, "release_id"), reason=_text(f, "reason"), actor=who),
    "resume_release": lambda a, p, f, who: a.resume_release(p, release_id=_text(f, "release_id"), actor=who),
    "roll_back_release": lambda a, p, f, who: a.roll_back_release(
        p, release_id=_text(f, "release_id"), reason=_text(f, "reason"), actor=who),
    "complete_release": lambda a, p, f, who: a.complete_release(p, release_id=_text(f, "release_id"), actor=who),
    "define_funnel": lambda a, p, f, who: a.define_funnel(p, steps=_funnel_steps(f), actor=who),
    "record_funnel_actuals": lambda a, p, f, who: a.record_funnel_actuals(p, rates=_rates(f), actor=who),
    # Client participation (issue 14): the pm's side.
    "accept_change_proposal": lambda a, p, f, who: a.accept_change_proposal(
        p, proposal_id=_text(f, "proposal_id"), kind=_text(f, "kind"), tier=_optional(f, "tier"),
        scope_item_id=_optional(f, "scope_item_id"), schedule_days=_int(f, "schedule_days", 0),
        cost=_text(f, "cost") or "0", actor=who),
    "decline_change_proposal": lambda a, p, f, who: a.decline_change_proposal(
        p, proposal_id=_text(f, "proposal_id"), reason=_text(f, "reason"), actor=who),
    "add_comment": lambda a, p, f, who: a.add_comment(
        p, target_kind=_text(f, "target").partition(":")[0], target_id=_text(f, "target").partition(":")[2],
        text=f.get("text", ""), actor=who),
}

# Forms whose submit buttons choose among several commands share one error slot.
FORM_OF: dict[str, str] = {
    "deliver_scope_item": "scope_item", "remove_scope_item": "scope_item",
    "verify_criterion": "decide_criterion", "reject_criterion": "decide_criterion",
    "waive_criterion": "decide_criterion",
    "approve_change_request": "decide_cr", "reject_change_request": "decide_cr",
    "withdraw_change_request": "decide_cr", "implement_change_request": "decide_cr",
    "start_release": "release_action", "advance_release": "release_action", "pause_release": "release_action",
    "resume_release": "release_action", "roll_back_release": "release_action",
    "complete_release": "release_action",
    "accept_change_proposal": "decide_proposal", "decline_change_proposal": "decide_proposal",
}


def form_of(command: str) -> str:
    return FORM_OF.get(command, command)
