"""`delivery backup` and `delivery restore`, SQLite → PostgreSQL and back: positions (gaps included),
links, hashed tokens and share links kept, so a checkpoint signed before verifies after; refused
into a store that is not empty, for a tampered file, and for a store whose chain does not verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from api.auth import TokenStore, tokens_table
from api.cli import main
from api.idempotency import command_keys_table
from delivery.application import DeliveryApplication
from delivery.clock import as_utc
from delivery.keyed import CommandKey
from delivery.settings import Database
from notify.store import NotifyStore
from notify.tables import subscriptions
from projections.service import ReadSide
from projections.store import audit_table, chain_table, rows_table
from tests.conftest import PG_URL
from tests.golden.make_golden import play_full_lifecycle
from tests.histories import play
from tests.integration.test_audit_chain import SECOND, Tamperer
from web.sessions import WebStore, share_links_table, share_signers_table

KEY = CommandKey("t0k3n", "a" * 64, "f" * 64)


def _fill(url: str) -> tuple[str, str]:
    """The golden lifecycle, a gap in the positions (PostgreSQL), a second project, a token, a share link."""
    database = Database(url)
    app = DeliveryApplication(database)
    try:
        project = play_full_lifecycle(app)
        if database.kind == "postgresql":
            # A transaction that took a position and rolled back leaves a gap: the next event is at 64.
            with psycopg.connect(PG_URL, autocommit=True) as pg:
                pg.execute(f"SELECT nextval(pg_get_serial_sequence('{database.schema}.delivery_events', "
                           "'notification_id'))")
        play(app, SECOND, name="Second", start=datetime(2026, 5, 1, tzinfo=UTC))
        with app.keyed(KEY):  # a command sent with an Idempotency-Key: its key is kept too
            app.create_project(name="Keyed", client="Acme", actor="pm")
        with ReadSide(app) as reads:
            reads.catch_up()
            token, _ = TokenStore(reads.store.engine).create(role="auditor", name="Audrey")
            web = WebStore(reads.store.engine)
            secret, link = web.create_link(str(project), days=30, created_by="pm")
            web.grant_signoff(str(project), link.id, signer="Ms Wang", granted_by="pm")  # its sign-off right too
            NotifyStore(reads.store.engine).subscribe(
                name="Ops", project_id=None, kinds=["gate_passed"], channel="webhook",
                target="https://hooks.example.com/x", language="zh-CN", secret=None, start_position=3,
                created_by="pm")
    finally:
        app.close()
    return token, secret


def _contents(url: str) -> dict[str, Any]:
    """Everything a restore must keep, as comparable values."""
    app = DeliveryApplication(Database(url))
    try:
        with ReadSide(app) as reads, reads.store.reader.connect() as conn:
            return {
                "events": [(n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state))
                           for n in app.recorder.select_notifications(1, 10_000)],
                "chain": [tuple(r) for r in conn.execute(select(chain_table).order_by(chain_table.c.position))],
                "audit": [(r.position, r.project_id, r.version, r.type, r.actor)
                          for r in conn.execute(select(audit_table).order_by(audit_table.c.position))],
                "views": [tuple(r) for r in conn.execute(select(rows_table).order_by(
                    rows_table.c.project_id, rows_table.c.kind, rows_table.c.key))],
                "tokens": [(r.id, r.token_hash, r.role, as_utc(r.created_at))
                           for r in conn.execute(select(tokens_table))],
                "links": [(r.id, r.secret_hash, r.project_id, as_utc(r.expires_at))
                          for r in conn.execute(select(share_links_table))],
                "signers": [(r.link_id, r.signer, r.granted_by) for r in conn.execute(select(share_signers_table))],
                "keys": [(r.owner, r.key, r.fingerprint, str(r.project_id), r.version, r.position, r.value)
                         for r in conn.execute(select(command_keys_table))],
                "subscriptions": [(r.id, r.kinds, r.target, r.secret, r.language)
                                  for r in conn.execute(select(subscriptions))],
            }
    finally:
        app.close()


class Cli:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, url: str, *argv: str) -> tuple[int, str]:
        self.monkeypatch.setenv("DELIVERY_DATABASE_URL", url)
        self.capsys.readouterr()
        code = main(list(argv))
        out = self.capsys.readouterr()
        assert "Traceback" not in out.out + out.err
        return code, out.out + out.err


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(monkeypatch, capsys)


@pytest.fixture
def keys(tmp_path: Path, cli: Cli, sqlite_url: str) -> Iterator[tuple[Path, Path]]:
    key, pub = tmp_path / "signing.key", tmp_path / "signing.pub"
    assert cli(sqlite_url, "keygen", "--private", str(key), "--public", str(pub))[0] == 0
    yield key, pub


@pytest.mark.postgres
@pytest.mark.parametrize("direction", ["sqlite-to-postgres", "postgres-to-sqlite"])
def test_backup_restores_on_the_other_store_and_the_checkpoint_still_verifies(
    direction: str, sqlite_url: str, postgres_url: str, tmp_path: Path, cli: Cli, keys: tuple[Path, Path],
) -> None:
    source, target = (sqlite_url, postgres_url) if direction == "sqlite-to-postgres" else (postgres_url, sqlite_url)
    token, secret = _fill(source)
    key, pub = keys
    signed = tmp_path / "checkpoint.json"
    assert cli(source, "checkpoint", "--key", str(key), "--out", str(signed))[0] == 0
    backup = tmp_path / "store.backup"
    code, out = cli(source, "backup", str(backup))
    kept = "1 api_tokens, 1 web_share_links, 1 web_share_signers, 1 command_keys, 1 notify_subscriptions"
    assert code == 0 and "Backing up: 71/71" in out and kept in out

    code, out = cli(target, "restore", str(backup))
    assert code == 0 and "the same as the backup's" in out, out
    before, after = _contents(source), _contents(target)
    assert after == before
    if direction == "postgres-to-sqlite":
        assert [e[0] for e in after["events"]][61:63] == [62, 64]  # the gap is kept, not renumbered
    code, out = cli(target, "verify", "--checkpoint", str(signed), "--public-key", str(pub))
    assert code == 0 and "the history up to the checkpoint is unchanged" in out

    # The restored store lets the same token and share link in, and takes new events after the last position.
    app = DeliveryApplication(Database(target))
    try:
        with ReadSide(app) as reads:
            # The restored subscription is not sent the history again: it hears what follows the backup.
            [sub] = NotifyStore(reads.store.engine).subscriptions()
            assert sub.start_position == after["events"][-1][0]
            assert TokenStore(reads.store.engine).authenticate(token) is not None
            assert WebStore(reads.store.engine).live_link(secret) is not None
        # A retry of the keyed command is answered from the restored key, not recorded again.
        kept = app.kept_command(KEY)
        assert kept is not None and kept.replayed and kept.position == after["keys"][0][5]
        pid = after["events"][-1][1]
        position = app.add_scope_item(pid, title="After restore", tier="core", actor="pm").position
        assert position == after["events"][-1][0] + 1
    finally:
        app.close()
    assert cli(target, "verify")[0] == 0


def test_restore_into_a_store_that_is_not_empty_is_refused(sqlite_url: str, tmp_path: Path, cli: Cli) -> None:
    _fill(sqlite_url)
    backup = tmp_path / "store.backup"
    assert cli(sqlite_url, "backup", str(backup))[0] == 0
    before = _contents(sqlite_url)
    code, out = cli(sqlite_url, "restore", str(backup))
    assert code == 2 and "restore only into an empty store" in out
    other = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    app = DeliveryApplication(Database(other))
    try:
        with ReadSide(app) as reads:
            TokenStore(reads.store.engine).create(role="pm", name="Already here")
    finally:
        app.close()
    code, out = cli(other, "restore", str(backup))
    assert code == 2 and "rows in api_tokens" in out
    assert _contents(sqlite_url) == before
    assert cli(sqlite_url, "backup", str(backup))[1].endswith("exists; not overwriting it\n")


@pytest.mark.parametrize(("tamper", "says"), [
    ("edit-event", "Line 11: the chain in the backup does not verify at position 10"),
    ("edit-event-and-digest", "Line 11: the chain in the backup does not verify at position 10"),
    ("edit-token", "its digest (last line) does not match"),
    ("cut-short", "no end line"),
    ("not-json", "Line 3 of the backup is not JSON"),
])
def test_a_tampered_backup_is_refused_and_nothing_is_restored(
    sqlite_url: str, tmp_path: Path, cli: Cli, tamper: str, says: str,
) -> None:
    import hashlib

    _fill(sqlite_url)
    backup = tmp_path / "store.backup"
    assert cli(sqlite_url, "backup", str(backup))[0] == 0
    lines = backup.read_bytes().splitlines(keepends=True)
    if tamper.startswith("edit-event"):
        entry = json.loads(lines[10])
        state = json.loads(entry["event"][4])
        state["actor"] = "mallory"
        entry["event"][4] = json.dumps(state, separators=(",", ":"))
        lines[10] = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    elif tamper == "edit-token":
        index = next(i for i, line in enumerate(lines) if b'"table":"api_tokens"' in line)
        entry = json.loads(lines[index])
        entry["row"]["role"] = "pm"
        lines[index] = (json.dumps(entry) + "\n").encode()
    elif tamper == "cut-short":
        lines = lines[:-3]
    else:
        lines[2] = b"{not json\n"
    if tamper == "edit-event-and-digest":
        body = b"".join(lines[:-1])
        lines[-1] = (json.dumps({"end": {"lines": len(lines) - 1, "sha256": hashlib.sha256(body).hexdigest()}})
                     + "\n").encode()
    backup.write_bytes(b"".join(lines))
    target = f"sqlite:///{tmp_path / 'target.sqlite3'}"
    code, out = cli(target, "restore", str(backup))
    assert code == 2 and says in out, out
    app = DeliveryApplication(Database(target))
    try:
        assert not app.recorder.max_notification_id()
    finally:
        app.close()


def test_backup_is_refused_unless_the_chain_verifies(sqlite_url: str, tmp_path: Path, cli: Cli) -> None:
    _fill(sqlite_url)
    Tamperer(Database(sqlite_url)).edit(20, actor="mallory")
    backup = tmp_path / "store.backup"
    code, out = cli(sqlite_url, "backup", str(backup))
    assert code == 2 and "does not verify, so it is not backed up: altered at position 20" in out
    assert not backup.exists() and not (tmp_path / "store.backup.partial").exists()
