"""Signed receipts against the store, on SQLite and PostgreSQL: a receipt holds while the store keeps exactly
the history up to it, and fails once an event before it is rewritten with SQL (docs/audit.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.cli import main
from delivery.application import DeliveryApplication
from delivery.errors import NotFound
from delivery.settings import Database
from projections import receipts
from projections.integrity import Verifier
from projections.service import ReadSide
from tests.integration.test_tamper_holes import Attacker

CLIENT = "Ms Wang (Acme)"
Signed = tuple[DeliveryApplication, ReadSide, UUID, int]


@pytest.fixture
def signed(database: Database) -> Iterator[Signed]:
    """A project whose client signed off a UAT criterion (v4), with events before and after it."""
    app = DeliveryApplication(database)
    reads = ReadSide(app)
    pid = app.create_project(name="Mall app", client="Acme", actor="pm").value
    app.plan_milestone(pid, title="UAT 验收", stage="research", due_on="2026-12-01", actor="pm")
    app.add_criterion(pid, milestone_id="M1", text="The client signs off UAT", client_signoff=True, actor="pm")
    done = app.sign_off_criterion(pid, criterion_id="AC1", verdict="verified", comment="全部通过", actor=CLIENT)
    app.add_comment(pid, target_kind="milestone", target_id="M1", text="Thanks!", actor=CLIENT)
    reads.catch_up()
    yield app, reads, pid, done.version
    reads.close()
    app.close()


KEY = Ed25519PrivateKey.generate()


def _receipt(s: Signed) -> dict[str, Any]:
    app, reads, pid, version = s
    return receipts.issue(app, reads.store, str(pid), version, KEY)


def _check(s: Signed, document: dict[str, Any]) -> dict[str, Any]:
    app, reads, *_ = s
    return receipts.check(app, reads.store, receipts.open_receipt(document, KEY.public_key()))


def test_a_receipt_names_the_event_its_position_and_the_project_head(signed: Signed) -> None:
    app, reads, pid, version = signed
    document = _receipt(signed)
    statement = document["statement"]
    assert statement["event"]["type"] == "CriterionSignedOff" and statement["event"]["actor"] == CLIENT
    assert statement["event"]["data"]["comment"] == "全部通过" and statement["version"] == version == 4
    [linked] = [r for r in Verifier(app, reads.store).recorded_links(str(pid)) if r.version == 4]
    assert (statement["position"], statement["project_head"]) == (linked.position, linked.project_link)
    assert _receipt(signed) == document  # nothing in it changes between downloads
    result = _check(signed, document)
    assert result["holds"] and result["reason"] == "the store holds exactly the history up to the receipt"


def test_only_sign_offs_and_decisions_have_receipts(signed: Signed) -> None:
    app, reads, pid, _version = signed
    for version in (1, 3, 5, 99):
        with pytest.raises(NotFound):
            receipts.issue(app, reads.store, str(pid), version, KEY)


def test_events_after_the_receipt_leave_it_holding(signed: Signed) -> None:
    app, reads, pid, _version = signed
    document = _receipt(signed)
    app.add_comment(pid, target_kind="criterion", target_id="AC1", text="later", actor="pm")
    reads.catch_up()
    Attacker(reads.store.database).edit(5, text="rewritten after the receipt")
    assert _check(signed, document)["holds"]


def test_an_earlier_event_rewritten_in_the_store_fails_the_receipt(signed: Signed) -> None:
    document = _receipt(signed)
    _app, reads, _pid, _version = signed
    Attacker(reads.store.database).edit(3, text="The pm signs off UAT")
    result = _check(signed, document)
    assert not result["holds"]
    assert result["reason"].startswith("an earlier event of the project was changed")
    assert "position 3" in result["reason"]  # the chain table still locates it
    with pytest.raises(receipts.HistoryAltered):  # and no new receipt is signed over it
        _receipt(signed)


def test_the_signed_event_itself_rewritten_fails_the_receipt(signed: Signed) -> None:
    document = _receipt(signed)
    _app, reads, *_ = signed
    Attacker(reads.store.database).edit(4, verdict="rejected")
    result = _check(signed, document)
    assert not result["holds"] and result["reason"] == "the event at v4 is no longer the one the receipt names"


def test_a_history_rewritten_with_its_chain_table_still_fails(signed: Signed) -> None:
    # Whoever rewrites the events and the links to agree still cannot forge the server's signature.
    document = _receipt(signed)
    _app, reads, _pid, _version = signed
    attacker = Attacker(reads.store.database)
    attacker.edit(2, title="Nothing to sign")
    attacker.sql("DELETE FROM {event_chain}")
    attacker.sql("UPDATE {view_positions} SET notification_id = 0 WHERE view_group = 'chain'")
    reads.catch_up()
    result = _check(signed, document)
    assert not result["holds"] and "chain table was rewritten to agree" in result["reason"]


def test_a_receipt_with_a_bad_signature_or_shape_is_not_accepted(signed: Signed) -> None:
    document = _receipt(signed)
    forged = json.loads(json.dumps(document))
    forged["statement"]["event"]["data"]["comment"] = "Approved everything"
    for bad in (forged, {"statement": document["statement"]}, [], {"statement": {}, "signature": "!"}):
        with pytest.raises(ValueError):
            receipts.open_receipt(bad, KEY.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(ValueError, match="does not verify"):
        receipts.open_receipt(document, other)


def test_delivery_receipt_verify(signed: Signed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    _app, reads, *_ = signed
    receipt_file, pub = tmp_path / "receipt.json", tmp_path / "server.pub"
    receipt_file.write_text(json.dumps(_receipt(signed)), encoding="utf-8")
    pub.write_bytes(KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    monkeypatch.setenv("DELIVERY_DATABASE_URL", reads.store.database.url)
    capsys.readouterr()
    assert main(["receipt", "verify", str(receipt_file), "--public-key", str(pub)]) == 0
    assert capsys.readouterr().out.startswith("OK: the store holds exactly the history up to the receipt")
    Attacker(reads.store.database).edit(2, title="Moved")
    assert main(["receipt", "verify", str(receipt_file), "--public-key", str(pub), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["holds"] is False and out["signature_valid"] is True
    other = tmp_path / "other.pub"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert main(["receipt", "verify", str(receipt_file), "--public-key", str(other)]) == 1
    assert "does not verify" in capsys.readouterr().out
    receipt_file.write_text("not json", encoding="utf-8")
    assert main(["receipt", "verify", str(receipt_file), "--public-key", str(pub)]) == 2
