"""Every sentence the domain and the views show a person, as data: a stable code and its English template.

The domain never builds a sentence: it names a message by code with raw parameters (ids, numbers, state
names such as `rolled_back`, stage ids) and the reader renders it in a language. The API keeps English
(`Message.english()`); the pages look the template up in their gettext catalog, `gettext(template)` or
`ngettext(singular, plural, params[count])`, then `.format(**params)` with each value rendered for the
language (see `Template`).

Templates are wrapped in no-op markers so `pybabel extract -k N_ -k NP_:1,2` finds them: `N_("...")` for
one form, `NP_("singular", "plural")` for a count. Nothing here imports a framework.

Parameter values, as the pages and `english()` render them:
- a value named in a template's `terms` is a vocabulary word (a state, a status, an action, a kind): its
  English is `TERMS[value]` (itself a msgid), a list of them reads "a or b";
- a `Message` (sent as `{"code", "params"}`) is rendered itself; a list of them is joined with "; ";
- any other list is joined with ", "; a float drops a trailing ".0"; everything else is `str(value)`.

An `invalid_input` refusal names its rule by code (the rule's template is a fragment such as "must not be
empty"); the whole sentence is `field_rule`: "{field}: {rule}.".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


def N_(text: str) -> str:
    """Mark `text` for extraction; it is looked up in a catalog where it is shown."""
    return text


def NP_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a singular/plural pair for extraction (`ngettext` picks the form by a count)."""
    return singular, plural


@dataclass(frozen=True)
class Template:
    """A message's English: one form, or a singular/plural pair chosen by the parameter `count`."""

    singular: str
    plural: str | None = None
    # The parameter whose number picks the plural form (plural templates only).
    count: str | None = None
    # Parameters whose values are vocabulary words (TERMS), translated one by one.
    terms: frozenset[str] = frozenset()

    @cached_property
    def names(self) -> frozenset[str]:
        """The placeholders of its forms (read once)."""
        forms = [self.singular] + ([self.plural] if self.plural else [])
        return frozenset(name for form in forms for _, name, _, _ in string.Formatter().parse(form) if name)

    def placeholders(self) -> set[str]:
        return set(self.names)

    def form(self, params: Mapping[str, Any]) -> str:
        if self.plural is None or self.count is None:
            return self.singular
        return self.singular if params[self.count] == 1 else self.plural


def one(text: str, *terms: str) -> Template:
    return Template(text, terms=frozenset(terms))


def plural(forms: tuple[str, str], count: str, *terms: str) -> Template:
    return Template(forms[0], forms[1], count, frozenset(terms))


# Vocabulary words that arrive as raw values in parameters (a state, a status, an action, a kind of object).
TERMS: dict[str, str] = {
    # criterion states
    "open": N_("open"), "verified": N_("verified"), "rejected": N_("rejected"), "waived": N_("waived"),
    # release states
    "planned": N_("planned"), "ramping": N_("ramping"), "paused": N_("paused"),
    "completed": N_("completed"), "rolled_back": N_("rolled back"),
    # change request and proposal statuses, scope item statuses
    "raised": N_("raised"), "approved": N_("approved"), "implemented": N_("implemented"),
    "withdrawn": N_("withdrawn"), "proposed": N_("proposed"), "accepted": N_("accepted"),
    "declined": N_("declined"), "delivered": N_("delivered"), "removed": N_("removed"),
    # actions (what a refused command would have done)
    "started": N_("started"), "observed": N_("observed"), "advanced": N_("advanced"),
    "resumed": N_("resumed"), "signed_off": N_("signed off"),
    # change kinds
    "add": N_("add"), "modify": N_("modify"), "remove": N_("remove"),
    # kinds of object (not_found)
    "project": N_("project"), "milestone": N_("milestone"), "criterion": N_("criterion"),
    "acceptance criterion": N_("acceptance criterion"),
    "change request": N_("change request"), "change proposal": N_("change proposal"),
    "release": N_("release"), "scope item": N_("scope item"), "template": N_("template"),
    "stage template": N_("stage template"), "token": N_("token"), "receipt": N_("receipt"),
    "page": N_("page"), "share link": N_("share link"), "subscription": N_("subscription"),
    "delivery": N_("delivery"), "comment": N_("comment"),
    # milestone statuses, scope tiers, health colours (views' raw values)
    "in_progress": N_("in progress"), "at_risk": N_("at risk"), "late": N_("late"), "done": N_("done"),
    "core": N_("core"), "touchpoint": N_("touchpoint"), "value_added": N_("value-added"),
    "red": N_("red"), "amber": N_("amber"), "green": N_("green"), "no_plan": N_("no plan yet"),
    # roles (forbidden_*)
    "pm": N_("pm"), "client": N_("client"), "auditor": N_("auditor"),
}

STATE_TERMS = ("state", "allowed", "action")

MESSAGES: dict[str, Template] = {
    # ------------------------------------------------------------------ any refusal
    "field_rule": one(N_("{field}: {rule}.")),
    "not_found": one(N_("No {kind} with id {id}."), "kind"),
    "template_not_found": one(N_("No stage template named {name}; known: {known}.")),
    "unknown_cursor": one(N_(
        "No page starts at this cursor: send a next_cursor returned by an earlier page of the same order.")),
    "version_mismatch": one(N_("The project is at version {actual}, not {expected}: reload it and try again.")),
    "version_conflict": one(N_(
        "Another change to this project was saved at the same moment; load it again and retry.")),
    "gate_not_met": one(N_("Stage {stage} cannot be left yet: {unmet}.")),
    "project_closed": one(N_("The project has completed its launch; its delivery record is closed.")),
    # ------------------------------------------------------------------ rules of one value (invalid_input)
    "rule_key_reused": one(N_("was already used for a different request; use a new key for a new request")),
    "rule_string": one(N_("must be a string")),
    "rule_not_empty": one(N_("must not be empty")),
    "rule_max_chars": plural(NP_("must be at most {max} character", "must be at most {max} characters"), "max"),
    "rule_control_chars": one(N_("must not contain control characters or lone surrogates (found {char})")),
    "rule_number": one(N_("must be a number")),
    "rule_finite_number": one(N_("must be a finite number")),
    "rule_whole_number": one(N_("must be a whole number")),
    "rule_between": one(N_("must be between {low} and {high}")),
    "rule_whole_between": one(N_("must be a whole number between {low} and {high}")),
    "rule_amount": one(N_("must be an amount")),
    "rule_amount_range": one(N_("must be a finite amount below 10^12")),
    "rule_two_decimals": one(N_("must have at most two decimal places")),
    "rule_iso_date": one(N_("must be a date in ISO 8601 form (YYYY-MM-DD)")),
    "rule_iso_moment": one(N_("must be an ISO 8601 date or time, e.g. 2026-11-01T12:00:00Z")),
    "rule_one_of": one(N_("must be one of {options}")),
    "rule_string_list": one(N_("must be a list of strings")),
    "rule_max_entries": plural(NP_("must have at most {max} entry", "must have at most {max} entries"), "max"),
    "rule_true_false": one(N_("must be true or false")),
    "rule_stage_id": one(N_("must be one of the stage ids ({known}), got {value}")),
    "rule_must_differ": one(N_("must differ from the current {field}")),
    "rule_due_must_differ": one(N_("must differ from the current due date {due_on}")),
    "rule_not_future": one(N_("must not be in the future")),
    "rule_reason_to_move_back": one(N_("is required to move back to an earlier stage")),
    "rule_start_needs_template": one(N_("is the start of a template's plan: name a template too")),
    "rule_template_name": one(N_("must be the name of a stage template")),
    "rule_currency": one(N_("must be an ISO 4217 currency code such as CNY, USD or EUR, got {value}")),
    "rule_max_scope_items": plural(NP_(
        "must be a list of at most {max} scope item id", "must be a list of at most {max} scope item ids"), "max"),
    "rule_named_twice": one(N_("scope item {item_id} is named twice")),
    "rule_signoff_measurable": one(N_(
        "cannot be asked of a measurable criterion: its measured value verifies it")),
    "rule_measured_only_measurable": one(N_("only a measurable criterion takes a measured value")),
    "rule_measured_required": one(N_("is required: the criterion is {metric}")),
    "rule_scope_item_empty_for_add": one(N_("must be empty when the change adds a new item")),
    "rule_scope_item_required": one(N_("is required for a change of kind {kind}"), "kind"),
    "rule_metrics_required": one(N_("must name at least one metric and its value")),
    "rule_funnel_steps": one(N_("must be a list of {min} to {max} funnel steps")),
    "rule_funnel_step_object": one(N_("must be an object with name and expected_rate")),
    "rule_percentage_above_zero": one(N_("must be a percentage above 0 and at most 100")),
    "rule_percentage": one(N_("must be a percentage from 0 to 100")),
    "rule_fractions": one(N_(
        "must be percentages from 0 to 100 (30 means 30%): every {rate_field} is at most 1, "
        "which reads as fractions; write 30, not 0.3")),
    "rule_rates_per_step": plural(NP_(
        "must list {count} rate, one per funnel step", "must list {count} rates, one per funnel step"), "count"),
    "rule_metric_object": one(N_("must be an object with name, comparator, threshold and unit")),
    "rule_ramp_steps": one(N_("must be a list of 1 to {max} percentages")),
    "rule_ramp_rises": one(N_("must rise strictly, e.g. 1, 5, 20, 50, 100")),
    "rule_ramp_ends": one(N_("must end at 100")),
    "rule_max_checks": plural(NP_("must be a list of at most {max} check", "must be a list of at most {max} checks"),
                              "max"),
    "rule_check_object": one(N_("must be an object with metric, comparator and threshold")),
    "rule_database_url": one(N_("must start with sqlite:/// or postgresql://")),
    "rule_sqlite_path": one(N_("sqlite URLs need a file path: sqlite:///path")),
    "rule_whole_digits": one(N_("must be a whole number of at most 9 digits")),
    "rule_demo_command": one(N_("must be a Project command or one of {macros}, got {name}")),
    "rule_event_type": one(N_("must name an event type such as StageAdvanced; {value} is not one")),
    "rule_view_per_project": one(N_("this view is per project: name one")),
    "rule_project_id": one(N_("must be a project id (a UUID)")),
    "rule_client_projects_only": one(N_(
        "are named only for client tokens (pm and auditor see every project)")),
    "rule_if_match": one(N_('must be a project version as given in an ETag, e.g. "7"')),
    "rule_json": one(N_("is not valid JSON")),
    "rule_role_names_projects": one(N_("must be a project id")),
    "rule_share_link": one(N_("must name an active share link")),
    # ------------------------------------------------------------------ the pages' own form fields (web/)
    "rule_form_version": one(N_("must be the project version the form was rendered from")),
    "rule_check_line": one(N_("must read like error_rate <= 1 (a metric, a comparison, a threshold)")),
    "rule_metric_line": one(N_("must read like error_rate = 0.4 (a metric and its value)")),
    "rule_funnel_line": one(N_("must read like Browse = 60 (a step and its expected percentage)")),
    "rule_some_percentage": one(N_("must list at least one percentage")),
    "rule_whole_percentage": one(N_("must be a whole percentage")),
    "rule_some_metric": one(N_("must name at least one metric")),
    # ------------------------------------------------------------------ notification subscriptions (notify/)
    "rule_some_kind": one(N_("must name at least one kind")),
    "rule_email": one(N_("must be one email address (name@example.com)")),
    "rule_http_url": one(N_("must be an http:// or https:// URL of at most {max} characters")),
    "rule_language": one(N_("must be en or zh-CN")),
    "rule_secret_robots_only": one(N_("is given only for DingTalk and Feishu robots (a webhook's is made for it)")),
    # ------------------------------------------------------------------ the API's edge (api/, projections/)
    "sign_in": one(N_("Sign in: send `Authorization: Bearer <token>` with a valid token.")),
    "token_unknown": one(N_("The token is unknown or revoked.")),
    "forbidden_write": one(N_("A token of role {role} may not record anything (only a pm writes)."), "role"),
    "forbidden_audit": one(N_("A token of role {role} may not read the audit log."), "role"),
    "forbidden_as_of": one(N_(
        "A token of role {role} may not view a project as of a past moment (pm and auditor only)."), "role"),
    "forbidden_participation": one(N_(
        "A token of role {role} may not sign off or propose a change (only the project's client does)."), "role"),
    "forbidden_comment": one(N_("A token of role {role} may not comment (only the pm and the client do)."), "role"),
    "payload_too_large": plural(NP_("The request body is larger than {limit} byte.",
                                    "The request body is larger than {limit} bytes."), "limit"),
    "database_unavailable": one(N_(
        "The database is not answering right now; try again in a moment. A write may or may not have "
        "been recorded: retry it with the same Idempotency-Key and it is recorded once.")),
    "views_stuck": one(N_(
        "The views cannot apply the event at position {stuck_at}; an operator must look at the store.")),
    "views_behind": one(N_(
        "The views have not reached position {position} after {seconds} s; "
        "check that `delivery worker` or an API process is applying them.")),
    "receipt_not_linked": one(N_(
        "The event at v{version} is not linked into the hash chain yet; try again in a moment.")),
    "no_such_endpoint": one(N_("No such endpoint.")),
    # ------------------------------------------------------------------ stages and plans
    "stage_already_current": one(N_("The project is already in {stage}.")),
    "stage_skip": one(N_("Stages move one at a time: from {from} the next is {next}, not {to}.")),
    "launch_wrong_stage": one(N_("Only a project in launch can complete its launch; it is in {stage}.")),
    "template_needs_new_project": one(N_("A template plans a new project: this one already has milestones.")),
    "waiver_stage_behind": one(N_(
        "Stage {stage} is behind the project (now in {current}): "
        "only the current or a later stage's plan can be waived.")),
    "waiver_stage_planned": one(N_(
        "Stage {stage} has milestones planned: its gate waits for them, not for a waiver.")),
    "waiver_exists": one(N_("The plan of stage {stage} is already waived.")),
    "gate_milestone_open": one(N_("milestone {milestone_id} '{title}' is not completed")),
    "gate_criterion_open": one(N_("criterion {criterion_id} '{text}' on {milestone_id} is {state}"), "state"),
    "gate_no_plan": one(N_("no plan for this stage: plan a milestone for it, or record a skip with a reason")),
    "gate_release_not_completed": one(N_("no release has completed its ramp to 100%")),
    # ------------------------------------------------------------------ scope
    "scope_item_already_removed": one(N_("Scope item {item_id} is already removed.")),
    "scope_item_not_open": one(N_("Scope item {item_id} is {status}; only an open item can be delivered."),
                               "status"),
    "scope_frozen": one(N_(
        "The scope baseline froze when the project left solution: "
        "raise a change request to add, modify or remove an item.")),
    "scope_title_taken": one(N_("Scope item {item_id} already has the title '{title}'.")),
    "scope_item_removed": one(N_("Scope item {item_id} is removed.")),
    "scope_item_in_baseline": one(N_(
        "Scope item {item_id} is in the baseline frozen when the project left solution: "
        "raise a change request to modify it.")),
    # ------------------------------------------------------------------ milestones and criteria
    "milestone_stage_behind": one(N_(
        "Stage {stage} is behind the project (now in {current}): "
        "plan milestones for the current or a later stage.")),
    "milestone_cannot_deliver_removed": one(N_("Scope item {item_id} was removed; a milestone cannot deliver it.")),
    "milestone_completed_no_reschedule": one(N_("Milestone {milestone_id} is completed; it cannot be rescheduled.")),
    "milestone_already_completed": one(N_("Milestone {milestone_id} is already completed.")),
    "milestone_stage_not_reached": one(N_(
        "Milestone {milestone_id} belongs to {stage}, which the project has not reached.")),
    "milestone_criteria_open": one(N_(
        "Milestone {milestone_id} has acceptance criteria not yet verified or waived: {criteria}.")),
    "criterion_with_state": one(N_("{criterion_id} ({state})"), "state"),
    "milestone_completed_no_criteria": one(N_("Milestone {milestone_id} is completed; add no more criteria to it.")),
    "milestone_completed_deliverables": one(N_(
        "Milestone {milestone_id} is completed: its deliverables are what was delivered.")),
    "metric_spec": one(N_("{metric} {comparator} {threshold} {unit}")),
    "metric_spec_bare": one(N_("{metric} {comparator} {threshold}")),
    "threshold_not_met": one(N_(
        "Measured {measured} does not meet {metric}: "
        "fix and measure again, or reject or waive the criterion with a reason.")),
    "criterion_milestone_completed": one(N_("Criterion {criterion_id} belongs to completed milestone {milestone_id}.")),
    "criterion_state_refuses": one(N_(
        "Criterion {criterion_id} is {state}; only a criterion that is {allowed} can be {action}."), *STATE_TERMS),
    "criterion_verified_no_reword": one(N_(
        "Criterion {criterion_id} is verified: its text is what was signed off. "
        "Reject it first (with a reason) to reword it.")),
    "criterion_not_signoff": one(N_(
        "Criterion {criterion_id} does not ask for the client's sign-off: the pm verifies it.")),
    "criterion_signoff_only": one(N_(
        "Criterion {criterion_id} is closed by the client's sign-off only; it cannot be {action} by the pm. "
        "Ask the client to sign it off in the portal (or reject it with a reason)."), "action"),
    # ------------------------------------------------------------------ change requests and proposals
    "baseline_not_frozen": one(N_(
        "The scope is still open in research and solution: change the scope items directly; "
        "change requests start once the baseline freezes.")),
    "change_item_removed_since": one(N_(
        "Scope item {item_id} was removed after this request was raised; reject or withdraw the request.")),
    "change_request_not_approved": one(N_(
        "Change request {change_request_id} is {status}; only an approved one can be implemented."), "status"),
    "change_request_state_refuses": one(N_(
        "Change request {change_request_id} is {status}; only a raised one can be {action}."), "status", "action"),
    "proposal_state_refuses": one(N_(
        "Change proposal {proposal_id} is {status}; only a proposed one can be {action}."), "status", "action"),
    # ------------------------------------------------------------------ releases
    "release_duplicate": one(N_("A release {version} is already planned.")),
    "release_in_progress": one(N_(
        "Release {release_id} ({version}) is still {state}: complete or roll it back first."), "state"),
    "release_last_step": one(N_("Release {release_id} is at {percent}, its last step: complete it instead.")),
    "release_not_at_full": one(N_(
        "Release {release_id} is at {percent}: advance it to 100% before completing it.")),
    "release_state_refuses": one(N_(
        "Release {release_id} is {state}; only a release that is {allowed} can be {action}."), *STATE_TERMS),
    "release_wrong_stage": one(N_("Releases run in trial or launch; the project is in {stage}.")),
    "release_no_observation": one(N_(
        "Release {release_id} has no health observation at {percent} yet: record one first.")),
    "release_unmeasured": one(N_(
        "Release {release_id}'s latest observation at {percent} does not measure {unmeasured}: "
        "record an observation with every checked metric.")),
    "release_unhealthy": one(N_(
        "Release {release_id} is unhealthy at {percent}: {failures}. "
        "Fix it and record a healthy observation, or roll back.")),
    # ------------------------------------------------------------------ funnel
    "funnel_after_baseline": one(N_(
        "The funnel is written in research and solution, before the baseline freezes.")),
    "funnel_missing": one(N_("No funnel was defined for this project.")),
    "funnel_actual_wrong_stage": one(N_(
        "Actual conversion is recorded after launch; the project is in {stage}.")),
    "funnel_biggest_shortfall": one(N_("biggest shortfall: {step}")),
    # ------------------------------------------------------------------ change log warnings (drift summary)
    "warning_no_funnel": one(N_(
        "the project left research without a conversion funnel: write the business loop first")),
    "warning_late_requests": plural(NP_(
        "{count} change request raised after development began: {ids}",
        "{count} change requests raised after development began: {ids}"), "count"),
    "warning_value_added_before_core": one(N_(
        "value-added work approved while core-path items were still open: {ids}")),
    "warning_touchpoint_before_core": one(N_(
        "touchpoint work approved while core-path items were still open: {ids}")),
    "warning_raised_before_core": one(N_(
        "touchpoint or value-added work requested while core-path items are still open: {ids}")),
    "warning_scheduled_before_core": one(N_(
        "touchpoint or value-added work scheduled while core-path items are still open: {ids}")),
    "warning_drift": one(N_("scope drift {drift_pct} of the baseline")),
    # Short flags beside one change request, milestone or portfolio row.
    "flag_late": one(N_("⚠ late")),
    "flag_value_added_before_core": one(N_("⚠ value-added before core")),
    "flag_touchpoint_before_core": one(N_("⚠ touchpoint before core")),
    "flag_raised_before_core": one(N_("⚠ requested before core")),
    "flag_scheduled_before_core": one(N_("⚠ scheduled before core")),
    "flag_core_warnings": plural(NP_("⚠ {count} core-path warning", "⚠ {count} core-path warnings"), "count"),
    # ------------------------------------------------------------------ health reasons (delivery.health)
    "health_no_plan": one(N_("no plan yet: no milestone is planned")),
    "health_late_milestone": one(N_("a milestone is past its due date")),
    "health_release_rolled_back": one(N_("the latest release was rolled back")),
    "health_drift_high": one(N_("scope drift above {pct} of the baseline")),
    "health_rejected_criteria": one(N_("acceptance criteria were rejected")),
    "health_due_soon": plural(NP_("a milestone is due within {days} day", "a milestone is due within {days} days"),
                              "days"),
    "health_launch_forecast_late": plural(NP_(
        "the P80 launch forecast is more than {days} day after the planned launch",
        "the P80 launch forecast is more than {days} days after the planned launch"), "days"),
    "health_release_paused": one(N_("a release is paused")),
    "health_drift_moderate": one(N_("scope drift above {pct} of the baseline")),
    "health_pending_changes": one(N_("change requests await a decision")),
    "health_on_track": one(N_("on track")),
    # ------------------------------------------------------------------ forecast basis
    "forecast_basis_own": plural(NP_(
        "from {own} completed milestone of this project", "from {own} completed milestones of this project"), "own"),
    "forecast_basis_reference": plural(NP_(
        "and {reference} of {projects} similar project", "and {reference} of {projects} similar projects"),
        "projects"),
    "forecast_basis_prior": one(N_(
        "no milestone has been completed here or in similar projects yet: the dates rest on the prior alone")),
}


@dataclass(frozen=True)
class Message:
    """One message to show: its code in MESSAGES and the raw values of its placeholders."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def template(self) -> Template:
        return MESSAGES[self.code]

    def english(self) -> str:
        """The English text (the API's `message`)."""
        t = self.template
        return t.form(self.params).format(**{k: _english_value(k, v, t) for k, v in self.params.items()})

    def to_dict(self) -> dict[str, Any]:
        """`{"code", "params"}` with nested messages as dicts too (JSON as it is)."""
        return {"code": self.code, "params": {k: _plain(v) for k, v in self.params.items()}}

    def plain_params(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.params.items()}


def msg(code: str, **params: Any) -> Message:
    """The message `code` with these parameters; an unknown code or a missing placeholder fails at once."""
    template = MESSAGES[code]
    # A rule's `{field}` is the field InvalidInput names (it adds it to the parameters).
    missing = template.names - params.keys()
    if missing and code.startswith("rule_"):
        missing -= {"field"}
    if missing:
        raise KeyError(f"message {code} needs {', '.join(sorted(missing))}")
    return Message(code, params)


def from_dict(data: Mapping[str, Any]) -> Message:
    """A message sent as `{"code", "params"}` (nested messages as dicts) back as a Message."""
    return Message(str(data["code"]), {k: _revive(v) for k, v in dict(data.get("params") or {}).items()})


def is_percentage(name: str) -> bool:
    """A parameter holding a percentage (0-100) by its name: `percent`, `pct`, `*_pct`; shown with its sign.

    Templates write `{pct}` with no sign after it: a `%` before a letter reads as an old-style format code
    to gettext tools, and each language places the sign its own way.
    """
    return name in ("percent", "pct") or name.endswith("_pct")


def _english_value(name: str, value: Any, template: Template) -> str:
    if isinstance(value, Message):
        return value.english()
    if is_percentage(name) and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:g}%"
    if name in template.terms:
        words = value if isinstance(value, list | tuple) else [value]
        return " or ".join(TERMS.get(str(w), str(w)) for w in words)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return ", ".join(value)
        if all(isinstance(v, Message) for v in value):
            return "; ".join(v.english() for v in value)
        return ", ".join(_english_value("", v, template) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "none"
    return str(value)


_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Message):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [v if type(v) in _SCALARS else _plain(v) for v in value]
    return value


def _revive(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == {"code", "params"} and value.get("code") in MESSAGES:
        return from_dict(value)
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value
