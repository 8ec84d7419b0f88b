"""Faults on PostgreSQL, for real: the worker through a database restart, an outage at start and SIGTERM;
many processes creating the schema at once; text PostgreSQL cannot store.

Each test runs real processes (`delivery worker`, `python -c ...`) against a real
server: a private cluster (tests/pg_cluster.py) when the test stops or restarts
it, the shared test server otherwise. Every wait has a deadline and every
process is killed on the way out, so a hang fails one test instead of the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.service import ReadSide
from tests.e2e.conftest import Api, make_api
from tests.pg_cluster import PrivateCluster, private_postgres_fixture  # noqa: F401 (the private_postgres fixture)

pytestmark = pytest.mark.postgres

# The console script installed beside the interpreter running the tests (.venv/bin/delivery under `make test`).
DELIVERY_CLI = Path(sys.executable).parent / "delivery"
VIEWS_DEADLINE = 20.0  # seconds the views get to reach an event once the database is reachable
STOP_DEADLINE = 2.0  # seconds a worker gets to exit after SIGTERM at the end of a test
OUTAGE_AT_START = 12.0  # seconds the database stays down after a worker starts


# ------------------------------------------------------------- helpers


@dataclass
class Worker:
    """A `delivery worker` process and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self, tail: int = 30) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail:])

    def terminate_within(self, seconds: float) -> tuple[float, int]:
        """SIGTERM, then the seconds it took to exit and its exit code; fails the test past `seconds`."""
        assert self.alive(), f"the worker had already exited ({self.proc.returncode}):\n{self.log()}"
        sent = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit within {seconds:g} s of SIGTERM:\n{self.log()}")
        return time.monotonic() - sent, code


@contextmanager
def worker_process(url: str, log_path: Path, *args: str) -> Iterator[Worker]:
    """`delivery worker` on `url` as a subprocess; killed on the way out if still running."""
    env = {**os.environ, "DELIVERY_DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(DELIVERY_CLI), "worker", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd=log_path.parent,
        )
    try:
        yield Worker(proc, log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def wait_until(what: str, check: Callable[[], bool], timeout: float, worker: Worker | None = None) -> None:
    """Poll `check` until it holds; an exception counts as "not yet". Fails fast if the worker exits."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if check():
                return
        except Exception as exc:  # the database restarting, a table not created yet: try again
            last_error = exc
        if worker is not None and not worker.alive():
            pytest.fail(f"the worker exited ({worker.proc.returncode}) while waiting for {what}:\n{worker.log()}")
        if time.monotonic() > deadline:
            detail = f"; last error: {last_error!r}" if last_error else ""
            log = f"\nworker output:\n{worker.log()}" if worker is not None else ""
            pytest.fail(f"{what} did not happen within {timeout:g} s{detail}{log}")
        time.sleep(0.1)


@contextmanager
def reader(url: str) -> Iterator[ReadSide]:
    """The views of `url`, read the way the API reads them (no catching up in this process)."""
    app = DeliveryApplication(Database(url))
    try:
        with ReadSide(app) as views:
            yield views
    finally:
        app.close()


def prepare_schema(url: str) -> None:
    """Create the store's and the views' tables, as the first API process does, before a worker starts.

    The race of many processes creating them at once has a test of its own (below); the other tests
    keep it out of the way so that they fail only for their own reason.
    """
    with reader(url):
        pass


def scope_titles(views: ReadSide, project_id: str) -> list[str]:
    return [item.title for item in views.summary(project_id).scope]


def write_scope(url: str, project_id: str | None, titles: list[str]) -> str:
    """With a fresh application: create a project when `project_id` is None, then add scope items."""
    app = DeliveryApplication(Database(url))
    try:
        if project_id is None:
            project_id = str(app.create_project(name="CRM rollout", client="Northwind", actor="pm").value)
        for title in titles:
            app.add_scope_item(project_id, title=title, tier="core", actor="pm")
    finally:
        app.close()
    return project_id


# ------------------------------------------------------ the worker's faults


def test_worker_survives_a_database_restart(private_postgres: PrivateCluster, tmp_path: Path) -> None:
    url = private_postgres.url
    prepare_schema(url)
    with worker_process(url, tmp_path / "worker.log") as worker:
        pid = write_scope(url, None, ["Checkout", "Coupons"])
        with reader(url) as views:
            wait_until("the views showing the first events",
                       lambda: scope_titles(views, pid) == ["Checkout", "Coupons"], VIEWS_DEADLINE, worker)

        private_postgres.restart(downtime=1.0)

        write_scope(url, pid, ["Membership"])
        with reader(url) as views:
            wait_until("the views showing the events written after the restart",
                       lambda: scope_titles(views, pid) == ["Checkout", "Coupons", "Membership"],
                       VIEWS_DEADLINE, worker)
        assert worker.alive(), worker.log()

        _elapsed, code = worker.terminate_within(STOP_DEADLINE)
        assert code == 0, worker.log()


def test_worker_started_while_the_database_is_down_waits_for_it(
    private_postgres: PrivateCluster, tmp_path: Path,
) -> None:
    url = private_postgres.url
    prepare_schema(url)
    private_postgres.stop()
    with worker_process(url, tmp_path / "worker.log") as worker:
        time.sleep(2.0)
        assert worker.alive(), f"the worker gave up on a database that is down:\n{worker.log()}"
        # Stay down past the store's own connection timeout (10 s, delivery/settings.py): a worker that
        # only rides on the pool's patience gives up here, one that waits for the database does not.
        time.sleep(OUTAGE_AT_START - 2.0)
        assert worker.alive(), f"the worker gave up on a database that is down:\n{worker.log()}"

        private_postgres.start()
        pid = write_scope(url, None, ["Checkout"])
        with reader(url) as views:
            wait_until("the views showing events written once the database came up",
                       lambda: scope_titles(views, pid) == ["Checkout"], VIEWS_DEADLINE, worker)

        _elapsed, code = worker.terminate_within(STOP_DEADLINE)
        assert code == 0, worker.log()


def test_sigterm_stops_an_idle_worker_within_a_second(private_postgres: PrivateCluster, tmp_path: Path) -> None:
    # A private cluster: on the shared server other tests' NOTIFYs would wake the worker and hide a slow stop.
    url = private_postgres.url
    prepare_schema(url)
    # A poll far longer than the deadline: the signal must cut the idle wait, not be noticed at the next poll.
    with worker_process(url, tmp_path / "worker.log", "--poll", "10") as worker:
        pid = write_scope(url, None, ["Checkout"])
        with reader(url) as views:
            wait_until("the worker applying an event", lambda: scope_titles(views, pid) == ["Checkout"],
                       VIEWS_DEADLINE, worker)
        time.sleep(1.0)  # nothing more to apply: the worker is idle now
        assert worker.alive(), worker.log()

        elapsed, code = worker.terminate_within(1.0)
        assert code == 0, worker.log()
        assert elapsed < 1.0


# ------------------------------------------------- many processes at once

# Each process imports everything, says it is ready, and waits for the go signal so that all of
# them create the tables at the same moment.
STARTER = """
import sys, time
from pathlib import Path
from api.app import create_app
from delivery.settings import Database

here, me = Path(sys.argv[1]), sys.argv[2]
(here / f"ready-{me}").touch()
deadline = time.monotonic() + 30
while not (here / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.002)
create_app(Database.from_env()).state.services.close()
"""

PROCESSES = 6
ROUNDS = 3


def test_processes_starting_together_on_an_empty_schema_all_start(
    private_postgres: PrivateCluster, tmp_path: Path,
) -> None:
    for round_ in range(ROUNDS):
        schema = f"round_{round_}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(private_postgres.url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{private_postgres.url}?schema={schema}"
        here = tmp_path / schema
        here.mkdir()
        env = {**os.environ, "DELIVERY_DATABASE_URL": url}
        procs = [
            subprocess.Popen([sys.executable, "-c", STARTER, str(here), str(i)], env=env, cwd=here,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for i in range(PROCESSES)
        ]
        try:
            deadline = time.monotonic() + 30
            while len(list(here.glob("ready-*"))) < PROCESSES:
                exited = [p for p in procs if p.poll() is not None]
                if exited:
                    _out, err = exited[0].communicate(timeout=10)
                    pytest.fail(f"a process exited before the go signal:\n{err.decode(errors='replace')}")
                if time.monotonic() > deadline:
                    pytest.fail("the processes did not get ready within 30 s")
                time.sleep(0.01)
            (here / "go").touch()
            failures = []
            for i, proc in enumerate(procs):
                _out, err = proc.communicate(timeout=30)
                if proc.returncode != 0:
                    failures.append(f"process {i} exited {proc.returncode}:\n{err.decode(errors='replace')[-3000:]}")
            assert not failures, f"round {round_}: " + "\n".join(failures)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)


# ------------------------------------------- text PostgreSQL cannot store


@pytest.fixture
def api_with_worker(postgres_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API as it runs on PostgreSQL: views kept by a `delivery worker` process, reads wait for it."""
    apis = make_api(Database(postgres_url), live=False)
    api = next(apis)
    try:
        with worker_process(postgres_url, tmp_path / "worker.log") as worker:
            yield api
            assert worker.alive(), worker.log()
    finally:
        next(apis, None)


def post_raw(api: Api, path: str, payload: dict[str, Any]) -> Any:
    # json.dumps escapes NUL as \\u0000 and a lone surrogate as \\ud800: valid JSON, as a client would send it.
    # (httpx's own encoder would put a raw NUL in the body, which is not JSON at all.)
    return api.client.post(path, content=json.dumps(payload).encode("ascii"),
                           headers=api.headers("pm", **{"Content-Type": "application/json"}))


def max_position(api: Api) -> int:
    return api.app.state.services.app.recorder.max_notification_id() or 0


MILESTONE = {"stage": "research", "due_on": "2026-12-01", "deliverables": []}
CHANGE_REQUEST = {"requested_by": "Client PO", "kind": "add", "tier": "value_added"}


@pytest.mark.parametrize(
    ("where", "stages", "field", "payload"),
    [
        pytest.param("", [], "name", {"name": "a\u0000b", "client": "Acme"}, id="project-name-NUL"),
        pytest.param("", [], "client", {"name": "Mall", "client": "Ac\ud800me"}, id="project-client-lone-surrogate"),
        pytest.param("milestones", [], "title", {"title": "Inter\u0000views", **MILESTONE}, id="milestone-title-NUL"),
        # Change requests start once the baseline freezes (on leaving solution): get there first, so that
        # only the title can be the reason for a refusal.
        pytest.param("change-requests", ["solution", "planning"], "title", {"title": "Coupons\u0000", **CHANGE_REQUEST},
                     id="change-request-title-NUL"),
    ],
)
def test_text_postgresql_cannot_store_is_refused_naming_the_field(
    api_with_worker: Api, where: str, stages: list[str], field: str, payload: dict[str, Any],
) -> None:
    api = api_with_worker
    pid = api.ok("pm", "POST", "/api/v1/projects", {"name": "CRM rollout", "client": "Northwind"}, status=201)["id"]
    for stage in stages:
        api.ok("pm", "POST", f"/api/v1/projects/{pid}/transitions", {"to_stage": stage})
    path = f"/api/v1/projects/{pid}/{where}" if where else "/api/v1/projects"
    before = max_position(api)

    response = post_raw(api, path, payload)

    assert response.status_code == 422, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_input", error
    assert error["details"].get("field") == field or field in error["message"], error
    assert max_position(api) == before, "the refused write was recorded"

    # The views are not stuck behind an event they cannot hold: the next write is answered and seen.
    created = api.ok("pm", "POST", "/api/v1/projects", {"name": "Loyalty app", "client": "Acme"}, status=201)
    assert api.ok("pm", "GET", f"/api/v1/projects/{created['id']}")["name"] == "Loyalty app"
    listed = api.ok("pm", "GET", "/api/v1/projects")["items"]
    assert sorted(row["name"] for row in listed) == ["CRM rollout", "Loyalty app"]
