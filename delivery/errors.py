"""The domain's exceptions: each has a stable machine code and a sentence a person can act on.

The sentence is a `Message` (delivery.messages): its English is the error's `message`, and
`details["message_code"]` / `details["params"]` carry its code and raw parameters so a page can
render it in the reader's language. An `invalid_input` error's message code names its rule.
Every raise in delivery/ passes a Message (tests/unit/test_messages.py reads the source to hold
it so); a plain string is still taken from the layers above (an operator's report, a form's
parser), whose errors then carry no message code and are shown in English.
"""

from __future__ import annotations

from typing import Any, ClassVar

from delivery.messages import Message, msg


class DeliveryError(Exception):
    """Base of every error the domain raises on purpose."""

    code: ClassVar[str] = "delivery_error"

    def __init__(self, message: str | Message, details: dict[str, Any] | None = None) -> None:
        self.details: dict[str, Any] = dict(details or {})
        if isinstance(message, Message):
            self.details.update(message_code=message.code, params=message.to_dict()["params"])
            message = message.english()
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(DeliveryError):
    """A value breaks a rule of its own (empty, too long, out of range, unknown id)."""

    code = "invalid_input"

    def __init__(self, field: str, rule: str | Message) -> None:
        if isinstance(rule, Message):
            coded = Message(rule.code, {"field": field, **rule.params})
            rule = coded.english()
            DeliveryError.__init__(self, msg("field_rule", field=field, rule=rule), {"field": field, "rule": rule})
            self.details.update(message_code=coded.code, params=coded.to_dict()["params"])
        else:
            DeliveryError.__init__(self, f"{field}: {rule}.", {"field": field, "rule": rule})
        self.field = field
        self.rule = rule


class KeyReused(InvalidInput):
    """A command key (Idempotency-Key) sent again with a different request."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("Idempotency-Key", msg("rule_key_reused"))


class NotFound(DeliveryError):
    code = "not_found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(msg("not_found", kind=kind, id=str(ident)), {"kind": kind, "id": str(ident)})

    @classmethod
    def because(cls, message: Message, details: dict[str, Any]) -> NotFound:
        """A NotFound whose sentence says more than "no such id" (e.g. which ones exist)."""
        error = cls.__new__(cls)
        DeliveryError.__init__(error, message, details)
        return error


class UnknownCursor(NotFound):
    """A page cursor this server did not hand out (or one of another order): no page starts there."""

    def __init__(self) -> None:
        DeliveryError.__init__(self, msg("unknown_cursor"), {"kind": "page", "field": "cursor"})


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
        # Each unmet item carries its own message_code and params (delivery.gates).
        lines = [Message(u["message_code"], u["params"]) for u in unmet]
        super().__init__(msg("gate_not_met", stage=stage, unmet=lines), {"stage": stage, "unmet": unmet})
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
        super().__init__(msg("version_mismatch", expected=expected, actual=actual),
                         {"expected": expected, "actual": actual})


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
