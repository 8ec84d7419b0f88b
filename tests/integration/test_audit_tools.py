"""Export and import (SQLite → PostgreSQL → SQLite), signed checkpoints, replay --check and diff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select

from api.cli import main
from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections import checkpoint
from projections.diff import diff
from projections.export import ImportRefused, check_export, export_lines, import_events
from projections.integrity import Verifier
from projections.replay import replay_check
from projections.service import ReadSide
from projections.store import audit_table, chain_table, rows_table
from tests.golden.make_golden import play_full_lifecycle
from tests.histories import play
from tests.integration.test_audit_chain import SECOND, Tamperer


@pytest.fixture
def source(sqlite_url: str) -> Iterator[ReadSide]:
    app = DeliveryApplication(Database(sqlite_url))
    reads = ReadSide(app)
    play_full_lifecycle(app)
    play(app, SECOND, name="Second", start=datetime(2026, 5, 1, tzinfo=UTC))
    reads.catch_up()
    yield reads
    reads.close()
    app.close()


def _tables(reads: ReadSide) -> dict[str, list[Any]]:
    with reads.store.reader.connect() as conn:
        return {
            "chain": [tuple(r) for r in conn.execute(select(chain_table).order_by(chain_table.c.position))],
            "views": [tuple(r) for r in conn.execute(select(rows_table).order_by(
                rows_table.c.project_id, rows_table.c.kind, rows_table.c.key))],
            "audit": [(r.position, r.project_id, r.version, r.type, r.actor, reads.audit_log(
                          r.project_id, after=r.position - 1, limit=1).items[0].data)
                      for r in conn.execute(select(audit_table).order_by(audit_table.c.position))],
        }


def _events(app: DeliveryApplication) -> list[tuple[Any, ...]]:
    return [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
            for n in app.recorder.select_notifications(1, 10_000)]


def _copy(lines: list[str], url: str) -> ReadSide:
    app = DeliveryApplication(Database(url))
    check_export(app, lines)
    import_events(app, lines)
    reads = ReadSide(app)
    reads.catch_up()
    return reads


@pytest.mark.postgres
def test_export_import_round_trip_sqlite_postgres_sqlite(
    source: ReadSide, postgres_url: str, tmp_path: Path,
) -> None:
    exported = list(export_lines(source.app, source.store))
    assert json.loads(exported[0])["events"] == len(exported) - 1 == 70
    pg = _copy(exported, postgres_url)
    back = _copy(list(export_lines(pg.app, pg.store)), f"sqlite:///{tmp_path / 'back.sqlite3'}")
    try:
        assert list(export_lines(back.app, back.store)) == exported  # byte for byte
        for copy in (pg, back):
            assert _events(copy.app) == _events(source.app)
            assert _tables(copy) == _tables(source)
            assert Verifier(copy.app, copy.store).store_chain().valid
    finally:
        for reads in (pg, back):
            reads.close()
            reads.app.close()


def test_import_refuses_a_file_whose_chain_does_not_verify(source: ReadSide, tmp_path: Path) -> None:
    lines = list(export_lines(source.app, source.store))
    entry = json.loads(lines[10])
    # Change the event consistently in both forms: only the links can tell.
    entry["event"]["actor"] = entry["state"]["actor"] = "mallory"
    forged = [*lines[:10], json.dumps(entry, ensure_ascii=False) + "\n", *lines[11:]]
    target = DeliveryApplication(Database(f"sqlite:///{tmp_path / 'target.sqlite3'}"))
    try:
        with pytest.raises(ImportRefused) as refused:
            check_export(target, forged)
        assert refused.value.details["line"] == 11
        with pytest.raises(ImportRefused):
            check_export(target, lines[:-1])  # truncated: the header says more
        import_events(target, lines)
        with pytest.raises(ImportRefused):
            import_events(target, lines)  # only into an empty store
    finally:
        target.close()


def test_project_export_carries_the_project_chain(source: ReadSide) -> None:
    second = UUID(json.loads(list(export_lines(source.app, source.store))[-1])["event"]["stream"])
    lines = list(export_lines(source.app, source.store, second))
    header = json.loads(lines[0])
    assert header["scope"] == "project" and header["events"] == len(lines) - 1
    assert header["head"] == Verifier(source.app, source.store).project_chain(second).head
    check_export(source.app, lines)


def test_checkpoint_proves_history_before_it_not_after(
    source: ReadSide, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DELIVERY_DATABASE_URL", source.store.database.url)
    key, pub, signed = tmp_path / "k", tmp_path / "k.pub", tmp_path / "cp.json"
    assert main(["keygen", "--private", str(key), "--public", str(pub)]) == 0
    assert key.stat().st_mode & 0o077 == 0
    assert main(["checkpoint", "--key", str(key), "--out", str(signed)]) == 0
    statement = json.loads(signed.read_text())["statement"]
    assert statement["position"] == statement["events"] == 70
    verify = ["verify", "--checkpoint", str(signed), "--public-key", str(pub), "--json"]
    capsys.readouterr()
    assert main(verify) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"]["holds"] is True

    # A forged signature, or another signer's key, is not accepted.
    other = tmp_path / "other"
    checkpoint.generate_keys(other, tmp_path / "other.pub")
    assert main([*verify[:3], "--public-key", str(tmp_path / "other.pub"), "--json"]) == 1
    assert "not accepted" in json.loads(capsys.readouterr().out)["checkpoint"]["reason"]

    # New events after the checkpoint, and an edit after it: the checkpoint still holds.
    play_full_lifecycle(source.app)
    source.catch_up()
    Tamperer(source.store.database).edit(76, actor="mallory")
    assert main(verify) == 1  # the chain is broken (after the checkpoint) ...
    result = json.loads(capsys.readouterr().out)
    assert result["checkpoint"]["holds"] is True and result["first_bad"]["position"] == 76

    # An edit before it, even with the chain table rewritten to match, breaks the checkpoint.
    Tamperer(source.store.database).edit(5, actor="mallory")
    source.store.reset(["chain"])
    source.catch_up()
    assert Verifier(source.app, source.store).store_chain().valid  # the rewritten chain agrees...
    assert main(verify) == 1
    cp = json.loads(capsys.readouterr().out)["checkpoint"]
    assert cp["holds"] is False and cp["head"] != cp["signed_head"]


def test_replay_check_finds_a_view_row_edited_by_hand(source: ReadSide) -> None:
    report = replay_check(source.app, source.store)
    assert report.same and report.events == 70 and report.rows["audit_log"] == 70
    with source.store.engine.begin() as conn:
        conn.execute(audit_table.update().where(audit_table.c.position == 7).values(actor="mallory"))
        conn.execute(rows_table.delete().where(rows_table.c.kind == "release"))
    report = replay_check(source.app, source.store)
    found = {(d.table, d.column) for d in report.differences}
    assert ("audit_log", "actor") in found and ("view_rows", "*") in found
    edited = next(d for d in report.differences if d.table == "audit_log")
    assert edited.key["position"] == 7 and set(edited.key) == {"project_id", "position"}
    assert (edited.live, edited.rebuilt) == ("mallory", "pm@agency")


def test_diff_over_the_golden_lifecycle(source: ReadSide) -> None:
    pid = str(json.loads(list(export_lines(source.app, source.store))[1])["event"]["stream"])
    # Events at 15:00 (funnel) .. 19:00: M1 planned at 16, AC1 added at 17, M1 rescheduled at 18, AC1 verified at 19.
    result = diff(source, pid, datetime(2026, 1, 5, 15, 30, tzinfo=UTC), datetime(2026, 1, 5, 19, 30, tzinfo=UTC))
    assert [e.type for e in result.events] == [
        "MilestonePlanned", "CriterionAdded", "MilestoneRescheduled", "CriterionVerified"]
    views = {v.view: v for v in result.views}
    # AC1 verified (11) closes one of M1's criteria: M1's count changed too.
    assert [(i.id, i.change, i.events) for i in views["milestones"].items] == [("M1", "added", [8, 9, 10, 11])]
    assert [(i.id, i.change, i.events) for i in views["checklist"].items] == [("AC1", "added", [9, 11])]
    assert all(not views[v].items for v in ("summary", "scope", "change_requests", "releases"))
    # A later window: M1 completed (20:00) and the stage advanced (21:00).
    later = diff(source, pid, datetime(2026, 1, 5, 19, 30, tzinfo=UTC), datetime(2026, 1, 5, 21, 30, tzinfo=UTC))
    views = {v.view: v for v in later.views}
    m1 = views["milestones"].items[0]
    assert (m1.id, m1.change, m1.fields["completed_on"]) == ("M1", "changed", [None, "2026-01-05"])
    project = views["summary"].items[0]
    assert project.fields["stage"] == ["research", "solution"] and project.events == [13]


@pytest.mark.parametrize(("line", "says"), [
    ("{not json\n", "Line 5 is not JSON: Expecting property name enclosed in double quotes (column 2)."),
    ("[1, 2]\n", "Line 5 is not a JSON object"),
    ('{"position": 4}\n', "Line 5 is not an exported event: KeyError: 'event'"),
    ('{"event": {}, "topic": "no.such:Topic", "state": {}}\n', "Line 5 is not an exported event"),
])
def test_import_refuses_a_bad_line_by_its_number_and_records_nothing(
    source: ReadSide, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    line: str, says: str,
) -> None:
    lines = list(export_lines(source.app, source.store))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join([*lines[:4], line, *lines[5:]]), encoding="utf-8")
    target = f"sqlite:///{tmp_path / 'target.sqlite3'}"
    monkeypatch.setenv("DELIVERY_DATABASE_URL", target)
    capsys.readouterr()
    assert main(["import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    app = DeliveryApplication(Database(target))
    try:
        assert not app.recorder.max_notification_id()
    finally:
        app.close()


def test_import_refuses_a_file_that_is_not_utf8(source: ReadSide, tmp_path: Path) -> None:
    lines = list(export_lines(source.app, source.store))
    raw = "".join(lines[:3]).encode() + b"\xff\xfe\n" + "".join(lines[3:]).encode()
    target = DeliveryApplication(Database(f"sqlite:///{tmp_path / 'target.sqlite3'}"))
    try:
        (tmp_path / "bad.jsonl").write_bytes(raw)
        with (tmp_path / "bad.jsonl").open("rb") as f, pytest.raises(ImportRefused) as refused:
            check_export(target, f)
        assert refused.value.details["line"] == 4 and "not UTF-8" in refused.value.message
    finally:
        target.close()


def test_an_export_of_chain_form_1_still_imports(source: ReadSide) -> None:
    from projections.chain import GENESIS, canonical_bytes, link

    lines = [json.loads(line) for line in export_lines(source.app, source.store)]
    header, entries = lines[0], lines[1:]
    heads: dict[str, bytes] = {}
    store = GENESIS
    for entry in entries:  # what an export written before the topics were linked holds
        event = entry["event"]
        del event["topic"]
        event["data"].pop("originator_topic", None)
        body = canonical_bytes(event)
        heads[event["stream"]] = link(heads.get(event["stream"], GENESIS), body)
        store = link(store, body)
        entry["project_link"], entry["store_link"] = heads[event["stream"]].hex(), store.hex()
    header.update(format="delivery-export/1", head=store.hex())
    old = [json.dumps(x, ensure_ascii=False) + "\n" for x in [header, *entries]]
    assert check_export(source.app, old)["format"] == "delivery-export/1"
