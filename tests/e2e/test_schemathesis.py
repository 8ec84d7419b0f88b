"""Schemathesis (`st run --checks all`) against a real server, and its two-user object-level check.

The pytest plugin of schemathesis does not load under pytest 9, so the CLI runs
against `delivery serve` on a free port, on a store seeded with two clients' projects.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.auth import TokenStore
from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.store import make_engine

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    project_a: str
    project_b: str
    tokens: dict[str, str]
    tmp: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("schemathesis")
    database = Database(f"sqlite:///{tmp / 'st.sqlite3'}")
    app = DeliveryApplication(database)
    a = str(app.create_project(name="Acme CRM", client="Acme", actor="seed").value)
    b = str(app.create_project(name="Globex site", client="Globex", actor="seed").value)
    app.close()
    engine = make_engine(database)
    store = TokenStore(engine)
    tokens = {
        "pm": store.create(role="pm", name="fuzz-pm")[0],
        "client_a": store.create(role="client", projects=[a], name="acme")[0],
        "client_b": store.create(role="client", projects=[b], name="globex")[0],
    }
    engine.dispose()
    port = free_port()
    # The run sends thousands of bad tokens on purpose: no 429 for them (the limit has its own tests).
    env = {**os.environ, "DELIVERY_DATABASE_URL": database.url, "DELIVERY_AUTH_FAILURES": "0"}
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen([str(BIN / "delivery"), "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("delivery serve did not start: " + (tmp / "server.log").read_text())
        yield Server(url, a, b, tokens, tmp)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def st_run(server: Server, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = server.tmp / f"st-{abs(hash(config))}.toml"
    path.write_text(config)
    command = [str(BIN / "st"), "--config-file", str(path), "--no-color", "run", f"{server.url}/openapi.json",
               "--checks", "all", "--seed", "1", *args]
    # The hooks drop one failure: a 422 for an Idempotency-Key sent again with another body (st_hooks.py).
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.e2e.st_hooks",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=env, cwd=ROOT)


# Valid-by-schema input that only the project's state refuses: a token's role (401/403), an object the
# project does not have (404), a rule of its current state (409), a stale If-Match (412); and a reused
# Idempotency-Key (422, see st_hooks.py). Any other 422 for a request the schema allows is a defect.
ACCEPTED = '["2xx", "401", "403", "404", "409", "412"]'


def test_schemathesis_all_checks_as_a_pm(server: Server) -> None:
    config = f"""
[checks.positive_data_acceptance]
expected-statuses = {ACCEPTED}

[parameters]
"path.project_id" = "{server.project_a}"
"""
    result = st_run(server, config, "-H", f"Authorization: Bearer {server.tokens['pm']}",
                    "--max-examples", "10", "--phases", "examples,coverage,fuzzing")
    assert result.returncode == 0, result.stdout[:20000]


def test_schemathesis_two_clients_never_see_each_other(server: Server) -> None:
    wfc = {"auth": [
        {"name": who, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {server.tokens[who]}"}]}
        for who in ("client_a", "client_b")
    ]}
    (server.tmp / "wfc.json").write_text(json.dumps(wfc))
    config = f"""
[auth.wfc]
path = "{server.tmp / 'wfc.json'}"
user = "client_a"
peers = ["client_a", "client_b"]

[checks.positive_data_acceptance]
expected-statuses = {ACCEPTED}

[parameters]
"path.project_id" = "{server.project_a}"
"""
    result = st_run(server, config, "--include-method", "GET", "--max-examples", "10",
                    "--phases", "examples,coverage,fuzzing")
    assert result.returncode == 0, result.stdout[:20000]
    # The check ran: client_b asked for client_a's project and was told it does not exist.
    probe = httpx.get(f"{server.url}/api/v1/projects/{server.project_a}",
                      headers={"Authorization": f"Bearer {server.tokens['client_b']}"})
    assert probe.status_code == 404
