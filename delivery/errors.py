"""The domain's exceptions: each has a stable machine code and a sentence a person can act on."""

from __future__ import annotations

from typing import Any, ClassVar


class DeliveryError(Exception):
    """Base of every error the domain raises on purpose."""

    code: ClassVar[str] = "delivery_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(DeliveryError):
    """A value breaks a rule of its own (empty, too long, out of range, unknown id)."""

    code = "invalid_input"

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}.", {"field": field, "rule": rule})
        self.field = field
        self.rule = rule


class KeyReused(InvalidInput):
    """A command key (Idempotency-Key) sent again with a different request."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("Idempotency-Key", "was already used for a different request; use a new key for a new request")


class NotFound(DeliveryError):
    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"No {kind} with id {ident!s}.", {"kind": kind, "id": str(ident)})


class UnknownCursor(NotFound):
    """A page cursor this server did not hand out (or one of another order): no page starts there."""

    def __init__(self) -> None:
        DeliveryError.__init__(
            self, "No page starts at this cursor: send a next_cursor returned by an earlier page of the same order.",
            {"kind": "page", "field": "cursor"},
        )


class RuleViolation(DeliveryError):
    """The command is well formed but the project's current state refuses it."""

    code = "rule_violation"


class ConflictingInput(InvalidInput, RuleViolation):
    """Values each fine on its own, refused for how they relate to the project, the clock or each other.

    A schema can say what one value may be, not these: a client that sent a schema-valid
    request learns from a 409 that the project (or the day) refuses it, as with any rule.
    """

    code = "conflicting_input"


class InvalidState(RuleViolation):
    code = "invalid_state"


class GateNotMet(RuleViolation):
    code = "gate_not_met"

    def __init__(self, stage: str, unmet: list[dict[str, Any]]) -> None:
        lines = "; ".join(u["message"] for u in unmet)
        super().__init__(
            f"Stage {stage} cannot be left yet: {lines}.",
            {"stage": stage, "unmet": unmet},
        )
        self.unmet = unmet


class StageSkip(RuleViolation):
    code = "stage_skip"


class SameStage(RuleViolation):
    code = "same_stage"


class WrongStage(RuleViolation):
    code = "wrong_stage"


class ScopeFrozen(RuleViolation):
    code = "scope_frozen"


class BaselineNotFrozen(RuleViolation):
    code = "baseline_not_frozen"


class ThresholdNotMet(RuleViolation):
    code = "threshold_not_met"


class ReleaseUnhealthy(RuleViolation):
    code = "release_unhealthy"


class ReleaseInProgress(RuleViolation):
    code = "release_in_progress"


class VersionConflict(DeliveryError):
    """Another writer saved the project first; load it again and retry the command."""

    code = "version_conflict"


class VersionMismatch(DeliveryError):
    """The caller's expected version (If-Match) is not the project's current version."""

    code = "version_mismatch"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"The project is at version {actual}, not {expected}: reload it and try again.",
            {"expected": expected, "actual": actual},
        )


class Duplicate(RuleViolation):
    code = "duplicate"


class CriteriaOpen(RuleViolation):
    code = "criteria_open"


class ProjectClosed(RuleViolation):
    code = "project_closed"


class ClientSignOffRequired(RuleViolation):
    """The criterion is closed by the client's sign-off only (a pm cannot verify or waive it)."""

    code = "client_signoff_required"


class NotASignOff(RuleViolation):
    """A sign-off was sent for a criterion that does not ask for the client's sign-off."""

    code = "signoff_not_required"
