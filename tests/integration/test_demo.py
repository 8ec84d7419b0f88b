"""The demo portfolio loads on both stores, looks current, and `delivery demo` loads it once."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.utils import get_topic

from delivery.application import DeliveryApplication
from delivery.demo import PORTFOLIO, command_count, demo_is_loaded, load_demo
from delivery.project import Project
from delivery.settings import Database
from delivery.stages import Stage

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(database: Database) -> Iterator[DeliveryApplication]:
    application = DeliveryApplication(database)
    yield application
    application.close()


def stored_project_ids(app: DeliveryApplication) -> list[UUID]:
    created = app.recorder.select_notifications(start=1, limit=100_000, topics=[get_topic(Project.Created)])
    return [UUID(str(n.originator_id)) for n in created]


def test_the_demo_loads_a_varied_current_portfolio(app: DeliveryApplication) -> None:
    assert not demo_is_loaded(app)
    calls: list[tuple[int, int]] = []
    started = datetime.now(UTC)

    ids = load_demo(app, progress=lambda done, total: calls.append((done, total)))

    assert demo_is_loaded(app)
    total = command_count()
    assert calls == [(n, total) for n in range(1, total + 1)]
    assert len(ids) == len(PORTFOLIO) >= 8
    assert sorted(stored_project_ids(app)) == sorted(ids)
    projects = [app.get_project(pid) for pid in ids]
    today = started.date()

    # Stages: every one of the eight is somewhere in the portfolio.
    assert {p.stage_id for p in projects} == {s.value for s in Stage}
    assert any(not c.isascii() for c in (p.client for p in projects))
    assert any(c.isascii() for c in (p.client for p in projects))

    # One launched: a completed release, the funnel's actual numbers, the record closed.
    launched = [p for p in projects if p.launched]
    assert len(launched) == 1
    assert any(r.state == "completed" for r in launched[0].releases.values())
    assert all(step.actual_rate is not None for step in launched[0].funnel)
    # One in trial whose release is paused mid-ramp, and a rollback elsewhere.
    assert any(p.stage_id == "trial" and any(r.state == "paused" and 0 < r.percent < 100 for r in p.releases.values())
               for p in projects)
    assert any(r.rollbacks > 0 for p in projects for r in p.releases.values())

    # Milestones: late now (due in the past, open), rescheduled, completed late.
    milestones = [m for p in projects for m in p.milestones.values()]
    late = [m for m in milestones if not m.done and m.due_on < today]
    assert late and all(today - timedelta(days=30) <= m.due_on for m in late)
    assert any(m.reschedules for m in milestones)
    assert any(len(m.reschedules) >= 2 for m in milestones)
    assert any((m.days_late or 0) > 0 for m in milestones)

    # Criteria: measurable ones, one still rejected, and ones rejected and later verified.
    criteria = [c for p in projects for c in p.criteria.values()]
    assert {"open", "verified", "rejected", "waived"} <= {c.state for c in criteria}
    assert sum(c.metric is not None for c in criteria) >= 10
    reverified = 0
    for pid in ids:
        rejected: set[str] = set()
        for e in app.events.get(pid):
            if isinstance(e, Project.CriterionRejected):
                rejected.add(e.criterion_id)
            elif isinstance(e, Project.CriterionVerified) and e.criterion_id in rejected:
                reverified += 1
    assert reverified >= 3

    # Change requests: every outcome, some raised once development began, value-added approved early.
    changes = [(p, c) for p in projects for c in p.change_requests.values()]
    assert {c.status for _, c in changes} == {"raised", "approved", "rejected", "withdrawn", "implemented"}
    assert any(Stage(c.raised_in_stage).order >= Stage.DEVELOPMENT.order for _, c in changes)
    assert {c.kind for _, c in changes} == {"add", "modify", "remove"}
    early_value_added = 0
    for pid in ids:
        for e in app.events.get(pid):
            if isinstance(e, Project.ChangeRequestApproved):
                then = app.get_project(pid, version=e.originator_version)
                cr = then.change_requests[e.change_request_id]
                core_open = any(i.tier == "core" and i.status == "open" and i.change_request_id is None
                                for i in then.scope.values())
                early_value_added += cr.tier == "value_added" and core_open
    assert early_value_added >= 2

    # The history is simulated in the past, recorded in time order across the whole store.
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    # Every command recorded something (a creation its template's plan too, a close_stage each item).
    assert len(notifications) >= total + sum(p.baseline is not None for p in projects)
    assert len(notifications) == sum(p.version for p in projects)
    # Every project was planned from its template at creation, by its pm, and no stage passed without a plan.
    assert all(p.template is not None and p.waived_plans == {} for p in projects)
    for p in projects:
        assert {m.stage for m in p.milestones.values()} == {s.value for s in Stage}
    stamps = [e.timestamp for pid in ids for e in app.events.get(pid)]
    assert max(stamps) < started
    assert min(stamps) < started - timedelta(days=120)
    ordered = sorted((e.timestamp, pid, e.originator_version) for pid in ids for e in app.events.get(pid))
    positions = {(UUID(str(n.originator_id)), n.originator_version): n.id for n in notifications}
    assert [positions[(pid, v)] for _, pid, v in ordered] == sorted(positions.values())


def test_the_demo_dates_follow_the_day_it_is_loaded(tmp_path: Path) -> None:
    dues: list[list[date]] = []
    for n, now in enumerate((datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2027, 7, 15, 12, tzinfo=UTC))):
        app = DeliveryApplication(Database(f"sqlite:///{tmp_path / f'{n}.sqlite3'}"))
        try:
            ids = load_demo(app, now=now)
            dues.append([m.due_on for pid in ids for m in app.get_project(pid).milestones.values()])
        finally:
            app.close()
    shift = date(2027, 7, 15) - date(2026, 3, 1)
    assert [d + shift for d in dues[0]] == dues[1]


@pytest.mark.skipif(importlib.util.find_spec("projections.service") is None,
                    reason="the CLI's demo command also builds the views (projections.service)")
def test_the_cli_loads_the_demo_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env = {**os.environ, "DELIVERY_DATABASE_URL": url}

    def delivery(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main())", *args],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )

    first = delivery("demo")
    assert first.returncode == 0, first.stderr
    total = command_count()
    assert f"Recording the demo portfolio's commands: {total}/{total}" in first.stderr
    assert "Recording the demo portfolio's commands: 1/" in first.stderr  # progress as it goes, not only at the end
    assert f"Loaded {len(PORTFOLIO)} demo projects." in first.stderr

    app = DeliveryApplication(Database(url))
    try:
        ids = stored_project_ids(app)
        stages = {app.get_project(pid).stage_id for pid in ids}
        events = app.recorder.max_notification_id()
    finally:
        app.close()
    assert len(ids) == len(PORTFOLIO) >= 8
    assert {"research", "development", "uat", "trial", "launch"} <= stages

    again = delivery("demo", "--if-empty")
    assert again.returncode == 0, again.stderr
    assert "already has events" in again.stderr

    status = delivery("status")
    assert status.returncode == 0, status.stderr
    app = DeliveryApplication(Database(url))
    try:
        assert app.recorder.max_notification_id() == events  # nothing loaded twice
        assert len(stored_project_ids(app)) == len(ids)
    finally:
        app.close()
    for script in PORTFOLIO:
        assert script.name in status.stdout
