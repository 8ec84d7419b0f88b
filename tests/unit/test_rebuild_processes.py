"""`delivery rebuild` folds with a second process only where it pays: a large store and a second core."""

from __future__ import annotations

from projections.rebuild import PARALLEL_FROM_EVENTS, auto_processes


def test_a_small_store_or_a_single_core_folds_in_one_process() -> None:
    assert auto_processes(PARALLEL_FROM_EVENTS - 1, cores=8) == 1
    assert auto_processes(10 * PARALLEL_FROM_EVENTS, cores=1) == 1


def test_a_large_store_on_several_cores_folds_in_two() -> None:
    assert auto_processes(PARALLEL_FROM_EVENTS, cores=2) == 2
    assert auto_processes(10 * PARALLEL_FROM_EVENTS, cores=16) == 2  # a third was slower than one (PostgreSQL)
    assert auto_processes(PARALLEL_FROM_EVENTS) in (1, 2)  # this machine's cores
