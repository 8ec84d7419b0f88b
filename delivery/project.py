"""The Project aggregate: one event stream holds every fact about one client project.

Each public method checks its rule against the whole project first and raises a
DeliveryError before anything is recorded; only then does it trigger one event,
whose decorated body just applies the change. Replaying the events therefore
never re-runs a rule, and a refused command leaves the stream untouched.
"""

from __future__ import annotations

import itertools
import weakref
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate, event

from delivery import clock, gates
from delivery import currency as money
from delivery import validation as v
from delivery.changes import KINDS, ChangeKind, ChangeRequest, ChangeStatus
from delivery.currency import DEFAULT_CURRENCY
from delivery.errors import (
    BaselineNotFrozen,
    ClientSignOffRequired,
    ConflictingInput,
    CriteriaOpen,
    Duplicate,
    GateNotMet,
    InvalidInput,
    InvalidState,
    NotASignOff,
    NotFound,
    ProjectClosed,
    ReleaseInProgress,
    ReleaseUnhealthy,
    SameStage,
    ScopeFrozen,
    StageSkip,
    ThresholdNotMet,
    WrongStage,
)
from delivery.funnel import MAX_STEPS, MIN_STEPS, FunnelStep
from delivery.messages import msg
from delivery.milestones import COMPARATORS, Criterion, CriterionState, Metric, Milestone, Reschedule
from delivery.participation import (
    COMMENT_MAX,
    COMMENT_TARGETS,
    PROPOSAL_DESCRIPTION_MAX,
    VERDICTS,
    Proposal,
    ProposalStatus,
)
from delivery.releases import HealthCheck, Observation, Release, ReleaseState
from delivery.scope import TIERS, BaselineItem, ItemStatus, ScopeItem
from delivery.stages import FIRST_STAGE, RELEASE_STAGES, Stage, parse_stage

MAX_RAMP_STEPS = 10
MAX_ITEMS_PER_MILESTONE = 50
MAX_CHECKS = 10
MAX_METRICS = 20


# Each live project's active scope titles (Project._active_titles) by the project's id(); an entry goes
# with its project.
_TITLE_INDEXES: dict[int, tuple[weakref.ref[Any], dict[str, str]]] = {}


class Project(Aggregate):
    """A client project moving through the eight stages."""

    # The stage template its plan came from (a class default: snapshots taken before templates lack it).
    template: str | None = None
    # The currency of its costs (a class default: projects created before currencies are CNY).
    currency: str = DEFAULT_CURRENCY

    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Created(Event, Aggregate.Created):
        name: str
        client: str
        description: str
        actor: str

    @classmethod
    def create(cls, *, name: str, client: str, description: str = "", actor: str) -> Project:
        return cls(
            name=v.text("name", name),
            client=v.text("client", client, max_len=v.NAME_MAX),
            description=v.optional_note("description", description),
            actor=v.text("actor", actor, max_len=v.NAME_MAX),
        )

    def __init__(self, name: str, client: str, description: str, actor: str) -> None:
        self.name = name
        self.client = client
        self.description = description
        self.created_by = actor
        self.stage_id: str = FIRST_STAGE.value
        self.launched = False
        self.scope: dict[str, ScopeItem] = {}
        self.baseline: list[BaselineItem] | None = None
        self.milestones: dict[str, Milestone] = {}
        self.criteria: dict[str, Criterion] = {}
        self.change_requests: dict[str, ChangeRequest] = {}
        self.releases: dict[str, Release] = {}
        self.funnel: list[FunnelStep] = []
        self.plan_waivers: dict[str, str] = {}

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        """As the library's, but a project's events are recorded in time order: an event is never stamped
        before its predecessor, even when the clock stepped back (so *as of* a moment is the project up to
        its last event recorded by then: one index lookup, see projections.store.as_of_cut)."""
        if kwargs.get("timestamp") is None:
            now = event_class.create_timestamp()
            kwargs["timestamp"] = max(now, self.modified_on)
        super().trigger_event(event_class, **kwargs)

    # ----------------------------------------------------------------- reading

    @property
    def stage(self) -> Stage:
        return Stage(self.stage_id)

    @property
    def baseline_frozen(self) -> bool:
        return self.baseline is not None

    def scope_item(self, item_id: str) -> ScopeItem:
        return _get(self.scope, item_id, "scope item")

    def milestone(self, milestone_id: str) -> Milestone:
        return _get(self.milestones, milestone_id, "milestone")

    def criterion(self, criterion_id: str) -> Criterion:
        return _get(self.criteria, criterion_id, "acceptance criterion")

    def change_request(self, change_request_id: str) -> ChangeRequest:
        return _get(self.change_requests, change_request_id, "change request")

    def release(self, release_id: str) -> Release:
        return _get(self.releases, release_id, "release")

    def criteria_of(self, milestone_id: str) -> list[Criterion]:
        return [c for c in self.criteria.values() if c.milestone_id == milestone_id]

    def gate(self, stage: Stage) -> list[dict[str, Any]]:
        """What still keeps the project from leaving `stage` (empty when the gate holds)."""
        return gates.unmet(
            stage, self.milestones.values(), self.criteria.values(),
            release_completed=any(r.state == ReleaseState.COMPLETED for r in self.releases.values()),
            plan_waived=stage.value in self.waived_plans,
        )

    @property
    def waived_plans(self) -> dict[str, str]:
        """The stages whose plan the pm waived, with the reason (read so, as snapshots from before lack it)."""
        waived: dict[str, str] = vars(self).get("plan_waivers", {})
        return waived

    def active_release(self) -> Release | None:
        return next((r for r in self.releases.values() if r.active), None)

    # ----------------------------------------------------------------- stages

    def transition(self, *, to_stage: str | Stage, reason: str = "", actor: str) -> None:
        """Move to the next stage (gated) or back to an earlier one (with a reason)."""
        self._check_open()
        target = parse_stage(to_stage, "to_stage")
        current = self.stage
        note = v.optional_note("reason", reason)
        if target is current:
            raise SameStage(msg("stage_already_current", stage=current.value), {"stage": current.value})
        if target.order > current.order + 1:
            nxt = current.next
            moves = {"from": current.value, "to": target.value, "next": nxt.value if nxt else None}
            raise StageSkip(msg("stage_skip", **moves), moves)
        if target.order < current.order:
            if not note:
                raise ConflictingInput("reason", msg("rule_reason_to_move_back"))
            self._stage_returned(from_stage=current.value, to_stage=target.value, reason=note, actor=actor)
            return
        unmet = self.gate(current)
        if unmet:
            raise GateNotMet(current.value, unmet)
        if current is Stage.SOLUTION and self.baseline is None:
            items = [
                {"id": i.id, "title": i.title, "tier": i.tier}
                for i in self.scope.values() if i.active
            ]
            self._baseline_frozen(items=items, actor=actor)
        self._stage_advanced(from_stage=current.value, to_stage=target.value, reason=note, actor=actor)

    def complete_launch(self, *, actor: str) -> None:
        """Close the delivery: the launch stage's gate holds, including a completed release."""
        self._check_open()
        if self.stage is not Stage.LAUNCH:
            raise WrongStage(msg("launch_wrong_stage", stage=self.stage.value), {"stage": self.stage.value})
        unmet = self.gate(Stage.LAUNCH)
        if unmet:
            raise GateNotMet(Stage.LAUNCH.value, unmet)
        self._launch_completed(actor=actor)

    def apply_template(self, *, template: str, start_on: date | str, language: str, actor: str) -> None:
        """Note that the plan which follows comes from a stage template (its milestones are recorded next)."""
        self._check_open()
        name = v.text("template", template, max_len=64)
        start = v.day("start_on", start_on)
        lang = v.choice("language", language, ("en", "zh"))
        if self.milestones:
            raise InvalidState(msg("template_needs_new_project"), {"milestones": len(self.milestones)})
        self._template_applied(template=name, start_on=start, language=lang, actor=actor)

    def waive_stage_plan(self, *, stage: str | Stage, reason: str, actor: str) -> None:
        """Record that a stage is passed without a plan, and why (its gate then needs no milestone)."""
        self._check_open()
        target = parse_stage(stage)
        why = v.note("reason", reason)
        if target.order < self.stage.order:
            where = {"stage": target.value, "current": self.stage.value}
            raise WrongStage(msg("waiver_stage_behind", **where), where)
        if any(m.stage == target for m in self.milestones.values()):
            raise InvalidState(msg("waiver_stage_planned", stage=target.value), {"stage": target.value})
        if target.value in self.waived_plans:
            raise InvalidState(msg("waiver_exists", stage=target.value), {"stage": target.value})
        self._stage_plan_waived(stage=target.value, reason=why, actor=actor)

    @event("StagePlanWaived")
    def _stage_plan_waived(self, stage: str, reason: str, actor: str) -> None:
        vars(self).setdefault("plan_waivers", {})[stage] = reason

    @event("TemplateApplied")
    def _template_applied(self, template: str, start_on: date, language: str, actor: str) -> None:
        self.template = template

    @event("StageAdvanced")
    def _stage_advanced(self, from_stage: str, to_stage: str, reason: str, actor: str) -> None:
        self.stage_id = to_stage

    @event("StageReturned")
    def _stage_returned(self, from_stage: str, to_stage: str, reason: str, actor: str) -> None:
        self.stage_id = to_stage

    @event("BaselineFrozen")
    def _baseline_frozen(self, items: list[dict[str, str]], actor: str) -> None:
        self.baseline = [BaselineItem(**i) for i in items]

    @event("LaunchCompleted")
    def _launch_completed(self, actor: str) -> None:
        self.launched = True

    # ------------------------------------------------------------------ scope

    def add_scope_item(self, *, title: str, tier: str, actor: str) -> str:
        self._check_open()
        self._check_scope_open()
        title = v.text("title", title)
        tier = v.choice("tier", tier, TIERS)
        self._check_unique_title(title)
        item_id = f"S{len(self.scope) + 1}"
        self._scope_item_added(item_id=item_id, title=title, tier=tier, actor=actor)
        return item_id

    def remove_scope_item(self, *, item_id: str, actor: str) -> None:
        self._check_open()
        self._check_scope_open()
        item = self.scope_item(item_id)
        if not item.active:
            raise InvalidState(msg("scope_item_already_removed", item_id=item_id), {"item_id": item_id})
        self._scope_item_removed(item_id=item_id, actor=actor)

    def deliver_scope_item(self, *, item_id: str, actor: str) -> None:
        """Mark a feature as built: core items delivered is how the core path counts as done."""
        self._check_open()
        item = self.scope_item(item_id)
        if item.status != ItemStatus.OPEN:
            facts = {"item_id": item_id, "status": item.status}
            raise InvalidState(msg("scope_item_not_open", **facts), facts)
        self._scope_item_delivered(item_id=item_id, actor=actor)

    @event("ScopeItemAdded")
    def _scope_item_added(self, item_id: str, title: str, tier: str, actor: str) -> None:
        self.scope[item_id] = ScopeItem(id=item_id, title=title, tier=tier)
        self._title_added(self.scope[item_id])

    @event("ScopeItemRemoved")
    def _scope_item_removed(self, item_id: str, actor: str) -> None:
        self.scope[item_id].status = ItemStatus.REMOVED.value
        self._title_removed(self.scope[item_id])

    @event("ScopeItemDelivered")
    def _scope_item_delivered(self, item_id: str, actor: str) -> None:
        self.scope[item_id].status = ItemStatus.DELIVERED.value

    def _check_scope_open(self) -> None:
        if self.baseline is not None:
            raise ScopeFrozen(msg("scope_frozen"), {"stage": self.stage.value})

    def _check_unique_title(self, title: str) -> None:
        item_id = self._active_titles().get(title.casefold())
        if item_id is not None:
            item = self.scope[item_id]
            raise Duplicate(msg("scope_title_taken", item_id=item.id, title=item.title),
                            {"item_id": item.id, "field": "title"})

    # The active scope items by folded title: a command's uniqueness check is one look-up, whatever the
    # project's size. Kept beside the project (not in its attributes, so neither its snapshots nor a
    # comparison of two copies see it), built from the scope when first needed and then kept by the
    # events that add or remove items.
    def _active_titles(self) -> dict[str, str]:
        key = id(self)
        entry = _TITLE_INDEXES.get(key)
        if entry is not None and entry[0]() is self:
            return entry[1]
        titles = {item.title.casefold(): item.id for item in self.scope.values() if item.active}
        _TITLE_INDEXES[key] = (weakref.ref(self, lambda _gone: _TITLE_INDEXES.pop(key, None)), titles)
        return titles

    def _kept_titles(self) -> dict[str, str] | None:
        entry = _TITLE_INDEXES.get(id(self))
        return entry[1] if entry is not None and entry[0]() is self else None

    def _title_added(self, item: ScopeItem) -> None:
        titles = self._kept_titles()
        if titles is not None and item.active:
            titles[item.title.casefold()] = item.id

    def _title_removed(self, item: ScopeItem) -> None:
        titles = self._kept_titles()
        if titles is not None and titles.get(item.title.casefold()) == item.id:
            del titles[item.title.casefold()]

    # ------------------------------------------------------------- milestones

    def plan_milestone(
        self, *, title: str, stage: str | Stage, due_on: date | str,
        deliverables: list[str] | None = None, scope_item_ids: list[str] | None = None, actor: str,
    ) -> str:
        self._check_open()
        title = v.text("title", title)
        target = parse_stage(stage)
        due = v.day("due_on", due_on)
        items = v.text_list("deliverables", deliverables or [])
        delivers = self._deliverable_items(scope_item_ids or [])
        if target.order < self.stage.order:
            where = {"stage": target.value, "current": self.stage.value}
            raise WrongStage(msg("milestone_stage_behind", **where), where)
        milestone_id = f"M{len(self.milestones) + 1}"
        self._milestone_planned(
            milestone_id=milestone_id, stage=target.value, title=title, due_on=due,
            deliverables=items, actor=actor, scope_item_ids=delivers,
        )
        return milestone_id

    def _deliverable_items(self, item_ids: list[str]) -> list[str]:
        """The scope items a milestone delivers: each one of this project's, not removed, named once."""
        if not isinstance(item_ids, list) or len(item_ids) > MAX_ITEMS_PER_MILESTONE:
            raise InvalidInput("scope_item_ids", msg("rule_max_scope_items", max=MAX_ITEMS_PER_MILESTONE))
        seen: list[str] = []
        for item_id in item_ids:
            item = self.scope_item(item_id)  # NotFound names an unknown one
            if item.status == ItemStatus.REMOVED:
                raise InvalidState(
                    msg("milestone_cannot_deliver_removed", item_id=item.id),
                    {"field": "scope_item_ids", "item_id": item.id, "status": item.status},
                )
            if item.id in seen:
                raise ConflictingInput("scope_item_ids", msg("rule_named_twice", item_id=item.id))
            seen.append(item.id)
        return seen

    def reschedule_milestone(
        self, *, milestone_id: str, due_on: date | str, reason: str, actor: str
    ) -> None:
        self._check_open()
        m = self.milestone(milestone_id)
        due = v.day("due_on", due_on)
        why = v.note("reason", reason)
        if m.done:
            raise InvalidState(msg("milestone_completed_no_reschedule", milestone_id=m.id), {"milestone_id": m.id})
        if due == m.due_on:
            raise ConflictingInput("due_on", msg("rule_due_must_differ", due_on=m.due_on.isoformat()))
        self._milestone_rescheduled(
            milestone_id=m.id, from_on=m.due_on, to_on=due, reason=why, actor=actor
        )

    def complete_milestone(
        self, *, milestone_id: str, completed_on: date | str | None = None, actor: str
    ) -> None:
        self._check_open()
        m = self.milestone(milestone_id)
        on = clock.today() if completed_on is None else v.day("completed_on", completed_on)
        if on > clock.today():
            raise ConflictingInput("completed_on", msg("rule_not_future"))
        if m.done:
            raise InvalidState(msg("milestone_already_completed", milestone_id=m.id), {"milestone_id": m.id})
        if Stage(m.stage).order > self.stage.order:
            raise WrongStage(
                msg("milestone_stage_not_reached", milestone_id=m.id, stage=m.stage),
                {"milestone_id": m.id, "stage": m.stage, "current": self.stage.value},
            )
        still_open = [c for c in self.criteria_of(m.id) if not c.closed]
        if still_open:
            raise CriteriaOpen(
                msg("milestone_criteria_open", milestone_id=m.id, criteria=[
                    msg("criterion_with_state", criterion_id=c.id, state=c.state) for c in still_open]),
                {"milestone_id": m.id, "criteria": [{"id": c.id, "state": c.state} for c in still_open]},
            )
        self._milestone_completed(milestone_id=m.id, completed_on=on, actor=actor)

    @event("MilestonePlanned")
    def _milestone_planned(
        self, milestone_id: str, stage: str, title: str, due_on: date,
        deliverables: list[str], actor: str, scope_item_ids: list[str] | None = None,
    ) -> None:
        # scope_item_ids: from v5 on; older events name none.
        self.milestones[milestone_id] = Milestone(
            id=milestone_id, stage=stage, title=title, due_on=due_on,
            original_due_on=due_on, deliverables=list(deliverables), scope_item_ids=list(scope_item_ids or []),
        )

    @event("MilestoneRescheduled")
    def _milestone_rescheduled(
        self, milestone_id: str, from_on: date, to_on: date, reason: str, actor: str
    ) -> None:
        m = self.milestones[milestone_id]
        m.reschedules.append(Reschedule(from_on=from_on, to_on=to_on, reason=reason, actor=actor))
        m.due_on = to_on

    @event("MilestoneCompleted")
    def _milestone_completed(self, milestone_id: str, completed_on: date, actor: str) -> None:
        self.milestones[milestone_id].completed_on = completed_on

    # ------------------------------------------------------ acceptance criteria

    def add_criterion(
        self, *, milestone_id: str, text: str, metric: dict[str, Any] | None = None,
        client_signoff: bool = False, actor: str,
    ) -> str:
        """Add a criterion; with `client_signoff`, only the client's sign-off verifies it."""
        self._check_open()
        m = self.milestone(milestone_id)
        wording = v.text("text", text, max_len=500)
        spec = _metric(metric) if metric is not None else None
        signoff = _signoff_flag(client_signoff)
        if signoff and spec is not None:
            raise ConflictingInput("client_signoff", msg("rule_signoff_measurable"))
        if m.done:
            raise InvalidState(msg("milestone_completed_no_criteria", milestone_id=m.id), {"milestone_id": m.id})
        criterion_id = f"AC{len(self.criteria) + 1}"
        self._criterion_added(
            criterion_id=criterion_id, milestone_id=m.id, text=wording, metric=spec, actor=actor,
            client_signoff=signoff,
        )
        return criterion_id

    def verify_criterion(
        self, *, criterion_id: str, evidence: str, measured: float | None = None, actor: str
    ) -> None:
        c = self._decidable(criterion_id, CriterionState.OPEN, CriterionState.REJECTED, verb="verified")
        self._check_not_client_signed(c, "verified")
        proof = v.note("evidence", evidence)
        value: float | None = None
        if c.metric is None:
            if measured is not None:
                raise ConflictingInput("measured", msg("rule_measured_only_measurable"))
        else:
            if measured is None:
                raise ConflictingInput("measured", msg("rule_measured_required", metric=c.metric.message()))
            value = v.number("measured", measured)
            if not c.metric.met_by(value):
                raise ThresholdNotMet(
                    msg("threshold_not_met", measured=value, metric=c.metric.message()),
                    {"criterion_id": c.id, "metric": c.metric.name, "comparator": c.metric.comparator,
                     "threshold": c.metric.threshold, "unit": c.metric.unit, "measured": value},
                )
        self._criterion_verified(criterion_id=c.id, evidence=proof, measured=value, actor=actor)

    def reject_criterion(self, *, criterion_id: str, reason: str, actor: str) -> None:
        c = self._decidable(criterion_id, CriterionState.OPEN, CriterionState.VERIFIED, verb="rejected")
        why = v.note("reason", reason)
        self._criterion_rejected(criterion_id=c.id, reason=why, actor=actor)

    def waive_criterion(self, *, criterion_id: str, reason: str, actor: str) -> None:
        c = self._decidable(criterion_id, CriterionState.OPEN, CriterionState.REJECTED, verb="waived")
        self._check_not_client_signed(c, "waived")
        why = v.note("reason", reason)
        self._criterion_waived(criterion_id=c.id, reason=why, actor=actor)

    def _decidable(self, criterion_id: str, *states: CriterionState, verb: str) -> Criterion:
        self._check_open()
        c = self.criterion(criterion_id)
        if self.milestones[c.milestone_id].done:
            facts = {"criterion_id": c.id, "milestone_id": c.milestone_id}
            raise InvalidState(msg("criterion_milestone_completed", **facts), facts)
        if c.state not in states:
            raise InvalidState(
                msg("criterion_state_refuses", criterion_id=c.id, state=c.state,
                    allowed=[s.value for s in states], action=verb),
                {"criterion_id": c.id, "state": c.state},
            )
        return c

    @event("CriterionAdded")
    def _criterion_added(
        self, criterion_id: str, milestone_id: str, text: str,
        metric: dict[str, Any] | None, actor: str, client_signoff: bool = False,
    ) -> None:
        self.criteria[criterion_id] = Criterion(
            id=criterion_id, milestone_id=milestone_id, text=text,
            metric=Metric(**metric) if metric is not None else None, client_signoff=client_signoff,
        )

    @event("CriterionVerified")
    def _criterion_verified(
        self, criterion_id: str, evidence: str, measured: float | None, actor: str
    ) -> None:
        c = self.criteria[criterion_id]
        c.state, c.evidence, c.measured, c.reason, c.decided_by = (
            CriterionState.VERIFIED.value, evidence, measured, "", actor
        )

    @event("CriterionRejected")
    def _criterion_rejected(self, criterion_id: str, reason: str, actor: str) -> None:
        c = self.criteria[criterion_id]
        c.state, c.reason, c.decided_by = CriterionState.REJECTED.value, reason, actor

    @event("CriterionWaived")
    def _criterion_waived(self, criterion_id: str, reason: str, actor: str) -> None:
        c = self.criteria[criterion_id]
        c.state, c.reason, c.decided_by = CriterionState.WAIVED.value, reason, actor

    # -------------------------------------------------------- change requests

    def raise_change_request(
        self, *, title: str, requested_by: str, kind: str, tier: str,
        scope_item_id: str | None = None, schedule_days: int = 0,
        cost: Decimal | int | float | str = 0, actor: str,
    ) -> str:
        self._check_open()
        title = v.text("title", title)
        who = v.text("requested_by", requested_by, max_len=v.NAME_MAX)
        kind = v.choice("kind", kind, KINDS)
        tier = v.choice("tier", tier, TIERS)
        days = v.integer("impact.schedule_days", schedule_days, low=-365, high=3650)
        amount = v.money("impact.cost", cost)
        if kind == ChangeKind.ADD:
            if scope_item_id is not None:
                raise ConflictingInput("scope_item_id", msg("rule_scope_item_empty_for_add"))
        else:
            if scope_item_id is None:
                raise ConflictingInput("scope_item_id", msg("rule_scope_item_required", kind=kind))
            item = self.scope_item(scope_item_id)
            if not item.active:
                raise InvalidState(msg("scope_item_removed", item_id=item.id), {"scope_item_id": item.id})
        if self.baseline is None:
            raise BaselineNotFrozen(msg("baseline_not_frozen"), {"stage": self.stage.value})
        change_request_id = f"CR{len(self.change_requests) + 1}"
        self._change_request_raised(
            change_request_id=change_request_id, title=title, requested_by=who, kind=kind,
            tier=tier, scope_item_id=scope_item_id, schedule_days=days, cost=amount,
            stage=self.stage.value, actor=actor,
        )
        return change_request_id

    def approve_change_request(self, *, change_request_id: str, reason: str = "", actor: str) -> None:
        cr = self._pending_change(change_request_id, "approved")
        why = v.optional_note("reason", reason)
        new_item_id = None
        if cr.kind == ChangeKind.ADD:
            self._check_unique_title(cr.title)
            new_item_id = f"S{len(self.scope) + 1}"
        else:
            assert cr.scope_item_id is not None
            item = self.scope[cr.scope_item_id]
            if not item.active:
                raise InvalidState(msg("change_item_removed_since", item_id=item.id), {"scope_item_id": item.id})
        self._change_request_approved(
            change_request_id=cr.id, reason=why, new_item_id=new_item_id, actor=actor
        )

    def reject_change_request(self, *, change_request_id: str, reason: str, actor: str) -> None:
        cr = self._pending_change(change_request_id, "rejected")
        why = v.note("reason", reason)
        self._change_request_rejected(change_request_id=cr.id, reason=why, actor=actor)

    def withdraw_change_request(self, *, change_request_id: str, actor: str) -> None:
        cr = self._pending_change(change_request_id, "withdrawn")
        self._change_request_withdrawn(change_request_id=cr.id, actor=actor)

    def implement_change_request(self, *, change_request_id: str, actor: str) -> None:
        self._check_open()
        cr = self.change_request(change_request_id)
        if cr.status != ChangeStatus.APPROVED:
            facts = {"change_request_id": cr.id, "status": cr.status}
            raise InvalidState(msg("change_request_not_approved", **facts), facts)
        self._change_request_implemented(change_request_id=cr.id, actor=actor)

    def _pending_change(self, change_request_id: str, verb: str) -> ChangeRequest:
        self._check_open()
        cr = self.change_request(change_request_id)
        if not cr.pending:
            facts = {"change_request_id": cr.id, "status": cr.status}
            raise InvalidState(msg("change_request_state_refuses", **facts, action=verb), facts)
        return cr

    @event("ChangeRequestRaised")
    def _change_request_raised(
        self, change_request_id: str, title: str, requested_by: str, kind: str, tier: str,
        scope_item_id: str | None, schedule_days: int, cost: Decimal, stage: str, actor: str,
    ) -> None:
        self.change_requests[change_request_id] = ChangeRequest(
            id=change_request_id, title=title, requested_by=requested_by, kind=kind, tier=tier,
            scope_item_id=scope_item_id, schedule_days=schedule_days, cost=cost,
            raised_in_stage=stage,
        )

    @event("ChangeRequestApproved")
    def _change_request_approved(
        self, change_request_id: str, reason: str, new_item_id: str | None, actor: str
    ) -> None:
        cr = self.change_requests[change_request_id]
        cr.status, cr.decision_reason, cr.decided_by = ChangeStatus.APPROVED.value, reason, actor
        if cr.kind == ChangeKind.ADD and new_item_id is not None:
            cr.scope_item_id = new_item_id
            self.scope[new_item_id] = ScopeItem(
                id=new_item_id, title=cr.title, tier=cr.tier, change_request_id=cr.id
            )
            self._title_added(self.scope[new_item_id])
        elif cr.kind == ChangeKind.REMOVE and cr.scope_item_id is not None:
            self.scope[cr.scope_item_id].status = ItemStatus.REMOVED.value
            self._title_removed(self.scope[cr.scope_item_id])
        elif cr.kind == ChangeKind.MODIFY and cr.scope_item_id is not None:
            self.scope[cr.scope_item_id].tier = cr.tier

    @event("ChangeRequestRejected")
    def _change_request_rejected(self, change_request_id: str, reason: str, actor: str) -> None:
        cr = self.change_requests[change_request_id]
        cr.status, cr.decision_reason, cr.decided_by = ChangeStatus.REJECTED.value, reason, actor

    @event("ChangeRequestWithdrawn")
    def _change_request_withdrawn(self, change_request_id: str, actor: str) -> None:
        self.change_requests[change_request_id].status = ChangeStatus.WITHDRAWN.value

    @event("ChangeRequestImplemented")
    def _change_request_implemented(self, change_request_id: str, actor: str) -> None:
        self.change_requests[change_request_id].status = ChangeStatus.IMPLEMENTED.value

    # --------------------------------------------------------------- releases

    def plan_release(
        self, *, version: str, steps: list[int], health: list[dict[str, Any]] | None = None,
        actor: str,
    ) -> str:
        self._check_open()
        label = v.text("version", version, max_len=50)
        ramp = _ramp(steps)
        checks = _health_checks(health or [])
        self._check_release_stage()
        if any(r.version == label for r in self.releases.values()):
            raise Duplicate(msg("release_duplicate", version=label), {"field": "version"})
        release_id = f"R{len(self.releases) + 1}"
        self._release_planned(release_id=release_id, version=label, steps=ramp, checks=checks, actor=actor)
        return release_id

    def start_release(self, *, release_id: str, actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.PLANNED, ReleaseState.ROLLED_BACK, verb="started")
        self._check_release_stage()
        other = self.active_release()
        if other is not None:
            raise ReleaseInProgress(
                msg("release_in_progress", release_id=other.id, version=other.version, state=other.state),
                {"release_id": other.id},
            )
        self._release_started(release_id=r.id, actor=actor)

    def record_observation(self, *, release_id: str, metrics: dict[str, Any], actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.RAMPING, ReleaseState.PAUSED, verb="observed")
        if not isinstance(metrics, dict) or not metrics:
            raise InvalidInput("metrics", msg("rule_metrics_required"))
        if len(metrics) > MAX_METRICS:
            raise InvalidInput("metrics", msg("rule_max_entries", max=MAX_METRICS))
        values = {
            v.text("metrics", name, max_len=80): v.number(f"metrics.{name}", value)
            for name, value in metrics.items()
        }
        self._release_observed(
            release_id=r.id, percent=r.percent, ramp=r.rollbacks, metrics=values,
            failures=r.failures_for(values), actor=actor,
        )

    def advance_release(self, *, release_id: str, actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.RAMPING, verb="advanced")
        self._check_release_stage()
        if r.step_index == len(r.steps) - 1:
            raise InvalidState(msg("release_last_step", release_id=r.id, percent=r.percent), {"release_id": r.id})
        self._check_healthy(r)
        self._release_advanced(
            release_id=r.id, from_percent=r.percent, to_percent=r.steps[r.step_index + 1], actor=actor
        )

    def pause_release(self, *, release_id: str, reason: str, actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.RAMPING, verb="paused")
        why = v.note("reason", reason)
        self._release_paused(release_id=r.id, percent=r.percent, reason=why, actor=actor)

    def resume_release(self, *, release_id: str, actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.PAUSED, verb="resumed")
        self._check_release_stage()
        self._release_resumed(release_id=r.id, percent=r.percent, actor=actor)

    def roll_back_release(self, *, release_id: str, reason: str, actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.RAMPING, ReleaseState.PAUSED, verb="rolled_back")
        why = v.note("reason", reason)
        self._release_rolled_back(release_id=r.id, from_percent=r.percent, reason=why, actor=actor)

    def complete_release(self, *, release_id: str, actor: str) -> None:
        self._check_open()
        r = self._release_in(release_id, ReleaseState.RAMPING, verb="completed")
        self._check_release_stage()
        if r.percent != 100:
            facts = {"release_id": r.id, "percent": r.percent}
            raise InvalidState(msg("release_not_at_full", **facts), facts)
        self._check_healthy(r)
        self._release_completed(release_id=r.id, actor=actor)

    def _release_in(self, release_id: str, *states: ReleaseState, verb: str) -> Release:
        r = self.release(release_id)
        if r.state not in states:
            raise InvalidState(
                msg("release_state_refuses", release_id=r.id, state=r.state,
                    allowed=[s.value for s in states], action=verb),
                {"release_id": r.id, "state": r.state},
            )
        return r

    def _check_release_stage(self) -> None:
        if self.stage not in RELEASE_STAGES:
            raise WrongStage(msg("release_wrong_stage", stage=self.stage.value), {"stage": self.stage.value})

    def _check_healthy(self, r: Release) -> None:
        if not r.checks:
            return
        obs = r.latest_observation_at_step()
        if obs is None:
            raise ReleaseUnhealthy(msg("release_no_observation", release_id=r.id, percent=r.percent),
                                   {"release_id": r.id, "percent": r.percent, "failures": []})
        unmeasured = [c.metric for c in r.checks if c.metric not in obs.metrics]
        if unmeasured:
            # A check nobody measured has not passed: "healthy" must mean every threshold was looked at.
            raise ReleaseUnhealthy(
                msg("release_unmeasured", release_id=r.id, percent=r.percent, unmeasured=unmeasured),
                {"release_id": r.id, "percent": r.percent, "failures": [], "unmeasured": unmeasured},
            )
        if not obs.healthy:
            raise ReleaseUnhealthy(
                msg("release_unhealthy", release_id=r.id, percent=r.percent, failures=obs.failures),
                {"release_id": r.id, "percent": r.percent, "failures": obs.failures},
            )

    @event("ReleasePlanned")
    def _release_planned(
        self, release_id: str, version: str, steps: list[int], checks: list[dict[str, Any]], actor: str
    ) -> None:
        self.releases[release_id] = Release(
            id=release_id, version=version, steps=list(steps),
            checks=[HealthCheck(**c) for c in checks],
        )

    @event("ReleaseStarted")
    def _release_started(self, release_id: str, actor: str) -> None:
        r = self.releases[release_id]
        r.state, r.step_index = ReleaseState.RAMPING.value, 0

    @event("ReleaseObserved")
    def _release_observed(
        self, release_id: str, percent: int, ramp: int, metrics: dict[str, float],
        failures: list[str], actor: str,
    ) -> None:
        self.releases[release_id].observations.append(
            Observation(percent=percent, ramp=ramp, metrics=dict(metrics), failures=list(failures), actor=actor)
        )

    @event("ReleaseAdvanced")
    def _release_advanced(self, release_id: str, from_percent: int, to_percent: int, actor: str) -> None:
        r = self.releases[release_id]
        r.step_index = r.steps.index(to_percent)

    @event("ReleasePaused")
    def _release_paused(self, release_id: str, percent: int, reason: str, actor: str) -> None:
        self.releases[release_id].state = ReleaseState.PAUSED.value

    @event("ReleaseResumed")
    def _release_resumed(self, release_id: str, percent: int, actor: str) -> None:
        self.releases[release_id].state = ReleaseState.RAMPING.value

    @event("ReleaseRolledBack")
    def _release_rolled_back(self, release_id: str, from_percent: int, reason: str, actor: str) -> None:
        r = self.releases[release_id]
        r.state, r.step_index, r.rollbacks = ReleaseState.ROLLED_BACK.value, -1, r.rollbacks + 1

    @event("ReleaseCompleted")
    def _release_completed(self, release_id: str, actor: str) -> None:
        self.releases[release_id].state = ReleaseState.COMPLETED.value

    # ----------------------------------------------------------------- funnel

    def define_funnel(self, *, steps: list[dict[str, Any]], actor: str) -> None:
        """Write the business loop as 3 to 5 steps with the conversion expected at each."""
        self._check_open()
        if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
            raise InvalidInput("steps", msg("rule_funnel_steps", min=MIN_STEPS, max=MAX_STEPS))
        parsed: list[dict[str, Any]] = []
        rates: list[float] = []
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                raise InvalidInput(f"steps[{i}]", msg("rule_funnel_step_object"))
            rate = v.number(f"steps[{i}].expected_rate", step.get("expected_rate"))
            if not 0 < rate <= 100:
                raise InvalidInput(f"steps[{i}].expected_rate", msg("rule_percentage_above_zero"))
            parsed.append({"name": v.text(f"steps[{i}].name", step.get("name"), max_len=80), "expected_rate": rate})
            rates.append(rate)
        if all(rate <= 1 for rate in rates):
            raise ConflictingInput("steps", msg("rule_fractions", rate_field="expected_rate"))
        if self.baseline is not None:
            raise WrongStage(msg("funnel_after_baseline"), {"stage": self.stage.value})
        self._funnel_defined(steps=parsed, actor=actor)

    def record_funnel_actuals(self, *, rates: list[Any], actor: str) -> None:
        """After launch: the measured conversion of each funnel step, in order.

        Deliberately allowed after `complete_launch` too: the real numbers arrive weeks later.
        """
        if not self.funnel:
            raise InvalidState(msg("funnel_missing"), {})
        if not isinstance(rates, list):
            raise InvalidInput("rates", msg("rule_rates_per_step", count=len(self.funnel)))
        if len(rates) != len(self.funnel):
            raise ConflictingInput("rates", msg("rule_rates_per_step", count=len(self.funnel)))
        values = [v.number(f"rates[{i}]", r) for i, r in enumerate(rates)]
        for i, rate in enumerate(values):
            if not 0 <= rate <= 100:
                raise InvalidInput(f"rates[{i}]", msg("rule_percentage"))
        if any(values) and all(rate <= 1 for rate in values):
            raise ConflictingInput("rates", msg("rule_fractions", rate_field="rate"))
        if self.stage is not Stage.LAUNCH:
            raise WrongStage(msg("funnel_actual_wrong_stage", stage=self.stage.value), {"stage": self.stage.value})
        self._funnel_actuals_recorded(rates=values, actor=actor)

    @event("FunnelDefined")
    def _funnel_defined(self, steps: list[dict[str, Any]], actor: str) -> None:
        self.funnel = [FunnelStep(name=s["name"], expected_rate=s["expected_rate"]) for s in steps]

    @event("FunnelActualsRecorded")
    def _funnel_actuals_recorded(self, rates: list[float], actor: str) -> None:
        for step, rate in zip(self.funnel, rates, strict=True):
            step.actual_rate = rate

    # ------------------------------------------------------------ corrections
    # A name or a text entered wrong is corrected by a new event (with who and when), never by
    # editing the one that recorded it. Each event keeps the text it replaced, so the history
    # reads "renamed from ... to ...". Where a rule froze the text, the correction is refused.

    def rename(self, *, name: str, actor: str) -> None:
        """Correct the project's name."""
        self._check_open()
        new = v.text("name", name)
        if new == self.name:
            raise ConflictingInput("name", msg("rule_must_differ"))
        self._project_renamed(name=new, previous=self.name, actor=actor)

    def set_currency(self, *, currency: str, actor: str) -> None:
        """Choose the currency the project's costs are in (an ISO 4217 code)."""
        self._check_open()
        code = money.currency("currency", currency)
        if code == self.currency:
            raise ConflictingInput("currency", msg("rule_must_differ"))
        self._currency_set(currency=code, previous=self.currency, actor=actor)

    def retitle_milestone(self, *, milestone_id: str, title: str, actor: str) -> None:
        """Correct a milestone's title (a completed one's too: the title names it, nothing was decided on it)."""
        self._check_open()
        m = self.milestone(milestone_id)
        new = v.text("title", title)
        if new == m.title:
            raise ConflictingInput("title", msg("rule_must_differ"))
        self._milestone_retitled(milestone_id=m.id, title=new, previous=m.title, actor=actor)

    def revise_deliverables(self, *, milestone_id: str, deliverables: list[str], actor: str) -> None:
        """Replace a milestone's list of deliverables; refused once it is completed (that is what was delivered)."""
        self._check_open()
        m = self.milestone(milestone_id)
        items = v.text_list("deliverables", deliverables)
        if m.done:
            raise InvalidState(msg("milestone_completed_deliverables", milestone_id=m.id), {"milestone_id": m.id})
        if items == m.deliverables:
            raise ConflictingInput("deliverables", msg("rule_must_differ"))
        self._deliverables_revised(milestone_id=m.id, deliverables=items, previous=list(m.deliverables), actor=actor)

    def retitle_scope_item(self, *, item_id: str, title: str, actor: str) -> None:
        """Correct a scope item's title; a baseline item's title is frozen with the baseline."""
        self._check_open()
        item = self.scope_item(item_id)
        new = v.text("title", title)
        if not item.active:
            raise InvalidState(msg("scope_item_removed", item_id=item.id), {"item_id": item.id})
        if self.baseline is not None and any(b.id == item.id for b in self.baseline):
            raise ScopeFrozen(msg("scope_item_in_baseline", item_id=item.id),
                              {"stage": self.stage.value, "item_id": item.id})
        if new == item.title:
            raise ConflictingInput("title", msg("rule_must_differ"))
        if new.casefold() != item.title.casefold():
            self._check_unique_title(new)
        self._scope_item_retitled(item_id=item.id, title=new, previous=item.title, actor=actor)

    def reword_criterion(self, *, criterion_id: str, text: str, actor: str) -> None:
        """Correct a criterion's text; a verified one's text is what was signed off, and stays."""
        self._check_open()
        c = self.criterion(criterion_id)
        wording = v.text("text", text, max_len=500)
        if self.milestones[c.milestone_id].done:
            facts = {"criterion_id": c.id, "milestone_id": c.milestone_id}
            raise InvalidState(msg("criterion_milestone_completed", **facts), facts)
        if c.state == CriterionState.VERIFIED:
            raise InvalidState(msg("criterion_verified_no_reword", criterion_id=c.id),
                               {"criterion_id": c.id, "state": c.state})
        if wording == c.text:
            raise ConflictingInput("text", msg("rule_must_differ"))
        self._criterion_reworded(criterion_id=c.id, text=wording, previous=c.text, actor=actor)

    @event("ProjectCurrencySet")
    def _currency_set(self, currency: str, previous: str, actor: str) -> None:
        self.currency = currency

    @event("ProjectRenamed")
    def _project_renamed(self, name: str, previous: str, actor: str) -> None:
        self.name = name

    @event("MilestoneRetitled")
    def _milestone_retitled(self, milestone_id: str, title: str, previous: str, actor: str) -> None:
        self.milestones[milestone_id].title = title

    @event("DeliverablesRevised")
    def _deliverables_revised(
        self, milestone_id: str, deliverables: list[str], previous: list[str], actor: str
    ) -> None:
        self.milestones[milestone_id].deliverables = list(deliverables)

    @event("ScopeItemRetitled")
    def _scope_item_retitled(self, item_id: str, title: str, previous: str, actor: str) -> None:
        item = self.scope[item_id]
        self._title_removed(item)
        item.title = title
        self._title_added(item)

    @event("CriterionReworded")
    def _criterion_reworded(self, criterion_id: str, text: str, previous: str, actor: str) -> None:
        self.criteria[criterion_id].text = text

    # ----------------------------------------------------------------- shared

    def _check_open(self) -> None:
        if self.launched:
            raise ProjectClosed(msg("project_closed"), {})

    # ------------------------------------------ client participation (issue 14)
    # Sign-off of criteria that ask for it, change proposals and comments. The client is the actor
    # of its own events; the API and the pages check the role before calling these.

    @property
    def proposals(self) -> dict[str, Proposal]:
        """The client's change proposals (read so, as snapshots from before lack them)."""
        found: dict[str, Proposal] = vars(self).get("change_proposals", {})
        return found

    @property
    def comment_count(self) -> int:
        return int(vars(self).get("comments_added", 0))

    def proposal(self, proposal_id: str) -> Proposal:
        return _get(self.proposals, proposal_id, "change proposal")

    def sign_off_criterion(self, *, criterion_id: str, verdict: str, comment: str = "", actor: str) -> None:
        """The client verifies or rejects a criterion that asks for its sign-off (a rejection says why)."""
        self._check_open()
        c = self.criterion(criterion_id)
        decision = v.choice("verdict", verdict, VERDICTS)
        note = v.note("comment", comment) if decision == "rejected" else v.optional_note("comment", comment)
        if not c.client_signoff:
            raise NotASignOff(msg("criterion_not_signoff", criterion_id=c.id), {"criterion_id": c.id})
        if decision == "verified":
            self._decidable(c.id, CriterionState.OPEN, CriterionState.REJECTED, verb="signed_off")
        else:
            self._decidable(c.id, CriterionState.OPEN, CriterionState.VERIFIED, verb="rejected")
        self._criterion_signed_off(criterion_id=c.id, verdict=decision, comment=note, actor=actor)

    def propose_change(self, *, title: str, description: str = "", tier: str, actor: str) -> str:
        """The client proposes a change; it waits for the pm to accept it (as a change request) or decline it."""
        self._check_open()
        heading = v.text("title", title)
        details = v.optional_text("description", description, max_len=PROPOSAL_DESCRIPTION_MAX, multiline=True)
        level = v.choice("tier", tier, TIERS)
        proposal_id = f"P{len(self.proposals) + 1}"
        self._change_proposed(proposal_id=proposal_id, title=heading, description=details, tier=level, actor=actor)
        return proposal_id

    def accept_change_proposal(
        self, *, proposal_id: str, kind: str, tier: str | None = None, scope_item_id: str | None = None,
        schedule_days: int = 0, cost: Decimal | int | float | str = 0, actor: str,
    ) -> str:
        """Raise a change request from a proposal (the rules of `raise_change_request`, with its impact)."""
        p = self._pending_proposal(proposal_id, "accepted")
        change_request_id = self.raise_change_request(
            title=p.title, requested_by=p.proposed_by, kind=kind, tier=p.tier if tier is None else tier,
            scope_item_id=scope_item_id, schedule_days=schedule_days, cost=cost, actor=actor,
        )
        self._change_proposal_accepted(proposal_id=p.id, change_request_id=change_request_id, actor=actor)
        return change_request_id

    def decline_change_proposal(self, *, proposal_id: str, reason: str, actor: str) -> None:
        p = self._pending_proposal(proposal_id, "declined")
        why = v.note("reason", reason)
        self._change_proposal_declined(proposal_id=p.id, reason=why, actor=actor)

    def add_comment(self, *, target_kind: str, target_id: str, text: str, actor: str) -> str:
        """A plain-text comment on a milestone, a criterion or a change request."""
        self._check_open()
        target = v.choice("target_kind", target_kind, COMMENT_TARGETS)
        ident = v.text("target_id", target_id, max_len=16)
        body = v.text("text", text, max_len=COMMENT_MAX, multiline=True)
        {"milestone": self.milestone, "criterion": self.criterion, "change_request": self.change_request}[target](ident)
        comment_id = f"C{self.comment_count + 1}"
        self._comment_added(comment_id=comment_id, target_kind=target, target_id=ident, text=body, actor=actor)
        return comment_id

    def _check_not_client_signed(self, c: Criterion, verb: str) -> None:
        if c.client_signoff:
            raise ClientSignOffRequired(msg("criterion_signoff_only", criterion_id=c.id, action=verb),
                                        {"criterion_id": c.id})

    def _pending_proposal(self, proposal_id: str, verb: str) -> Proposal:
        self._check_open()
        p = self.proposal(proposal_id)
        if not p.pending:
            facts = {"proposal_id": p.id, "status": p.status}
            raise InvalidState(msg("proposal_state_refuses", **facts, action=verb), facts)
        return p

    @event("CriterionSignedOff")
    def _criterion_signed_off(self, criterion_id: str, verdict: str, comment: str, actor: str) -> None:
        c = self.criteria[criterion_id]
        if verdict == CriterionState.VERIFIED:
            c.state, c.evidence, c.measured, c.reason = CriterionState.VERIFIED.value, comment, None, ""
        else:
            c.state, c.reason = CriterionState.REJECTED.value, comment
        c.decided_by = actor

    @event("ChangeProposed")
    def _change_proposed(self, proposal_id: str, title: str, description: str, tier: str, actor: str) -> None:
        vars(self).setdefault("change_proposals", {})[proposal_id] = Proposal(
            id=proposal_id, title=title, description=description, tier=tier, proposed_by=actor,
        )

    @event("ChangeProposalAccepted")
    def _change_proposal_accepted(self, proposal_id: str, change_request_id: str, actor: str) -> None:
        p = self.proposals[proposal_id]
        p.status, p.change_request_id, p.decided_by = ProposalStatus.ACCEPTED.value, change_request_id, actor

    @event("ChangeProposalDeclined")
    def _change_proposal_declined(self, proposal_id: str, reason: str, actor: str) -> None:
        p = self.proposals[proposal_id]
        p.status, p.reason, p.decided_by = ProposalStatus.DECLINED.value, reason, actor

    @event("CommentAdded")
    def _comment_added(self, comment_id: str, target_kind: str, target_id: str, text: str, actor: str) -> None:
        vars(self)["comments_added"] = self.comment_count + 1


_T = TypeVar("_T")


def _get(table: dict[str, _T], key: str, kind: str) -> _T:
    try:
        return table[key]
    except (KeyError, TypeError):
        raise NotFound(kind, key) from None


def _signoff_flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("client_signoff", msg("rule_true_false"))
    return value


def _metric(spec: object) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise InvalidInput("metric", msg("rule_metric_object"))
    return {
        "name": v.text("metric.name", spec.get("name"), max_len=80),
        "comparator": v.choice("metric.comparator", spec.get("comparator"), COMPARATORS),
        "threshold": v.number("metric.threshold", spec.get("threshold")),
        "unit": v.optional_text("metric.unit", spec.get("unit"), max_len=20),
    }


def _ramp(steps: object) -> list[int]:
    if not isinstance(steps, list | tuple) or not 1 <= len(steps) <= MAX_RAMP_STEPS:
        raise InvalidInput("steps", msg("rule_ramp_steps", max=MAX_RAMP_STEPS))
    ramp = [v.integer(f"steps[{i}]", s, low=1, high=100) for i, s in enumerate(steps)]
    if any(b <= a for a, b in itertools.pairwise(ramp)):
        raise ConflictingInput("steps", msg("rule_ramp_rises"))
    if ramp[-1] != 100:
        raise ConflictingInput("steps", msg("rule_ramp_ends"))
    return ramp


def _health_checks(specs: object) -> list[dict[str, Any]]:
    if not isinstance(specs, list | tuple) or len(specs) > MAX_CHECKS:
        raise InvalidInput("health", msg("rule_max_checks", max=MAX_CHECKS))
    checks = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise InvalidInput(f"health[{i}]", msg("rule_check_object"))
        checks.append({
            "metric": v.text(f"health[{i}].metric", spec.get("metric"), max_len=80),
            "comparator": v.choice(f"health[{i}].comparator", spec.get("comparator"), COMPARATORS),
            "threshold": v.number(f"health[{i}].threshold", spec.get("threshold")),
        })
    return checks
