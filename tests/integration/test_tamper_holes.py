"""What the store trusts beyond the events' state, edited with SQL as an attacker would, on SQLite and
PostgreSQL: the class topics, the snapshots, the chain table itself and the order of the events. Each
edit is found by `delivery verify` (or `replay --check`), named by project, version and position."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from api.cli import main
from delivery.application import DeliveryApplication
from delivery.errors import GateNotMet
from delivery.settings import Database
from projections.integrity import Verifier
from projections.service import ReadSide
from tests.integration.test_audit_chain import Tamperer, history

__all__ = ["history"]

History = tuple[DeliveryApplication, ReadSide, UUID, UUID]


class Attacker(Tamperer):
    """Tamperer, with the other tables the store keeps beside the events."""

    def name(self, table: str) -> str:
        if self.sqlite:
            return {"snapshots": "stored_snapshots"}.get(table, table)
        table = {"snapshots": "delivery_snapshots"}.get(table, table)
        return f'"{self.database.schema}".{table}'

    def sql(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._run(sql.format(**{t: self.name(t) for t in ("snapshots", "event_chain", "view_snapshots",
                                                                  "view_positions")}), params)

    def set_topic(self, position: int, topic: str) -> None:
        self._run(f"UPDATE {self.table} SET topic = ? WHERE {self.pos} = ?", (topic, position))


def _bad(verdict: Any) -> dict[str, Any]:
    assert not verdict.valid, "the edit went unnoticed"
    bad: dict[str, Any] = verdict.first_bad
    return bad


def _cli(store: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         *argv: str) -> tuple[int, Any]:
    """Exit status and what was printed: the JSON on stdout with --json, else stdout and stderr as one text."""
    monkeypatch.setenv("DELIVERY_DATABASE_URL", store.url)
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, json.loads(out.out) if "--json" in argv else out.out + out.err


def test_a_changed_originator_topic_is_located(history: History) -> None:
    # The class a project is rebuilt from: a plain Aggregate has none of Project's commands.
    app, reads, first, _second = history
    Attacker(reads.store.database).edit(1, originator_topic="eventsourcing.domain:Aggregate")
    verifier = Verifier(app, reads.store)
    bad = _bad(verifier.store_chain())
    assert (bad["problem"], bad["position"], bad["project_id"], bad["version"]) == ("altered", 1, str(first), 1)
    bad = _bad(verifier.project_chain(first))
    assert (bad["problem"], bad["chain"], bad["version"]) == ("altered", "project", 1)


@pytest.mark.parametrize(("topic", "problem"), [
    ("delivery.project:Project.ScopeItemRemoved", "altered"),  # another class that decodes the same state
    ("delivery.project:Project.NoSuchEvent", "unreadable"),
])
def test_a_changed_topic_column_is_located(history: History, topic: str, problem: str) -> None:
    app, reads, first, _second = history
    Attacker(reads.store.database).set_topic(3, topic)
    verifier = Verifier(app, reads.store)
    bad = _bad(verifier.store_chain())
    assert (bad["problem"], bad["position"], bad["project_id"], bad["version"]) == (problem, 3, str(first), 3)
    assert _bad(verifier.project_chain(first))["version"] == 3


def _snapshotted(database: Database) -> tuple[DeliveryApplication, ReadSide, UUID]:
    """A project in research with an open research milestone, past its first library snapshot (v50)."""
    app = DeliveryApplication(database)
    pid = app.create_project(name="Snapshotted", client="Acme", actor="pm").value
    app.plan_milestone(pid, title="Research signed off", stage="research", due_on="2026-12-01", actor="pm")
    for n in range(50):
        app.add_scope_item(pid, title=f"Feature {n}", tier="core", actor="pm")
    reads = ReadSide(app)
    reads.catch_up()
    return app, reads, pid


def test_a_forged_library_snapshot_is_found(database: Database) -> None:
    app, reads, pid = _snapshotted(database)
    try:
        attacker = Attacker(database)
        [(state,)] = attacker.sql("SELECT state FROM {snapshots}")
        snapshot = json.loads(bytes(state))
        assert snapshot["state"]["stage_id"] == "research"
        with pytest.raises(GateNotMet):
            app.transition(pid, to_stage="solution", actor="pm")
        snapshot["state"]["stage_id"] = "uat"
        attacker.sql("UPDATE {snapshots} SET state = ?", (json.dumps(snapshot, separators=(",", ":")).encode(),))
        assert Verifier(app, reads.store).store_chain().valid is False  # found before anything uses it

        # What the hole allowed: a process loading the project from the forged snapshot skips three stages.
        other = DeliveryApplication(database)
        try:
            other.waive_stage_plan(pid, stage="uat", reason="no UAT planned", actor="pm")
            other.transition(pid, to_stage="trial", actor="pm")
        finally:
            other.close()
        assert app.get_project(pid).stage_id == "trial"  # recorded: the events now say uat -> trial
        reads.catch_up()
        verifier = Verifier(app, reads.store)
        bad = _bad(verifier.store_chain())
        assert (bad["problem"], bad["project_id"], bad["version"]) == ("snapshot", str(pid), 50)
        assert bad["position"] == verifier.locate(str(pid), 50) and "stage_id" in bad["message"]
        assert _bad(verifier.project_chain(pid))["problem"] == "snapshot"
    finally:
        reads.close()
        app.close()


def test_a_forged_view_snapshot_is_found(history: History) -> None:
    app, reads, first, _second = history
    attacker = Attacker(reads.store.database)
    doc = reads.store.snapshot_at_or_before(str(first), 50)
    assert doc is None  # the live applier leaves view snapshots every 100 versions: make one by hand
    from projections.reducers import fold

    state = fold(list(app.events.get(first, lte=40)))
    header, rows = state.dumps().split("\n", 1)
    forged = json.loads(header)
    forged["name"] = "Renamed by mallory"
    attacker.sql("INSERT INTO {view_snapshots} (project_id, version, doc) VALUES (?, ?, ?)",
                 (str(first), 40, json.dumps(forged) + "\n" + rows))
    verifier = Verifier(app, reads.store)
    bad = _bad(verifier.store_chain())
    assert (bad["problem"], bad["project_id"], bad["version"], bad["position"]) == (
        "view_snapshot", str(first), 40, 40)
    assert "header" in bad["message"]


def test_an_emptied_chain_table_is_a_finding_not_a_rebuild(
    history: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    app, reads, first, second = history
    attacker = Attacker(reads.store.database)
    attacker.sql("DELETE FROM {event_chain}")
    attacker.edit(10, actor="mallory")
    code, out = _cli(reads.store.database, monkeypatch, capsys, "verify", "--json")
    assert code == 1
    bad = out["first_bad"]
    assert (bad["problem"], bad["position"], bad["project_id"], bad["version"]) == ("unlinked", 1, str(first), 1)
    # Nothing linked the edited events anew on the way.
    assert attacker.sql("SELECT COUNT(*) FROM {event_chain}")[0][0] == 0
    assert _bad(Verifier(app, reads.store).project_chain(first))["problem"] == "unlinked"
    # New events are linked after the chain's position; the missing links stay a finding.
    app.add_scope_item(second, title="Later", tier="core", actor="pm")
    reads.catch_up()
    assert attacker.sql("SELECT COUNT(*) FROM {event_chain}")[0][0] == 1
    bad = _bad(Verifier(app, reads.store).store_chain())
    assert (bad["problem"], bad["position"], bad["version"]) == ("unlinked", 1, 1)


def test_a_shortened_chain_table_is_a_finding(history: History) -> None:
    app, reads, _first, second = history
    attacker = Attacker(reads.store.database)
    attacker.sql("DELETE FROM {event_chain} WHERE position > 66")
    attacker.edit(68, actor="mallory")
    reads.catch_up()
    bad = _bad(Verifier(app, reads.store).store_chain())
    assert (bad["problem"], bad["position"], bad["project_id"]) == ("unlinked", 67, str(second))
    assert "cut short" in bad["message"]


def test_swapped_positions_are_reported_by_replay_check(
    history: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _app, reads, _first, second = history
    Attacker(reads.store.database).swap(12, 64)
    code, out = _cli(reads.store.database, monkeypatch, capsys, "replay", "--check")
    assert code == 1
    assert f"position 12 holds project {second} v2" in out
    code, out = _cli(reads.store.database, monkeypatch, capsys, "replay", "--check", "--json")
    assert code == 1 and out["broken"]["position"] == 12


@pytest.fixture
def keys(tmp_path: Any) -> Iterator[tuple[Any, Any]]:
    key, pub = tmp_path / "k", tmp_path / "k.pub"
    from projections.checkpoint import generate_keys

    generate_keys(key, pub)
    yield key, pub


def test_a_broken_checkpoint_names_the_project_and_event(
    history: History, keys: tuple[Any, Any], tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _app, reads, first, second = history
    key, pub = keys
    signed = tmp_path / "cp.json"
    database = reads.store.database
    assert _cli(database, monkeypatch, capsys, "checkpoint", "--key", str(key), "--out", str(signed))[0] == 0
    verify = ("verify", "--checkpoint", str(signed), "--public-key", str(pub), "--json")

    # The class topic is covered by the checkpoint too.
    attacker = Attacker(database)
    attacker.edit(1, originator_topic="eventsourcing.domain:Aggregate")
    code, out = _cli(database, monkeypatch, capsys, *verify)
    cp = out["checkpoint"]
    assert code == 1 and cp["holds"] is False
    assert (cp["first_bad"]["position"], cp["first_bad"]["project_id"], cp["first_bad"]["version"]) == (
        1, str(first), 1)

    # Even with the chain table rewritten to agree, the checkpoint names the project that changed.
    attacker.edit(1, originator_topic="delivery.project:Project")
    attacker.edit(66, actor="mallory")
    reads.store.reset(["chain"])
    reads.catch_up()
    code, out = _cli(database, monkeypatch, capsys, *verify)
    cp = out["checkpoint"]
    assert code == 1 and cp["holds"] is False
    assert cp["first_bad"]["project_id"] == str(second) and "project" in cp["reason"]
    code, out = _cli(database, monkeypatch, capsys, *verify[:-1])
    assert f"project {second}" in out


def test_an_unreadable_event_is_named_by_every_command(
    history: History, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    app, reads, _first, second = history
    app.add_scope_item(second, title="Not linked yet", tier="core", actor="pm")  # position 71
    attacker = Attacker(reads.store.database)
    attacker.set_topic(71, "delivery.project:Project.NoSuchEvent")
    attacker._run(f"UPDATE {attacker.table} SET state = ? WHERE {attacker.pos} = 4", (b"not json",))
    database = reads.store.database
    code, out = _cli(database, monkeypatch, capsys, "verify", "--json")
    assert code == 1 and (out["first_bad"]["problem"], out["first_bad"]["position"]) == ("unreadable", 4)
    code, out = _cli(database, monkeypatch, capsys, "replay", "--check", "--json")
    assert code == 1 and out["broken"]["position"] == 4
    code, out = _cli(database, monkeypatch, capsys, "export")
    assert code == 2 and "position 4" in out
    code, out = _cli(database, monkeypatch, capsys, "rebuild")
    assert code == 3 and "cannot apply the event at position" in out  # 4 or 71, whichever it reads first
