"""What an event means to the people who subscribed: notice kinds, and the pm's attention list.

Pure functions of an event's class name and data (no database, no clock), so the mapping of events
that other branches add (client sign-off, change proposals, comments) is tested with events built
by hand before those events exist on main.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

GATE_PASSED = "gate_passed"
STAGE_MOVED_BACK = "stage_moved_back"
MILESTONE_AT_RISK = "milestone_at_risk"
MILESTONE_LATE = "milestone_late"
CRITERION_REJECTED = "criterion_rejected"
CHANGE_AWAITING_DECISION = "change_awaiting_decision"
CHANGE_DECIDED = "change_decided"
RELEASE_PAUSED = "release_paused"
RELEASE_ROLLED_BACK = "release_rolled_back"
RELEASE_COMPLETED = "release_completed"
CLIENT_SIGN_OFF = "client_sign_off"
CLIENT_PROPOSAL = "client_proposal"

KINDS: tuple[str, ...] = (
    GATE_PASSED, STAGE_MOVED_BACK, MILESTONE_AT_RISK, MILESTONE_LATE, CRITERION_REJECTED,
    CHANGE_AWAITING_DECISION, CHANGE_DECIDED, RELEASE_PAUSED, RELEASE_ROLLED_BACK, RELEASE_COMPLETED,
    CLIENT_SIGN_OFF, CLIENT_PROPOSAL,
)
# Raised by the scheduler as the days pass, not by an event.
TIMED_KINDS: tuple[str, ...] = (MILESTONE_AT_RISK, MILESTONE_LATE)

# What the attention list holds: what waits for the pm's decision, or is late.
ATTENTION_CHANGE = "change_request"
ATTENTION_PROPOSAL = "proposal"
ATTENTION_CRITERION = "rejected_criterion"
ATTENTION_LATE = "late_milestone"
ATTENTION_KINDS: tuple[str, ...] = (ATTENTION_CHANGE, ATTENTION_PROPOSAL, ATTENTION_CRITERION, ATTENTION_LATE)

# A milestone's time-based status, in order of concern (the scheduler raises a notice only upwards).
RANKS = {"": 0, "at_risk": 1, "late": 2}


@dataclass(frozen=True)
class Notice:
    """One thing to tell subscribers: a kind, the project, and the facts a message is written from."""

    kind: str
    project_id: str
    key: str  # unique per notice: the event's position and the kind, or the milestone's transition
    position: int  # the store position of the event (for a timed notice, the planner's position then)
    occurred_at: str
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Effects:
    """What one event changes: notices to plan, attention items to add or drop, milestones to follow."""

    project_pid: str
    position: int
    occurred_at: datetime
    notices: list[Notice] = field(default_factory=list)
    attention_add: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (kind, ref, detail)
    attention_drop: list[tuple[str, str]] = field(default_factory=list)
    project: dict[str, str] | None = None  # name and client, from the project's creation
    milestone: dict[str, Any] | None = None  # a milestone planned, rescheduled or completed


def _pick(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: data[n] for n in names if n in data}


def effects_of(name: str, data: dict[str, Any], *, project_id: str, position: int,
               occurred_at: datetime) -> Effects:
    """The effects of the event `name` (its class name, e.g. 'StageAdvanced') with its own fields `data`."""
    out = Effects(project_id, position, occurred_at)
    actor = str(data.get("actor", ""))

    def notice(kind: str, facts: dict[str, Any]) -> None:
        out.notices.append(Notice(kind, project_id, f"{position}:{kind}", position, occurred_at.isoformat(), actor,
                                  facts))

    if name == "Created":
        out.project = {"name": str(data.get("name", "")), "client": str(data.get("client", ""))}
    elif name == "StageAdvanced":
        notice(GATE_PASSED, _pick(data, "from_stage", "to_stage", "reason"))
    elif name == "StageReturned":
        notice(STAGE_MOVED_BACK, _pick(data, "from_stage", "to_stage", "reason"))
    elif name == "MilestonePlanned":
        out.milestone = {"milestone_id": data["milestone_id"], "title": data.get("title", ""),
                         "due_on": data["due_on"], "done": False}
    elif name == "MilestoneRescheduled":
        out.milestone = {"milestone_id": data["milestone_id"], "due_on": data["to_on"]}
        # Late no longer, perhaps: the scheduler raises it again if the new date is past too.
        out.attention_drop.append((ATTENTION_LATE, data["milestone_id"]))
    elif name == "MilestoneCompleted":
        out.milestone = {"milestone_id": data["milestone_id"], "done": True}
        out.attention_drop.append((ATTENTION_LATE, data["milestone_id"]))
    elif name == "CriterionRejected":
        notice(CRITERION_REJECTED, _pick(data, "criterion_id", "reason"))
        out.attention_add.append((ATTENTION_CRITERION, data["criterion_id"], _pick(data, "reason")))
    elif name in ("CriterionVerified", "CriterionWaived"):
        out.attention_drop.append((ATTENTION_CRITERION, data["criterion_id"]))
    elif name == "CriterionSignedOff":
        facts = _pick(data, "criterion_id", "verdict", "comment")
        notice(CLIENT_SIGN_OFF, facts)
        if data.get("verdict") == "rejected":
            notice(CRITERION_REJECTED, {"criterion_id": data["criterion_id"], "reason": data.get("comment", "")})
            out.attention_add.append((ATTENTION_CRITERION, data["criterion_id"], {"reason": data.get("comment", "")}))
        else:
            out.attention_drop.append((ATTENTION_CRITERION, data["criterion_id"]))
    elif name == "ChangeRequestRaised":
        facts = _pick(data, "change_request_id", "title", "requested_by", "kind", "tier", "schedule_days", "cost")
        notice(CHANGE_AWAITING_DECISION, facts)
        out.attention_add.append((ATTENTION_CHANGE, data["change_request_id"], _pick(data, "title", "requested_by")))
    elif name in ("ChangeRequestApproved", "ChangeRequestRejected", "ChangeRequestWithdrawn"):
        decision = {"ChangeRequestApproved": "approved", "ChangeRequestRejected": "rejected",
                    "ChangeRequestWithdrawn": "withdrawn"}[name]
        notice(CHANGE_DECIDED, {"subject": "change_request", "decision": decision,
                                **_pick(data, "change_request_id", "reason")})
        out.attention_drop.append((ATTENTION_CHANGE, data["change_request_id"]))
    elif name == "ChangeProposed":
        notice(CLIENT_PROPOSAL, _pick(data, "proposal_id", "title", "description", "tier"))
        out.attention_add.append((ATTENTION_PROPOSAL, data["proposal_id"], _pick(data, "title")))
    elif name in ("ChangeProposalAccepted", "ChangeProposalDeclined"):
        decision = "accepted" if name == "ChangeProposalAccepted" else "declined"
        notice(CHANGE_DECIDED, {"subject": "proposal", "decision": decision,
                                **_pick(data, "proposal_id", "change_request_id", "reason")})
        out.attention_drop.append((ATTENTION_PROPOSAL, data["proposal_id"]))
    elif name == "ReleasePaused":
        notice(RELEASE_PAUSED, _pick(data, "release_id", "percent", "reason"))
    elif name == "ReleaseRolledBack":
        notice(RELEASE_ROLLED_BACK, _pick(data, "release_id", "from_percent", "reason"))
    elif name == "ReleaseCompleted":
        notice(RELEASE_COMPLETED, _pick(data, "release_id"))
    # CommentAdded and every other event tell no subscriber anything (no kind asks for them).
    return out


def timed_status(due_on: str, today: str, at_risk_days: int) -> str:
    """'late', 'at_risk' or '' for an open milestone due on `due_on` (ISO dates), as the views judge it."""
    days = (date.fromisoformat(due_on) - date.fromisoformat(today)).days
    if days < 0:
        return "late"
    return "at_risk" if days <= at_risk_days else ""


def timed_notice(project_id: str, milestone: dict[str, Any], status: str, *, position: int,
                 occurred_at: str) -> Notice:
    """The notice of a milestone turning at risk or late (once per transition: the key names it)."""
    kind = MILESTONE_LATE if status == "late" else MILESTONE_AT_RISK
    key = f"m:{milestone['milestone_id']}:{milestone['due_on']}:{status}"
    facts = {"milestone_id": milestone["milestone_id"], "title": milestone.get("title", ""),
             "due_on": milestone["due_on"]}
    return Notice(kind, project_id, key, position, occurred_at, "scheduler", facts)
