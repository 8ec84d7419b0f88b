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
from delivery.messages import msg

Form = Mapping[str, str]
# (application, project id, form, actor, the project version the form was rendered from) -> what was recorded
Command = Callable[[DeliveryApplication, str, Form, str, int | None], Recorded[Any]]


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
        raise InvalidInput(name, msg("rule_whole_number")) from None


def _float(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(name, msg("rule_number")) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(name, msg("rule_finite_number"))
    return value


def _ticked(form: Mapping[str, str], prefix: str) -> list[str]:
    """The ids of the ticked checkboxes named `<prefix><id>` (one field each: a form keeps one value per name)."""
    return [name[len(prefix):] for name, value in form.items() if name.startswith(prefix) and value == "on"]


def _lines(form: Form, name: str) -> list[str]:
    return [line.strip() for line in form.get(name, "").splitlines() if line.strip()]


_CHECK = re.compile(r"^\s*([^<>=\s]+)\s*(<=|>=|==|<|>)\s*(\S+)\s*$")
_METRIC = re.compile(r"^\s*([^=:\s]+)\s*[=:]\s*(\S+)\s*$")


def _health(form: Form) -> list[dict[str, Any]]:
    checks = []
    for i, line in enumerate(_lines(form, "health")):
        match = _CHECK.match(line)
        if match is None:
            raise InvalidInput(f"health[{i}]", msg("rule_check_line"))
        checks.append({"metric": match[1], "comparator": match[2], "threshold": _float(match[3], f"health[{i}]")})
    return checks


def _metrics(form: Form) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for i, line in enumerate(_lines(form, "metrics")):
        match = _METRIC.match(line)
        if match is None:
            raise InvalidInput(f"metrics[{i}]", msg("rule_metric_line"))
        metrics[match[1]] = _float(match[2], f"metrics[{i}]")
    if not metrics:
        raise InvalidInput("metrics", msg("rule_some_metric"))
    return metrics


def _steps(form: Form) -> list[int]:
    parts = [p for p in re.split(r"[\s,，]+", _text(form, "steps")) if p]
    if not parts:
        raise InvalidInput("steps", msg("rule_some_percentage"))
    out = []
    for i, part in enumerate(parts):
        try:
            out.append(int(part.rstrip("%")))
        except ValueError:
            raise InvalidInput(f"steps[{i}]", msg("rule_whole_percentage")) from None
    return out


_FUNNEL_STEP = re.compile(r"^\s*(.+?)\s*[=:：]\s*(\S+?)\s*%?\s*$")


def _funnel_steps(form: Form) -> list[dict[str, Any]]:
    """Lines like `Browse = 60` (the expected conversion of each step, in percent)."""
    steps = []
    for i, line in enumerate(_lines(form, "steps")):
        match = _FUNNEL_STEP.match(line)
        if match is None:
            raise InvalidInput(f"steps[{i}]", msg("rule_funnel_line"))
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


def _note(form: Form, name: str) -> str:
    """A criterion's evidence or reason: its own field, or the one `note` field its inline form shares."""
    return _text(form, name) or _text(form, "note")


def _measured(form: Form) -> float | None:
    raw = _text(form, "measured")
    return _float(raw, "measured") if raw else None


COMMANDS: dict[str, Command] = {
    "transition": lambda a, p, f, who, v: a.transition(
        p, to_stage=_text(f, "to_stage"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "complete_launch": lambda a, p, f, who, v: a.complete_launch(p, actor=who, expected_version=v),
    "waive_stage_plan": lambda a, p, f, who, v: a.waive_stage_plan(
        p, stage=_text(f, "stage"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "add_scope_item": lambda a, p, f, who, v: a.add_scope_item(
        p, title=_text(f, "title"), tier=_text(f, "tier"), actor=who, expected_version=v),
    "deliver_scope_item": lambda a, p, f, who, v: a.deliver_scope_item(
        p, item_id=_text(f, "item_id"), actor=who, expected_version=v),
    "remove_scope_item": lambda a, p, f, who, v: a.remove_scope_item(
        p, item_id=_text(f, "item_id"), actor=who, expected_version=v),
    "plan_milestone": lambda a, p, f, who, v: a.plan_milestone(
        p, title=_text(f, "title"), stage=_text(f, "stage"), due_on=_text(f, "due_on"),
        deliverables=_lines(f, "deliverables"), scope_item_ids=_ticked(f, "deliver_"), actor=who, expected_version=v),
    "reschedule_milestone": lambda a, p, f, who, v: a.reschedule_milestone(
        p, milestone_id=_text(f, "milestone_id"), due_on=_text(f, "due_on"), reason=_text(f, "reason"),
        actor=who, expected_version=v),
    "complete_milestone": lambda a, p, f, who, v: a.complete_milestone(
        p, milestone_id=_text(f, "milestone_id"), completed_on=_optional(f, "completed_on"),
        actor=who, expected_version=v),
    "add_criterion": lambda a, p, f, who, v: a.add_criterion(
        p, milestone_id=_text(f, "milestone_id"), text=_text(f, "text"), metric=_metric(f),
        client_signoff=_text(f, "client_signoff") == "on", actor=who, expected_version=v),
    "verify_criterion": lambda a, p, f, who, v: a.verify_criterion(
        p, criterion_id=_text(f, "criterion_id"), evidence=_note(f, "evidence"), measured=_measured(f), actor=who,
        expected_version=v),
    "reject_criterion": lambda a, p, f, who, v: a.reject_criterion(
        p, criterion_id=_text(f, "criterion_id"), reason=_note(f, "reason"), actor=who, expected_version=v),
    "waive_criterion": lambda a, p, f, who, v: a.waive_criterion(
        p, criterion_id=_text(f, "criterion_id"), reason=_note(f, "reason"), actor=who, expected_version=v),
    "raise_change_request": lambda a, p, f, who, v: a.raise_change_request(
        p, title=_text(f, "title"), requested_by=_text(f, "requested_by"), kind=_text(f, "kind"),
        tier=_text(f, "tier"), scope_item_id=_optional(f, "scope_item_id"),
        schedule_days=_int(f, "schedule_days", 0), cost=_text(f, "cost") or "0", actor=who, expected_version=v),
    "approve_change_request": lambda a, p, f, who, v: a.approve_change_request(
        p, change_request_id=_text(f, "change_request_id"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "reject_change_request": lambda a, p, f, who, v: a.reject_change_request(
        p, change_request_id=_text(f, "change_request_id"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "withdraw_change_request": lambda a, p, f, who, v: a.withdraw_change_request(
        p, change_request_id=_text(f, "change_request_id"), actor=who, expected_version=v),
    "implement_change_request": lambda a, p, f, who, v: a.implement_change_request(
        p, change_request_id=_text(f, "change_request_id"), actor=who, expected_version=v),
    "plan_release": lambda a, p, f, who, v: a.plan_release(
        p, version=_text(f, "version"), steps=_steps(f), health=_health(f), actor=who, expected_version=v),
    "start_release": lambda a, p, f, who, v: a.start_release(
        p, release_id=_text(f, "release_id"), actor=who, expected_version=v),
    "record_observation": lambda a, p, f, who, v: a.record_observation(
        p, release_id=_text(f, "release_id"), metrics=_metrics(f), actor=who, expected_version=v),
    "advance_release": lambda a, p, f, who, v: a.advance_release(
        p, release_id=_text(f, "release_id"), actor=who, expected_version=v),
    "pause_release": lambda a, p, f, who, v: a.pause_release(
        p, release_id=_text(f, "release_id"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "resume_release": lambda a, p, f, who, v: a.resume_release(
        p, release_id=_text(f, "release_id"), actor=who, expected_version=v),
    "roll_back_release": lambda a, p, f, who, v: a.roll_back_release(
        p, release_id=_text(f, "release_id"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "complete_release": lambda a, p, f, who, v: a.complete_release(
        p, release_id=_text(f, "release_id"), actor=who, expected_version=v),
    "define_funnel": lambda a, p, f, who, v: a.define_funnel(p, steps=_funnel_steps(f), actor=who, expected_version=v),
    "record_funnel_actuals": lambda a, p, f, who, v: a.record_funnel_actuals(
        p, rates=_rates(f), actor=who, expected_version=v),
    # Corrections (a new event each, keeping the text they replace).
    "rename_project": lambda a, p, f, who, v: a.rename_project(p, name=_text(f, "name"), actor=who, expected_version=v),
    "set_currency": lambda a, p, f, who, v: a.set_project_currency(
        p, currency=_text(f, "currency"), actor=who, expected_version=v),
    "retitle_milestone": lambda a, p, f, who, v: a.retitle_milestone(
        p, milestone_id=_text(f, "milestone_id"), title=_text(f, "title"), actor=who, expected_version=v),
    "revise_deliverables": lambda a, p, f, who, v: a.revise_deliverables(
        p, milestone_id=_text(f, "milestone_id"), deliverables=_lines(f, "deliverables"), actor=who,
        expected_version=v),
    "retitle_scope_item": lambda a, p, f, who, v: a.retitle_scope_item(
        p, item_id=_text(f, "item_id"), title=_text(f, "title"), actor=who, expected_version=v),
    "reword_criterion": lambda a, p, f, who, v: a.reword_criterion(
        p, criterion_id=_text(f, "criterion_id"), text=_text(f, "text"), actor=who, expected_version=v),
    # Client participation (issue 14): the pm's side.
    "accept_change_proposal": lambda a, p, f, who, v: a.accept_change_proposal(
        p, proposal_id=_text(f, "proposal_id"), kind=_text(f, "kind"), tier=_optional(f, "tier"),
        scope_item_id=_optional(f, "scope_item_id"), schedule_days=_int(f, "schedule_days", 0),
        cost=_text(f, "cost") or "0", actor=who, expected_version=v),
    "decline_change_proposal": lambda a, p, f, who, v: a.decline_change_proposal(
        p, proposal_id=_text(f, "proposal_id"), reason=_text(f, "reason"), actor=who, expected_version=v),
    "add_comment": lambda a, p, f, who, v: a.add_comment(
        p, target_kind=_text(f, "target").partition(":")[0], target_id=_text(f, "target").partition(":")[2],
        text=f.get("text", ""), actor=who, expected_version=v),
}
