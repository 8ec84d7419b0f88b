"""Signed receipts: proof a client keeps of a sign-off or a change decision, checkable against the store later.

A receipt names one event (a client's sign-off, a change request approved, rejected or
withdrawn, a client's proposal accepted or declined) by project, version and store
position, carries the event's canonical form (projections/chain.py) and the project
chain's head right after it, and is signed with the server's Ed25519 key (the key
machinery of projections/checkpoint.py). It is made on request from the stored events,
and only while they still agree with the links made when the event was first seen, so a
store rewritten before the download gets no receipt. The statement holds nothing that
changes between downloads: every download of one receipt gives the same bytes.

Checking one recomputes the project's chain from the stored events alone, up to the
receipt's version: the store still holds exactly that history when the head, the event
and its position all match (docs/audit.md).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from delivery.application import DeliveryApplication, parse_project_id
from delivery.errors import DeliveryError, NotFound, RuleViolation
from delivery.messages import msg
from delivery.settings import Database
from projections.chain import GENESIS, canonical_bytes, link
from projections.checkpoint import fingerprint, generate_keys, load_private
from projections.integrity import Verifier
from projections.reducers import RECEIPT_EVENTS
from projections.store import ViewStore

FORMAT = "delivery-receipt/1"
KEY_ENV = "DELIVERY_SIGNING_KEY"
KEY_FILE = "signing.key"


class ReceiptUnavailable(DeliveryError):
    """No receipt can be made right now: no signing key is configured, or the event is not linked yet."""

    code = "receipt_unavailable"


class HistoryAltered(RuleViolation):
    """The stored events no longer agree with the links made when they were first seen: nothing is signed."""

    code = "history_altered"


# ------------------------------------------------------------------- keys

_keys: dict[Path, Ed25519PrivateKey] = {}
_keys_lock = threading.Lock()


def key_path(database: Database, environ: Mapping[str, str] | None = None) -> Path:
    """Where the server's signing key is: DELIVERY_SIGNING_KEY, else beside the SQLite file."""
    env = os.environ if environ is None else environ
    configured = env.get(KEY_ENV, "").strip()
    if configured:
        return Path(configured)
    if database.kind == "sqlite" and database.sqlite_path != ":memory:":
        return Path(database.sqlite_path).parent / KEY_FILE
    raise ReceiptUnavailable(
        f"Receipts are signed with the server's key: set {KEY_ENV} to an Ed25519 private key file "
        "(`delivery keygen`) on every API process.", {"setting": KEY_ENV},
    )


def signing_key(database: Database, environ: Mapping[str, str] | None = None) -> Ed25519PrivateKey:
    """The server's private key; beside a SQLite store one is made on first use (only its owner reads it)."""
    path = key_path(database, environ)
    with _keys_lock:
        if path in _keys:
            return _keys[path]
        configured = bool((os.environ if environ is None else environ).get(KEY_ENV, "").strip())
        if not path.exists() and not configured:
            _make_key(path)
        try:
            key = load_private(path)
        except (OSError, ValueError) as exc:
            raise ReceiptUnavailable(f"The signing key {path} cannot be read: {exc}.", {"setting": KEY_ENV}) from None
        _keys[path] = key
        return key


def _make_key(path: Path) -> None:
    """A new key pair at `path` (and .pub), made whole beside it and linked in: a process starting at the same
    moment either makes it first or reads the complete one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    generate_keys(draft, draft.with_suffix(".pub"))
    try:
        os.link(draft, path)
        os.replace(draft.with_suffix(".pub"), path.with_suffix(".pub"))
    except FileExistsError:
        draft.with_suffix(".pub").unlink(missing_ok=True)  # another process made it first
    finally:
        draft.unlink(missing_ok=True)


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")


# ----------------------------------------------------------------- issuing


def issue(app: DeliveryApplication, store: ViewStore, project_id: str, version: int,
          key: Ed25519PrivateKey) -> dict[str, Any]:
    """The signed receipt of the project's event at `version` (a sign-off or a change decision)."""
    pid = str(parse_project_id(project_id))
    verifier = Verifier(app, store)
    events = [e for e in verifier.project_events(pid) if e.version <= version]
    if not events or events[-1].version != version:
        raise NotFound("receipt", f"{pid} v{version}")
    last = events[-1]
    if last.error:
        raise HistoryAltered(f"The event at v{version} cannot be read ({last.error}): no receipt is signed.",
                             {"project_id": pid, "version": version})
    body = json.loads(last.body)
    if body["type"] not in RECEIPT_EVENTS:
        raise NotFound("receipt", f"{pid} v{version}")
    recorded = {r.version: r for r in verifier.recorded_links(pid)}
    linked = recorded.get(version)
    if linked is None:
        raise ReceiptUnavailable(msg("receipt_not_linked", version=version), {"project_id": pid, "version": version})
    head = GENESIS
    for e in events:
        head = link(head, e.body)
    if head.hex() != linked.project_link or last.position != linked.position:
        raise HistoryAltered(
            f"Project {pid}'s stored events up to v{version} differ from the links made when they were "
            "recorded: no receipt is signed (run `delivery verify --project` to see where).",
            {"project_id": pid, "version": version},
        )
    statement = {"format": FORMAT, "project_id": pid, "version": version, "position": last.position,
                 "event": body, "project_head": head.hex()}
    return {
        "statement": statement,
        "signature": base64.b64encode(key.sign(canonical_bytes(statement))).decode("ascii"),
        "key": fingerprint(key.public_key()),
    }


# --------------------------------------------------------------- checking


def open_receipt(document: object, public: Ed25519PublicKey) -> dict[str, Any]:
    """The receipt's statement once its signature holds under `public`; ValueError otherwise."""
    if not isinstance(document, dict):
        raise ValueError("not a receipt: a JSON object with statement and signature is expected")
    try:
        statement = document["statement"]
        signature = base64.b64decode(document["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a receipt: {exc}") from None
    if not isinstance(statement, dict) or statement.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} statement")
    try:
        public.verify(signature, canonical_bytes(statement))
    except InvalidSignature:
        raise ValueError("the signature does not verify with this public key") from None
    shape = {"project_id": str, "version": int, "position": int, "event": dict, "project_head": str}
    for name, kind in shape.items():
        if not isinstance(statement.get(name), kind) or isinstance(statement.get(name), bool):
            raise ValueError(f"a signed statement of an unexpected shape: {name} is not a {kind.__name__}")
    return statement


def check(app: DeliveryApplication, store: ViewStore, statement: dict[str, Any]) -> dict[str, Any]:
    """Whether the store still holds exactly the history up to the receipt, and if not, where it differs."""
    pid, version, position = statement["project_id"], statement["version"], statement["position"]
    result: dict[str, Any] = {"holds": False, "project_id": pid, "version": version, "position": position,
                              "signed_head": statement["project_head"], "event_type": statement["event"].get("type")}
    try:
        pid = str(parse_project_id(pid))
    except NotFound:
        result["reason"] = "the receipt names no project this store could hold"
        return result
    verifier = Verifier(app, store)
    events = [e for e in verifier.project_events(pid) if e.version <= version]
    head = GENESIS
    for e in events:
        head = link(head, e.body)
    result["head"] = head.hex()
    last = events[-1] if events else None
    signed_body = canonical_bytes(statement["event"])
    if last is None or last.version != version or len(events) != version:
        result["reason"] = (f"the store does not hold project {pid}'s history up to v{version} "
                            f"({len(events)} of its events are there)")
    elif last.body != signed_body:
        result["reason"] = f"the event at v{version} is no longer the one the receipt names"
    elif last.position != position:
        result["reason"] = f"the event at v{version} is at position {last.position}, not {position}"
    elif head.hex() != statement["project_head"]:
        result["reason"] = f"an earlier event of the project was changed: {_first_changed(verifier, pid, version)}"
    else:
        result["holds"] = True
        result["reason"] = "the store holds exactly the history up to the receipt"
    return result


def _first_changed(verifier: Verifier, pid: str, version: int) -> str:
    """The first event the chain table locates as changed, or that the table was rewritten to agree."""
    verdict = verifier.project_chain(pid)
    bad = verdict.first_bad
    if bad is not None and (bad.get("version") or 0) <= version:
        return str(bad["message"])
    return ("its chain differs from the signed one, and the chain table was rewritten to agree, "
            "so no record says which event")
