"""A store linked by an earlier release (chain form 1, before the topics were covered): on start its links
are checked in form 1 and, when they hold, linked anew in form 2; an edit made before the upgrade is not
blessed by it. A checkpoint of format 1 stays checkable in its own form."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from api.cli import main
from delivery.application import DeliveryApplication
from projections import checkpoint
from projections.chain import GENESIS, link
from projections.integrity import Verifier, read_stored, stored_records
from projections.service import ReadSide
from projections.store import chain_table, group_version
from projections.tables import versions_table
from tests.integration.test_audit_chain import Tamperer, history

__all__ = ["history"]


def _link_in_form_1(app: DeliveryApplication, reads: ReadSide) -> tuple[int, str]:
    """Rewrite the chain table as the earlier release made it; returns (events, store head)."""
    heads: dict[str, bytes] = {}
    store_head, rows = GENESIS, []
    for n in stored_records(app):
        found = read_stored(app, n.id, n, form=1)
        heads[found.project_id] = link(heads.get(found.project_id, GENESIS), found.body)
        store_head = link(store_head, found.body)
        rows.append({"position": n.id, "project_id": found.project_id, "version": found.version,
                     "project_link": heads[found.project_id].hex(), "store_link": store_head.hex()})
    with reads.store.engine.begin() as conn:
        conn.execute(delete(chain_table))
        conn.execute(insert(chain_table), rows)
        conn.execute(update(versions_table).where(versions_table.c.view_group == "chain")
                     .values(version=group_version("chain", revision=1)))
    return len(rows), store_head.hex()


def _checkpoint_v1(tmp_path: Path, position: int, events: int, head: str) -> tuple[Path, Path]:
    key, pub = tmp_path / "k", tmp_path / "k.pub"
    checkpoint.generate_keys(key, pub)
    statement = {"format": "delivery-checkpoint/1", "position": position, "events": events, "head": head,
                 "time": "2026-01-01T00:00:00+00:00"}
    signature = checkpoint.load_private(key).sign(checkpoint._canonical(statement))
    signed = tmp_path / "cp-v1.json"
    signed.write_text(json.dumps({"statement": statement, "signature": base64.b64encode(signature).decode()}))
    return signed, pub


def test_links_of_form_1_are_checked_then_linked_anew(
    history: tuple[Any, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    app, reads, _first, _second = history
    events, head = _link_in_form_1(app, reads)
    signed, pub = _checkpoint_v1(tmp_path, 70, events, head)
    with ReadSide(app) as upgraded:  # a process of the new release starts
        assert upgraded.store.chain_form() == 2
        upgraded.catch_up()  # what the applier (or any CLI command) does next
        verdict = Verifier(app, upgraded.store).store_chain()
        assert verdict.valid and verdict.events == 70 and verdict.head != head
    monkeypatch.setenv("DELIVERY_DATABASE_URL", reads.store.database.url)
    capsys.readouterr()
    assert main(["verify", "--checkpoint", str(signed), "--public-key", str(pub), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoint"]["holds"] is True


def test_an_edit_made_before_the_upgrade_is_not_linked_anew(history: tuple[Any, ...]) -> None:
    app, reads, first, _second = history
    _link_in_form_1(app, reads)
    Tamperer(reads.store.database).edit(10, actor="mallory")
    with ReadSide(app) as upgraded:
        assert upgraded.store.chain_form() == 1  # kept as it was
        verifier = Verifier(app, upgraded.store)
        bad = verifier.store_chain().first_bad
        mine = verifier.project_chain(first).first_bad
    assert bad is not None and (bad["problem"], bad["position"], bad["project_id"]) == ("altered", 10, str(first))
    assert "still in chain form 1" in bad["message"]
    assert mine is not None and (mine["problem"], mine["version"]) == ("altered", 10)


def test_a_deleted_chain_version_record_is_a_finding(history: tuple[Any, ...]) -> None:
    app, reads, _first, _second = history
    with reads.store.engine.begin() as conn:
        conn.execute(delete(versions_table).where(versions_table.c.view_group == "chain"))
    with ReadSide(app) as restarted:  # not linked anew from the events as they are now
        assert restarted.store.positions()["chain"] == 70
        bad = Verifier(app, restarted.store).store_chain().first_bad
    assert bad is not None and bad["problem"] == "unknown_form"
