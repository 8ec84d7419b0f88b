"""The short soak (bench/soak.py --short): each fault once under mixed load, then every promise checked.

Two API processes and the worker on a private PostgreSQL cluster; kill -9 of the worker
and of an API process, a database restart and hostile bodies. Passes when no response
was a 500, every accepted write is recorded exactly once and every refused one not at
all, the views equal a clean rebuild and the chain verifies. About a minute and a half.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_cluster import REQUIRE_POSTGRES, cluster_problem

pytestmark = pytest.mark.postgres

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
DEADLINE = 300


def test_short_soak_keeps_every_promise(tmp_path: Path) -> None:
    problem = cluster_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem + " (DELIVERY_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--short", "--seconds", "45", "--json", str(out), "--logs", str(tmp_path / "logs")],
        capture_output=True, text=True, timeout=DEADLINE, check=False,
    )
    assert out.exists(), f"the soak did not finish ({run.returncode}):\n{run.stderr[-3000:]}"
    result = json.loads(out.read_text())
    checks = result["checks"]
    assert result["statuses"].get("500", 0) == 0, result["by_kind"]
    assert checks["recorded_twice"] == [] and checks["accepted_not_recorded_once"] == [], checks
    assert checks["refused_but_recorded"] == [], checks
    assert checks["views_equal_rebuild"], checks["replay_output"]
    assert checks["chain_verifies"], checks["verify_output"]
    assert result["anomalies"] == []
    assert [f["fault"] for f in result["faults"]] == ["kill worker", "kill api", "restart database", "hostile bodies"]
    assert checks["accepted"] > 100 and checks["refused"] > 10
    assert run.returncode == 0 and result["ok"], run.stdout[-3000:]
