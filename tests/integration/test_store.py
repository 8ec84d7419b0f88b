"""The event store on SQLite and PostgreSQL: reloads, snapshots, unknown ids and racing writers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from delivery import clock
from delivery.application import DeliveryApplication, Recorded
from delivery.errors import DeliveryError, NotFound, VersionConflict, VersionMismatch
from delivery.project import Project
from delivery.settings import Database
from delivery.stages import Stage
from tests.golden.make_golden import Recorder, play_full_lifecycle

PM = "pm@agency"
START = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def app(database: Database) -> Iterator[DeliveryApplication]:
    application = DeliveryApplication(database)
    yield application
    application.close()


@pytest.fixture
def second_app(database: Database) -> Iterator[DeliveryApplication]:
    """Another process's view of the same store: its own application and connections."""
    application = DeliveryApplication(database)
    yield application
    application.close()


def replay(app: DeliveryApplication, pid: UUID, version: int | None = None) -> Project:
    """The project from its events alone, no snapshot."""
    project: Any = None
    for event in app.events.get(pid, lte=version):
        project = event.mutate(project)
    assert isinstance(project, Project)
    return project


def new_project(app: DeliveryApplication, name: str = "Race track") -> UUID:
    with clock.frozen_at(START):
        pid: UUID = app.create_project(name=name, client="Northwind Trading Co.", actor=PM).value
    return pid


def assert_stream_intact(app: DeliveryApplication, pid: UUID, accepted: int) -> None:
    """Nothing lost, nothing doubled: versions 1..N, one event per accepted command, unique positions."""
    versions = [e.originator_version for e in app.events.get(pid)]
    assert versions == list(range(1, accepted + 2))  # + the creation
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    ids = [n.id for n in notifications]
    assert len(ids) == len(set(ids))
    mine = [n for n in notifications if n.originator_id == pid]
    assert sorted(n.originator_version for n in mine) == versions


# ------------------------------------------------------------------ reloading


def test_a_full_lifecycle_persists_and_reloads_equal(
    app: DeliveryApplication, second_app: DeliveryApplication
) -> None:
    pid = play_full_lifecycle(app)

    original = app.get_project(pid)
    reloaded = second_app.get_project(pid)

    assert reloaded == original
    assert reloaded == replay(second_app, pid)
    assert reloaded.launched and reloaded.stage_id == "launch"
    assert reloaded.change_requests["CR1"].cost == original.change_requests["CR1"].cost
    assert [(type(e), e.timestamp) for e in second_app.events.get(pid)] == [
        (type(e), e.timestamp) for e in app.events.get(pid)
    ]


def test_a_fresh_application_on_the_same_url_sees_writes_both_ways(
    app: DeliveryApplication, second_app: DeliveryApplication
) -> None:
    pid = new_project(app, "优购生鲜小程序")
    assert second_app.get_project(pid).name == "优购生鲜小程序"

    second_app.add_scope_item(pid, title="预约自提", tier="core", actor=PM)

    assert [i.title for i in app.get_project(pid).scope.values()] == ["预约自提"]
    assert app.recorder.max_notification_id() == second_app.recorder.max_notification_id() == 2


def test_an_unknown_project_is_not_found(app: DeliveryApplication) -> None:
    new_project(app)
    for unknown in (uuid4(), str(uuid4()), "not-a-uuid"):
        with pytest.raises(NotFound):
            app.get_project(unknown)
        with pytest.raises(NotFound):
            app.add_scope_item(unknown, title="Login", tier="core", actor=PM)


# ------------------------------------------------------------------ snapshots


def play_long_history(app: DeliveryApplication) -> UUID:
    """A project with well over 120 events of every shape a snapshot must carry."""
    run = Recorder(app, START)
    pid: UUID = run("create_project", name="Long history", client="Acme Machinery Parts")
    for n in range(8):
        run("add_scope_item", title=f"Feature {n}", tier=("core", "touchpoint", "value_added")[n % 3])
    run("define_funnel", steps=[{"name": s, "expected_rate": r} for s, r in (("Visit", 60), ("Ask", 40), ("Buy", 15))])
    m1 = run("plan_milestone", title="Research", stage="research", due_on=date(2026, 4, 20), deliverables=["Notes"])
    c1 = run("add_criterion", milestone_id=m1, text="p95", metric={"name": "p95", "comparator": "<=",
                                                                    "threshold": 900, "unit": "ms"})
    for n in range(30):  # a milestone that keeps slipping
        run("reschedule_milestone", milestone_id=m1, due_on=date(2026, 4, 21) + timedelta(days=n),
            reason=f"Slip {n}")
    run("reject_criterion", criterion_id=c1, reason="Too slow")
    run("verify_criterion", criterion_id=c1, evidence="Report", measured=812.5)
    run("complete_milestone", milestone_id=m1)
    for stage in ("solution", "planning", "development"):
        if stage != "solution":
            run("waive_stage_plan", stage=Stage(stage).previous, reason="Planned elsewhere")
        run("transition", to_stage=stage)
    for n in range(6):
        cr = run("raise_change_request", title=f"Change {n}", requested_by="Client", kind="add",
                 tier="value_added", schedule_days=n, cost=f"{n}99.95")
        run(("approve_change_request", "reject_change_request")[n % 2], change_request_id=cr,
            **({"reason": "No budget"} if n % 2 else {}))
    for stage in ("integration_test", "uat", "trial"):
        run("waive_stage_plan", stage=Stage(stage).previous, reason="Planned elsewhere")
        run("transition", to_stage=stage)
    r1 = run("plan_release", version="2.0", steps=[5, 50, 100],
             health=[{"metric": "error_rate", "comparator": "<=", "threshold": 1}])
    run("start_release", release_id=r1)
    for n in range(60):
        run("record_observation", release_id=r1, metrics={"error_rate": (n % 7) / 4, "conversion": 2.5})
    return pid


def test_a_project_loaded_from_a_snapshot_equals_the_full_replay(app: DeliveryApplication) -> None:
    pid = play_long_history(app)
    events = list(app.events.get(pid))
    assert len(events) > 120

    snapshots = list(app.snapshots.get(pid)) if app.snapshots else []
    assert [s.originator_version for s in snapshots] == [50, 100]

    full = replay(app, pid)
    assert app.get_project(pid) == full
    # The latest snapshot plus the events after it, by hand, so the comparison needs no repository.
    from_snapshot: Any = snapshots[-1].mutate(None)
    for event in app.events.get(pid, gt=snapshots[-1].originator_version):
        from_snapshot = event.mutate(from_snapshot)
    assert from_snapshot == full
    for version in (49, 50, 51, 99, 100, 101, len(events) - 1):
        assert app.get_project(pid, version=version) == replay(app, pid, version), version


# ------------------------------------------------------------------ racing writers


Outcome = Recorded[Any] | DeliveryError


def race_two(
    apps: tuple[DeliveryApplication, DeliveryApplication], pid: UUID, **execute: Any
) -> tuple[dict[str, Outcome], dict[str, int]]:
    """Writers A and B load the same version and run the rule; only then do both save, at once.

    Returns each writer's outcome and how often each ran its rule.
    """
    barrier = threading.Barrier(len(apps))
    calls = {"A": 0, "B": 0}
    outcomes: dict[str, Outcome] = {}

    def command(project: Project, *, actor: str, title: str) -> str:
        item_id = project.add_scope_item(title=title, tier="core", actor=actor)
        calls[title] += 1
        if calls[title] == 1:  # a retry runs again on the fresh state without waiting
            barrier.wait(timeout=20)
        return item_id

    def run(app: DeliveryApplication, title: str) -> None:
        try:
            outcomes[title] = app.execute(pid, command, actor=PM, title=title, **execute)
        except DeliveryError as exc:
            outcomes[title] = exc

    threads = [threading.Thread(target=run, args=(a, t)) for a, t in zip(apps, calls, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(outcomes) == {"A", "B"}
    return outcomes, calls


def split(outcomes: dict[str, Outcome]) -> tuple[dict[str, Recorded[Any]], dict[str, DeliveryError]]:
    won = {k: o for k, o in outcomes.items() if isinstance(o, Recorded)}
    lost = {k: o for k, o in outcomes.items() if isinstance(o, DeliveryError)}
    return won, lost


def test_with_an_expected_version_one_racer_wins_and_the_other_gets_a_version_mismatch(
    app: DeliveryApplication, second_app: DeliveryApplication
) -> None:
    pid = new_project(app)
    outcomes, calls = race_two((app, second_app), pid, expected_version=1)

    won, lost = split(outcomes)
    assert [r.version for r in won.values()] == [2]
    assert [type(e) for e in lost.values()] == [VersionMismatch]
    assert next(iter(lost.values())).details == {"expected": 1, "actual": 2, "message_code": "version_mismatch",
                                                 "params": {"expected": 1, "actual": 2}}
    assert calls == {"A": 1, "B": 1}  # no retry: the caller decides what to do with a stale copy
    assert [i.title for i in app.get_project(pid).scope.values()] == list(won)
    assert_stream_intact(app, pid, accepted=1)


def test_without_an_expected_version_the_loser_is_replayed_on_the_fresh_state(
    app: DeliveryApplication, second_app: DeliveryApplication
) -> None:
    pid = new_project(app)
    outcomes, calls = race_two((app, second_app), pid)

    won, lost = split(outcomes)
    assert not lost
    assert sorted(r.version for r in won.values()) == [2, 3]
    assert sorted(r.value for r in won.values()) == ["S1", "S2"]
    assert sorted(calls.values()) == [1, 2]  # the loser ran its rule again, on the winner's state
    assert sorted(i.title for i in app.get_project(pid).scope.values()) == ["A", "B"]
    assert_stream_intact(app, pid, accepted=2)


def test_with_no_retries_the_loser_gets_a_version_conflict(
    app: DeliveryApplication, second_app: DeliveryApplication
) -> None:
    pid = new_project(app)
    outcomes, calls = race_two((app, second_app), pid, retries=0)

    won, lost = split(outcomes)
    assert len(won) == 1
    assert [e.code for e in lost.values()] == ["version_conflict"]
    assert all(isinstance(e, VersionConflict) for e in lost.values())
    assert calls == {"A": 1, "B": 1}
    assert [i.title for i in app.get_project(pid).scope.values()] == list(won)
    assert_stream_intact(app, pid, accepted=1)


def test_many_threads_racing_on_one_project_lose_and_double_nothing(app: DeliveryApplication) -> None:
    threads_n, per_thread = 8, 20
    total = threads_n * per_thread
    pid = new_project(app)
    barrier = threading.Barrier(threads_n)
    returned: list[Recorded[str]] = []
    failures: list[BaseException] = []
    attempts = [0]
    lock = threading.Lock()

    def add(project: Project, *, actor: str, title: str) -> str:
        with lock:
            attempts[0] += 1
        return project.add_scope_item(title=title, tier="core", actor=actor)

    def writer(t: int) -> None:
        barrier.wait(timeout=20)
        for n in range(per_thread):
            try:
                # A lost race means another command was saved, so `total` retries always suffice.
                r = app.execute(pid, add, actor=PM, retries=total, title=f"Feature {t}-{n}")
            except BaseException as exc:  # collected, and shown by the assertion below
                with lock:
                    failures.append(exc)
                return
            with lock:
                returned.append(r)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)

    assert not failures, failures[:3]
    assert len(returned) == total
    project = app.get_project(pid)
    added = [e for e in app.events.get(pid) if isinstance(e, Project.ScopeItemAdded)]
    assert len(added) == len(returned)
    assert len({r.value for r in returned}) == len(returned)  # ids distinct
    assert {r.value for r in returned} == set(project.scope)
    assert {i.title for i in project.scope.values()} == {f"Feature {t}-{n}" for t in range(threads_n)
                                                          for n in range(per_thread)}
    assert sorted(r.version for r in returned) == list(range(2, total + 2))
    assert_stream_intact(app, pid, accepted=total)
    print(f"{attempts[0] - total} lost races retried")  # shown with -s: evidence the race was real
