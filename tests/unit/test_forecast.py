"""The slip forecast on constructed histories whose right answer is known (projections/forecast.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from projections import reference
from projections.forecast import (
    OWN_K,
    PRIOR,
    REFERENCE_K,
    SLIP_MAX,
    Blend,
    Cumulative,
    Reference,
    forecast,
    launch_p80,
    weights,
)
from projections.models import MilestoneRecord, MilestoneRef, ProjectHeader

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
PLAN = date(2026, 6, 1)


def header(slips: dict[str, dict[int, int]] | None = None, template: str | None = "crm_rollout") -> ProjectHeader:
    return ProjectHeader(id="p", name="P", client="C", stage="development", stage_entered_at=T0, version=1,
                         created_at=T0, created_by="pm", updated_at=T0, template=template, slips=slips or {})


def milestone(stage: str = "uat", due: date = PLAN, original: date | None = None, mid: str = "M9") -> MilestoneRecord:
    return MilestoneRecord(id=mid, stage=stage, title="Sign-off", due_on=due, original_due_on=original or due,
                           planned_at=T0, planned_by="pm")


def test_every_earlier_milestone_ten_days_late_gives_p50_plan_plus_ten() -> None:
    own = header({"research": {10: 3}, "solution": {10: 3}})
    [m] = forecast(own, [milestone()], Reference.empty(), today=PLAN - timedelta(days=60)).milestones
    assert m.p50_on == PLAN + timedelta(days=10)
    assert m.p50_slip_days == 10
    # Six of this project's milestones weigh 6 / (6 + 3) = 2/3, the prior 1/3, 0.8 of it below 10 days:
    # 0.27 + 0.67 of the blend is at most 10 days late, so P80 is 10 days too.
    assert m.own_weight == pytest.approx(6 / (6 + OWN_K), abs=1e-3)
    assert m.p80_slip_days == 10


def test_one_earlier_milestone_leaves_more_room_to_the_prior() -> None:
    own = header({"research": {10: 1}})
    [m] = forecast(own, [milestone()], Reference.empty(), today=PLAN - timedelta(days=60)).milestones
    # Own weight 1 / (1 + 3); the prior's 3/4 puts 0.8 x 3/4 = 0.6 of the blend at a week or less: P50 = 7 days,
    # and P80 = 10 (0.6 + 1/4).
    assert (m.p50_slip_days, m.p80_slip_days) == (7, 10)


def test_much_own_evidence_pins_both_quantiles() -> None:
    own = header({"development": {10: 400}})
    [m] = forecast(own, [milestone()], Reference.empty(), today=PLAN - timedelta(days=60)).milestones
    assert (m.p50_slip_days, m.p80_slip_days) == (10, 10)


def test_a_large_reference_class_decides_when_the_project_has_no_history() -> None:
    ref = Reference({"uat": {5: 90, 20: 10}}, projects=12)
    result = forecast(header(), [milestone()], ref, today=PLAN - timedelta(days=60))
    [m] = result.milestones
    assert m.p50_on == PLAN + timedelta(days=5)
    # 90% of the class finished 5 days late, but 1 - Zr of the weight (REFERENCE_K / 105) goes to the prior.
    assert m.p80_slip_days == 5
    assert result.basis.reference_milestones == 100 and result.basis.reference_projects == 12
    assert result.basis.own_milestones == 0


def test_only_the_same_stage_of_the_reference_class_counts() -> None:
    ref = Reference({"research": {40: 500}, "uat": {0: 500}}, projects=3)
    [m] = forecast(header(), [milestone("uat")], ref, today=PLAN - timedelta(days=60)).milestones
    assert (m.p50_slip_days, m.p80_slip_days) == (0, 0)
    assert m.reference_milestones == 500


def test_with_no_evidence_the_prior_answers_and_is_not_a_risk() -> None:
    result = forecast(header(), [milestone("launch")], Reference.empty(), today=PLAN - timedelta(days=60))
    [m] = result.milestones
    assert m.prior_weight == 1.0
    assert m.p50_slip_days == Blend(((1.0, PRIOR),)).quantiles([0.5])[0]
    assert result.launch is not None and not result.launch.at_risk
    assert launch_p80(header(), MilestoneRef(id="M9", stage="launch", due_on=PLAN, original_due_on=PLAN),
                      Reference.empty()) is None


def test_a_milestone_past_due_is_never_forecast_before_today() -> None:
    today = PLAN + timedelta(days=25)
    own = header({"development": {10: 50}})
    [m] = forecast(own, [milestone()], Reference.empty(), today=today).milestones
    # Every own milestone finished 10 days late, but this one is still open 25 days after its plan.
    assert m.p50_on >= today and m.p80_on >= today


def test_a_milestone_past_due_keeps_the_late_tail_of_the_evidence() -> None:
    today = PLAN + timedelta(days=15)
    own = header({"development": {10: 500, 20: 300, 40: 200}})
    [m] = forecast(own, [milestone()], Reference.empty(), today=today).milestones
    # Given at least 15 days late, the evidence says 20 (3/5 of what is left) or 40 (2/5).
    assert m.p50_slip_days == 20
    assert m.p80_slip_days == 40


def test_a_milestone_moved_later_is_not_forecast_before_its_new_date() -> None:
    own = header({"development": {0: 100}})
    moved = milestone(due=PLAN + timedelta(days=30), original=PLAN)
    [m] = forecast(own, [moved], Reference.empty(), today=PLAN - timedelta(days=60)).milestones
    assert m.p50_on == PLAN + timedelta(days=30)


def test_launch_is_the_last_open_milestone_and_at_risk_when_p80_passes_the_plan() -> None:
    own = header({"development": {10: 40}})
    early, last = milestone("uat", PLAN, mid="M1"), milestone("launch", PLAN + timedelta(days=30), mid="M2")
    result = forecast(own, [early, last], Reference.empty(), today=PLAN - timedelta(days=60))
    assert result.launch is not None
    assert result.launch.planned_on == PLAN + timedelta(days=30)
    assert result.launch.p50_on == PLAN + timedelta(days=40)
    assert result.launch.at_risk and result.launch.p80_days_after_plan >= 10
    assert launch_p80(own, MilestoneRef(id="M2", stage="launch", due_on=last.due_on, original_due_on=last.due_on),
                      Reference.empty()) == result.launch.p80_on


def test_on_time_history_is_not_at_risk() -> None:
    own = header({"development": {0: 40}, "uat": {-2: 10}})
    result = forecast(own, [milestone("launch")], Reference.empty(), today=PLAN - timedelta(days=60))
    assert result.launch is not None and not result.launch.at_risk


def test_done_milestones_and_launched_projects_are_not_forecast() -> None:
    done = milestone()
    done.completed_on = PLAN
    launched = header({"uat": {0: 1}})
    launched.launched = True
    result = forecast(launched, [done], Reference.empty(), today=PLAN)
    assert result.milestones == [] and result.launch is None


def test_weights_sum_to_one_and_move_with_evidence() -> None:
    for n_own, n_ref in ((0, 0), (3, 0), (0, 40), (6, 41), (100, 1000)):
        assert sum(weights(n_own, n_ref)) == pytest.approx(1.0)
    assert weights(OWN_K, 0)[0] == pytest.approx(0.5)
    assert weights(0, REFERENCE_K)[1] == pytest.approx(0.5)


def test_the_reference_class_leaves_the_project_itself_out() -> None:
    own = header({"uat": {3: 2}})
    ref = Reference({"uat": {3: 5, 8: 1}}, projects=4).without(own)
    assert ref.by_stage["uat"] == {3: 3, 8: 1}
    assert ref.projects == 3


def test_contributions_add_up_and_a_change_of_template_moves_them() -> None:
    kept = reference.InMemory()
    first = header({"uat": {3: 1}})
    kept.add(reference.difference({}, reference.contribution(first)))
    second = header({"uat": {3: 1, 9: 1}})
    kept.add(reference.difference(reference.contribution(first), reference.contribution(second)))
    assert kept.reference("crm_rollout") == Reference({"uat": {3: 1, 9: 1}}, 1)
    moved = header({"uat": {3: 1, 9: 1}}, template="generic")
    kept.add(reference.difference(reference.contribution(second), reference.contribution(moved)))
    assert kept.reference("crm_rollout").count() == 0 and kept.reference("crm_rollout").projects == 0
    assert kept.reference("generic").count() == 2
    assert reference.contribution(header({"uat": {1: 1}}, template=None)) == {}


def test_slips_are_clamped_so_the_histograms_stay_bounded() -> None:
    from projections.forecast import slip_of

    m = milestone()
    m.completed_on = PLAN + timedelta(days=5000)
    assert slip_of(m) == SLIP_MAX


def test_dates_at_the_calendar_ends_are_held_there() -> None:
    own = header({"development": {30: 10}})
    far, early = milestone(due=date.max, mid="M1"), milestone(due=date.min, mid="M2")
    result = forecast(own, [far, early], Reference.empty(), today=PLAN)
    assert {m.id: m.p80_on for m in result.milestones} == {"M1": date.max, "M2": PLAN}
    assert launch_p80(own, MilestoneRef(id="M1", stage="uat", due_on=date.max, original_due_on=date.max),
                      Reference.empty()) == date.max


def test_a_project_keeps_its_place_among_its_peers_from_stage_to_stage() -> None:
    # Its research milestones finished 10 days late, the later half of its peers (mid-rank 0.75); its peers'
    # UAT runs 20 or 40 days late: the 75th percentile of that is 40, not the project's own 10.
    ref = Reference({"research": {0: 50, 10: 50}, "uat": {20: 50, 40: 50}}, projects=20)
    [m] = forecast(header({"research": {10: 30}}), [milestone("uat")], ref, today=PLAN - timedelta(days=60)).milestones
    assert (m.p50_slip_days, m.p80_slip_days) == (40, 40)


def test_a_project_ahead_of_late_peers_is_forecast_ahead_of_them() -> None:
    # On time where nine in ten peers were late (mid-rank 0.05): the peers' best UAT slip, 5 days, not their 15.
    ref = Reference({"research": {0: 10, 5: 10, 10: 80}, "uat": {5: 10, 15: 80, 30: 10}}, projects=20)
    [m] = forecast(header({"research": {0: 30}}), [milestone("uat")], ref, today=PLAN - timedelta(days=60)).milestones
    assert m.p50_slip_days == 5


def test_without_peers_for_the_open_stage_the_project_s_own_slips_stand() -> None:
    # The prior is no peer group: ranks are not carried into it.
    ref = Reference({"research": {0: 50, 10: 50}}, projects=20)
    [m] = forecast(header({"research": {10: 30}}), [milestone("uat")], ref, today=PLAN - timedelta(days=60)).milestones
    assert (m.p50_slip_days, m.p80_slip_days) == (10, 10)


def test_ranks_and_quantiles_of_a_histogram() -> None:
    peers = Cumulative({0: 1, 10: 2, 20: 1})
    assert [peers.rank(s) for s in (-5, 0, 10, 15, 20, 30)] == [0.0, 0.125, 0.5, 0.75, 0.875, 1.0]
    assert [peers.quantile(q) for q in (0.0, 0.25, 0.26, 0.75, 0.8, 1.0)] == [0, 0, 10, 10, 20, 20]
    assert Cumulative({}).rank(3) is None
