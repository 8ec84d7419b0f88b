"""Faults on PostgreSQL, for real: the worker through a database restart, an outage at start and SIGTERM;
many processes creating the schema at once; text PostgreSQL cannot store; two stores in one database.

Each test runs real processes (`delivery worker`, `python -c ...`) against a private
cluster (tests/pg_cluster.py): one of its own when the test stops or restarts it, one
per module otherwise (a fresh schema per test), never the machine's shared server,
where other runs' stores would share the database. Every wait has a deadline and
every process is killed on the way out, so a hang fails one test instead of the suite.
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
from tests.pg_cluster import (  # noqa: F401 (the fixtures private_postgres and module_private_postgres)
    PrivateCluster,
    module_private_postgres_fixture,
    private_postgres_fixture,
)

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


def new_schema(cluster: PrivateCluster, name: str | None = None) -> str:
    """The URL of a store in a new, empty schema of `cluster`."""
    schema = name or f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{cluster.url}?schema={schema}"


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


def test_sigterm_stops_an_idle_worker_within_a_second(
    module_private_postgres: PrivateCluster, tmp_path: Path,
) -> None:
    # A private cluster: on the shared server other runs' writes could wake the worker and hide a slow stop.
    url = new_schema(module_private_postgres)
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

# Each process imports everything once and says it is ready; then, round after round, it waits for the
# round's go signal and builds the API on that round's empty schema, at the same moment as the others.
# (Importing once keeps the test's cost in the race, not in starting interpreters.)
STARTER = """
import sys, time
from pathlib import Path
from api.app import create_app
from delivery.settings import Database

here, me, base, schemas = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
(here / f"ready-{me}").touch()
for schema in schemas:
    deadline = time.monotonic() + 60
    while not (here / f"go-{schema}").exists():
        if time.monotonic() > deadline:
            sys.exit(f"no go signal for {schema}")
        time.sleep(0.002)
    create_app(Database(f"{base}?schema={schema}")).state.services.close()
    (here / f"done-{schema}-{me}").touch()
"""

PROCESSES = 6
ROUNDS = 3
ROUND_DEADLINE = 30.0


def wait_for_files(what: str, here: Path, pattern: str, procs: list[subprocess.Popen[bytes]],
                   logs: list[Path]) -> None:
    """Until every process has left a file matching `pattern`; fails at once if one exits first."""
    deadline = time.monotonic() + ROUND_DEADLINE
    while len(list(here.glob(pattern))) < len(procs):
        for i, proc in enumerate(procs):
            if proc.poll() is not None and not (here / pattern.replace("*", str(i))).exists():
                pytest.fail(f"process {i} exited {proc.returncode} {what}:\n"
                            + logs[i].read_text(errors="replace")[-4000:])
        if time.monotonic() > deadline:
            pytest.fail(f"the processes were not all {what} within {ROUND_DEADLINE:g} s")
        time.sleep(0.01)


def test_processes_starting_together_on_an_empty_schema_all_start(
    module_private_postgres: PrivateCluster, tmp_path: Path,
) -> None:
    cluster = module_private_postgres
    schemas = [f"round_{n}_{uuid.uuid4().hex[:8]}" for n in range(ROUNDS)]
    logs = [tmp_path / f"process-{i}.log" for i in range(PROCESSES)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, log in enumerate(logs):
            with log.open("wb") as out:
                procs.append(subprocess.Popen(
                    [sys.executable, "-c", STARTER, str(tmp_path), str(i), cluster.url, *schemas],
                    cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                ))
        wait_for_files("ready", tmp_path, "ready-*", procs, logs)
        for schema in schemas:
            new_schema(cluster, schema)
            (tmp_path / f"go-{schema}").touch()
            wait_for_files(f"done with {schema}", tmp_path, f"done-{schema}-*", procs, logs)
        for i, proc in enumerate(procs):
            code = proc.wait(timeout=ROUND_DEADLINE)
            assert code == 0, f"process {i} exited {code}:\n" + logs[i].read_text(errors="replace")[-4000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


# ------------------------------------------- text PostgreSQL cannot store


@pytest.fixture
def api_with_worker(module_private_postgres: PrivateCluster, tmp_path: Path) -> Iterator[Api]:
    """The API as it runs on PostgreSQL: views kept by a `delivery worker` process, reads wait for it.

    In a fresh schema of a private cluster: on the shared server, other runs' stores would share its database.
    """
    url = new_schema(module_private_postgres)
    apis = make_api(Database(url), live=False)
    api = next(apis)
    try:
        with worker_process(url, tmp_path / "worker.log") as worker:
            # A write waits 3 s for the views (WAIT_SECONDS): on a busy machine the worker's start-up alone
            # (imports, opening the store) can take longer, so the test begins once the worker follows.
            log_path = tmp_path / "worker.log"
            wait_until("the worker following the store",
                       lambda: "worker following" in log_path.read_text(errors="replace"), 60, worker)
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
        current = api.ok("pm", "GET", f"/api/v1/projects/{pid}")["stage"]
        api.ok("pm", "POST", f"/api/v1/projects/{pid}/stage-plan-waivers", {"stage": current, "reason": "Not planned"})
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


# ------------------------------------------ two stores in one database


def test_two_stores_in_two_schemas_of_one_database_keep_to_themselves(
    module_private_postgres: PrivateCluster, tmp_path: Path,
) -> None:
    """`?schema=` makes a store of its own (README): its processes neither wait on nor listen to another's."""
    north, south = new_schema(module_private_postgres), new_schema(module_private_postgres)
    prepare_schema(south)
    apis = make_api(Database(north), live=False)  # reads wait for the north worker
    api = next(apis)
    try:
        with (worker_process(north, tmp_path / "north.log") as north_worker,
              worker_process(south, tmp_path / "south.log") as south_worker):
            # The south store moves ahead first (positions 1-5) ...
            south_pid = write_scope(south, None, ["Checkout", "Coupons", "Membership", "Points"])
            with reader(south) as views:
                wait_until("the south store's views showing its events",
                           lambda: len(scope_titles(views, south_pid)) == 4, VIEWS_DEADLINE, south_worker)
            time.sleep(0.5)  # whatever the south worker announced has reached the north API by now
            # ... so a north write at position 1 is answered only once the north worker has applied it.
            created = api.ok("pm", "POST", "/api/v1/projects", {"name": "Loyalty app", "client": "Acme"},
                             status=201)
            assert api.ok("pm", "GET", f"/api/v1/projects/{created['id']}")["name"] == "Loyalty app"
            assert north_worker.alive(), north_worker.log()
    finally:
        next(apis, None)
