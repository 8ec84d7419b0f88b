"""The forecast's bench (bench/forecast.py, bench/histories.py): no future in a forecast, and sources that hold."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from delivery.demo import PORTFOLIO
from projections.events import kind

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # bench/forecast.py imports its sibling `histories` by name
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load("forecast")


@pytest.fixture(scope="module")
def histories() -> ModuleType:
    return _load("histories")


@pytest.mark.parametrize("source", ["synthetic", "cascade", "demo"])
def test_a_forecast_is_the_same_whether_or_not_the_future_is_recorded(bench: ModuleType, source: str) -> None:
    events: list[Any] = list({"synthetic": lambda: bench.synthetic_events(24, 3),
                              "cascade": lambda: bench.cascade_events(24, 3),
                              "demo": lambda: bench.demo_events(22, 3)}[source]())
    moments = sorted(e.timestamp for e in events)
    cut = moments[len(moments) * 2 // 3]
    full: list[Any] = []
    bench.replay(events, source, full)
    past: list[Any] = []
    bench.replay([e for e in events if e.timestamp <= cut], source, past)
    made_by_cut = [f for f in full if f[0] <= cut]
    # Not vacuous: forecasts were made before the cut and after it, and some of the first were scored later.
    assert len(made_by_cut) > 20 and len(full) > len(made_by_cut)
    assert made_by_cut == past


def test_the_replay_scores_each_forecast_against_the_date_that_came(bench: ModuleType) -> None:
    score = bench.replay(list(bench.synthetic_events(40, 5)), "synthetic").summary()
    assert score["forecasts"] > 100 and score["milestones"] > 50
    assert 0 < score["p50_coverage_pct"] <= score["p80_coverage_pct"] <= 100


def test_the_cascade_process_is_late_heavy_tailed_and_moves_dates(bench: ModuleType) -> None:
    events = list(bench.cascade_events(60, 11))
    kinds = Counter(kind(e) for e in events)
    assert kinds["MilestoneRescheduled"] > 10
    planned = {(e.originator_id, e.milestone_id): e.due_on for e in events if kind(e) == "MilestonePlanned"}
    slips = sorted((e.completed_on - planned[e.originator_id, e.milestone_id]).days
                   for e in events if kind(e) == "MilestoneCompleted")
    assert sum(s < 0 for s in slips) < len(slips) * 0.2  # rarely early
    assert slips[-1] > 5 * slips[len(slips) // 2] > 0  # a long late tail
    again = [(kind(e), getattr(e, "due_on", None)) for e in bench.cascade_events(60, 11)]
    assert again == [(kind(e), getattr(e, "due_on", None)) for e in events]  # seeded


def test_no_pace_keeps_the_scripts_days(histories: ModuleType) -> None:
    pace = histories.Pace.none()
    assert [pace.day(d) for d in (-150, -3, 0, 12)] == [-150, -3, 0, 12]


@pytest.mark.parametrize("script", PORTFOLIO, ids=lambda s: s.name[:12])
def test_a_paced_copy_keeps_its_order_and_its_last_day(histories: ModuleType, script: Any) -> None:
    days = sorted({script.started, *(s.day for s in script.steps)})
    paces = [histories.Pace.drawn(script, random.Random(seed)) for seed in range(20)]
    for pace in paces:
        moved = [pace.day(d) for d in days]
        assert moved == sorted(moved)
        assert moved[-1] == days[-1]  # a project under way now stays under way
    if len(days) > 3:
        assert len({tuple(pace.day(d) for d in days) for pace in paces}) > 10  # copies differ


def test_every_paced_script_still_passes_its_rules(histories: ModuleType) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for number, script in enumerate(PORTFOLIO):
        for seed in (1, 2, 3):
            built = histories.Built(histories.Spec(script, script.name, 10**9, pad=False, seed=seed + number,
                                                   vary=True))
            for _ in histories.history(built, now):
                pass
            plain = histories.Built(histories.Spec(script, script.name, 10**9, pad=False))
            for _ in histories.history(plain, now):
                pass
            assert built.version == plain.version  # the same commands, at other moments
