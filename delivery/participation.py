"""What a client takes part in: sign-off of criteria, change proposals, and comments (by pm and client)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# A client's sign-off decision on a criterion that asks for it.
VERDICTS = ("verified", "rejected")
# What a comment may be written on (the id names a milestone, a criterion or a change request).
COMMENT_TARGETS = ("milestone", "criterion", "change_request")
COMMENT_MAX = 2000
PROPOSAL_DESCRIPTION_MAX = 2000


class ProposalStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"


@dataclass
class Proposal:
    """A change the client asked for from the portal, before the pm turns it into a change request."""

    id: str
    title: str
    description: str
    tier: str
    proposed_by: str
    status: str = ProposalStatus.PROPOSED.value
    change_request_id: str | None = None
    reason: str = ""
    decided_by: str = ""

    @property
    def pending(self) -> bool:
        return self.status == ProposalStatus.PROPOSED
