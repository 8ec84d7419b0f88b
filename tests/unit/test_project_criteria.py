"""Acceptance criteria: plain or measurable; verified with evidence, rejected, waived, verified again."""

from __future__ import annotations

from typing import Any

import pytest

from delivery.milestones import Metric
from delivery.project import Project
from tests.unit.domain_helpers import D0, MEASURABLE, Given, facts, invalid, refused, when


def _milestone() -> tuple[Given, str]:
    given = Given()
    return given, given(Project.plan_milestone, title="Performance test", stage="research", due_on=D0)


def _criterion(metric: dict[str, Any] | None = None) -> tuple[Given, str]:
    given, ms = _milestone()
    return given, given(Project.add_criterion, milestone_id=ms, text="Pages load fast", metric=metric)


# ---------------------------------------------------------------------- add


def test_add_a_plain_criterion() -> None:
    given, ms = _milestone()
    project = given.project()
    [event] = when(project, Project.add_criterion, milestone_id=ms, text=" Client signs off the prototype ",
                   actor="lead")
    assert isinstance(event, Project.CriterionAdded)
    assert (event.criterion_id, event.milestone_id, event.text, event.metric, event.actor) == (
        "AC1", ms, "Client signs off the prototype", None, "lead"
    )
    c = project.criterion("AC1")
    assert (c.state, c.metric, c.milestone_id) == ("open", None, ms)
    assert project.criteria_of(ms) == [c]


def test_add_a_measurable_criterion() -> None:
    given, ms = _milestone()
    project = given.project()
    [event] = when(project, Project.add_criterion, milestone_id=ms, text="p95 load", metric=MEASURABLE)
    assert event.metric == {"name": "p95_load_ms", "comparator": "<=", "threshold": 1000.0, "unit": "ms"}
    assert project.criterion("AC1").metric == Metric("p95_load_ms", "<=", 1000.0, "ms")


@pytest.mark.parametrize(("metric", "field"), [
    ("p95 <= 1000", "metric"),
    ({"comparator": "<=", "threshold": 1}, "metric.name"),
    ({"name": "p95", "comparator": "=<", "threshold": 1}, "metric.comparator"),
    ({"name": "p95", "comparator": "!=", "threshold": 1}, "metric.comparator"),
    ({"name": "p95", "comparator": "<=", "threshold": True}, "metric.threshold"),
    ({"name": "p95", "comparator": "<=", "threshold": "1000"}, "metric.threshold"),
    ({"name": "p95", "comparator": "<=", "threshold": float("nan")}, "metric.threshold"),
    ({"name": "p95", "comparator": "<=", "threshold": 1, "unit": "x" * 21}, "metric.unit"),
])
def test_a_malformed_metric_is_bad_input_naming_its_part(metric: object, field: str) -> None:
    given, ms = _milestone()
    invalid(given.project(), Project.add_criterion, field, milestone_id=ms, text="p95", metric=metric)


def test_a_criterion_on_a_completed_milestone_is_refused() -> None:
    given, ms = _milestone()
    given(Project.complete_milestone, milestone_id=ms)
    refused(given.project(), Project.add_criterion, "invalid_state", milestone_id=ms, text="Too late")


def test_a_criterion_on_an_unknown_milestone_is_not_found() -> None:
    refused(Given().project(), Project.add_criterion, "not_found", milestone_id="M3", text="Orphan")


# ------------------------------------------------------------------- verify


def test_verify_a_plain_criterion_with_evidence() -> None:
    given, c = _criterion()
    project = given.project()
    [event] = when(project, Project.verify_criterion, criterion_id=c, evidence=" signed.pdf ", actor="client-lead")
    assert isinstance(event, Project.CriterionVerified)
    assert (event.evidence, event.measured, event.actor) == ("signed.pdf", None, "client-lead")
    crit = project.criterion(c)
    assert (crit.state, crit.evidence, crit.decided_by, crit.closed) == ("verified", "signed.pdf", "client-lead", True)


@pytest.mark.parametrize(("comparator", "meets", "misses"), [
    ("<=", [1000, 999.9, 0], [1000.1, 5000]),
    (">=", [1000, 1200], [999.99, -1]),
    ("<", [999.9, 0], [1000, 1001]),
    (">", [1000.01], [1000, 10]),
    ("==", [1000, 1000.0], [999, 1001]),
])
def test_a_measured_value_must_meet_the_threshold(comparator: str, meets: list[float], misses: list[float]) -> None:
    metric = {"name": "p95_load_ms", "comparator": comparator, "threshold": 1000, "unit": "ms"}
    for value in misses:
        given, c = _criterion(metric)
        error = refused(given.project(), Project.verify_criterion, "threshold_not_met", criterion_id=c,
                        evidence="load test", measured=value)
        assert facts(error) == {"criterion_id": c, "metric": "p95_load_ms", "comparator": comparator,
                                 "threshold": 1000.0, "unit": "ms", "measured": float(value)}
        assert f"p95_load_ms {comparator} 1000 ms" in error.message
    for value in meets:
        given, c = _criterion(metric)
        project = given.project()
        [event] = when(project, Project.verify_criterion, criterion_id=c, evidence="load test", measured=value)
        assert event.measured == float(value)
        assert project.criterion(c).state == "verified" and project.criterion(c).measured == value


def test_a_measurable_criterion_needs_a_measured_value() -> None:
    given, c = _criterion(MEASURABLE)
    error = invalid(given.project(), Project.verify_criterion, "measured", conflicting=True, criterion_id=c,
                    evidence="load test")
    assert "p95_load_ms <= 1000 ms" in error.message


def test_a_plain_criterion_takes_no_measured_value() -> None:
    given, c = _criterion()
    invalid(given.project(), Project.verify_criterion, "measured", conflicting=True, criterion_id=c, evidence="ok",
            measured=1)


@pytest.mark.parametrize("measured", [True, "900", float("inf"), [900]])
def test_a_measured_value_must_be_a_finite_number(measured: object) -> None:
    given, c = _criterion(MEASURABLE)
    invalid(given.project(), Project.verify_criterion, "measured", criterion_id=c, evidence="ok", measured=measured)


@pytest.mark.parametrize("evidence", ["", "   ", None, 7, "x" * 2001])
def test_verifying_needs_evidence(evidence: object) -> None:
    given, c = _criterion()
    invalid(given.project(), Project.verify_criterion, "evidence", criterion_id=c, evidence=evidence)


def test_verifying_twice_is_refused() -> None:
    given, c = _criterion()
    given(Project.verify_criterion, criterion_id=c, evidence="ok")
    error = refused(given.project(), Project.verify_criterion, "invalid_state", criterion_id=c, evidence="again")
    assert facts(error) == {"criterion_id": c, "state": "verified"}


# --------------------------------------------------------- reject and verify again


def test_reject_with_a_reason_then_verify_again() -> None:
    given, c = _criterion(MEASURABLE)
    project = given.project()
    [rejected] = when(project, Project.reject_criterion, criterion_id=c, reason="p95 was 1400 ms", actor="qa")
    assert isinstance(rejected, Project.CriterionRejected)
    assert (rejected.reason, rejected.actor) == ("p95 was 1400 ms", "qa")
    assert project.criterion(c).state == "rejected" and not project.criterion(c).closed
    [verified] = when(project, Project.verify_criterion, criterion_id=c, evidence="retest", measured=800)
    assert isinstance(verified, Project.CriterionVerified)
    crit = project.criterion(c)
    assert (crit.state, crit.measured, crit.reason) == ("verified", 800.0, "")


def test_a_verified_criterion_can_be_rejected_later() -> None:
    given, c = _criterion()
    given(Project.verify_criterion, criterion_id=c, evidence="ok")
    project = given.project()
    when(project, Project.reject_criterion, criterion_id=c, reason="regression found")
    assert project.criterion(c).state == "rejected"


def test_rejecting_twice_is_refused() -> None:
    given, c = _criterion()
    given(Project.reject_criterion, criterion_id=c, reason="no")
    refused(given.project(), Project.reject_criterion, "invalid_state", criterion_id=c, reason="still no")


@pytest.mark.parametrize("reason", ["", " ", None])
def test_rejecting_needs_a_reason(reason: object) -> None:
    given, c = _criterion()
    invalid(given.project(), Project.reject_criterion, "reason", criterion_id=c, reason=reason)


# --------------------------------------------------------------------- waive


def test_waive_with_a_reason_closes_the_criterion() -> None:
    given, c = _criterion(MEASURABLE)
    project = given.project()
    [event] = when(project, Project.waive_criterion, criterion_id=c, reason="client accepts 1.2 s")
    assert isinstance(event, Project.CriterionWaived) and event.reason == "client accepts 1.2 s"
    assert project.criterion(c).state == "waived" and project.criterion(c).closed


def test_a_rejected_criterion_can_be_waived() -> None:
    given, c = _criterion()
    given(Project.reject_criterion, criterion_id=c, reason="no")
    project = given.project()
    when(project, Project.waive_criterion, criterion_id=c, reason="out of scope now")
    assert project.criterion(c).state == "waived"


@pytest.mark.parametrize("first", ["verify", "waive"])
def test_a_closed_criterion_cannot_be_waived(first: str) -> None:
    given, c = _criterion()
    if first == "verify":
        given(Project.verify_criterion, criterion_id=c, evidence="ok")
    else:
        given(Project.waive_criterion, criterion_id=c, reason="ok")
    refused(given.project(), Project.waive_criterion, "invalid_state", criterion_id=c, reason="again")


def test_waiving_needs_a_reason() -> None:
    given, c = _criterion()
    invalid(given.project(), Project.waive_criterion, "reason", criterion_id=c, reason="")


def test_the_criteria_of_a_completed_milestone_are_settled() -> None:
    given, c = _criterion()
    given(Project.verify_criterion, criterion_id=c, evidence="ok")
    given(Project.complete_milestone, milestone_id="M1")
    project = given.project()
    error = refused(project, Project.reject_criterion, "invalid_state", criterion_id=c, reason="regression")
    assert facts(error) == {"criterion_id": c, "milestone_id": "M1"}
    refused(project, Project.waive_criterion, "invalid_state", criterion_id=c, reason="x")


@pytest.mark.parametrize("criterion_id", ["AC9", "", None, ["AC1"]])
def test_deciding_an_unknown_criterion_is_not_found(criterion_id: object) -> None:
    given, _ = _criterion()
    project = given.project()
    refused(project, Project.verify_criterion, "not_found", criterion_id=criterion_id, evidence="ok")
    refused(project, Project.reject_criterion, "not_found", criterion_id=criterion_id, reason="x")
    refused(project, Project.waive_criterion, "not_found", criterion_id=criterion_id, reason="x")
