"""Signed checkpoints: (position, events, head, each project's head, time) signed with an Ed25519 key
kept outside the database.

A checkpoint file is one JSON object: the signed `statement` (canonical JSON, the
bytes that were signed) and `signature`, plus the signer's public key fingerprint.
Whoever holds the public key can later prove the history up to `position` is unchanged
by recomputing the store chain from the events alone (`delivery verify --checkpoint`);
the projects' heads name the project that changed when the chain table was rewritten
to agree with an edit. Checkpoints of format 1 (links of chain form 1, no projects)
are still checked, with that form.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "delivery-checkpoint/2"
# Each format's statement is checked by recomputing the links in this chain form (projections.chain).
FORMS = {"delivery-checkpoint/1": 1, FORMAT: 2}


def _canonical(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def generate_keys(private_path: Path, public_path: Path) -> str:
    """Write a new key pair (the private one readable by its owner only); returns the fingerprint."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ))
    return fingerprint(key.public_key())


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Checkpoint:
    position: int
    events: int
    head: str
    time: str
    # project id -> (its last version at `position`, its project chain's head there)
    projects: dict[str, tuple[int, str]] = field(default_factory=dict)
    form: int = 2

    def statement(self) -> dict[str, Any]:
        return {"format": FORMAT, "position": self.position, "events": self.events, "head": self.head,
                "time": self.time, "projects": {k: list(v) for k, v in sorted(self.projects.items())}}


def sign(
    key: Ed25519PrivateKey, position: int, events: int, head: str, time: datetime,
    projects: dict[str, tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """The checkpoint file's content."""
    statement = Checkpoint(position, events, head, time.isoformat(), projects or {}).statement()
    return {
        "statement": statement,
        "signature": base64.b64encode(key.sign(_canonical(statement))).decode("ascii"),
        "key": fingerprint(key.public_key()),
    }


def open_checkpoint(document: dict[str, Any], public: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint, once its signature holds under `public`; ValueError otherwise."""
    try:
        statement = document["statement"]
        signature = base64.b64decode(document["signature"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a checkpoint file: {exc}") from exc
    if not isinstance(statement, dict) or statement.get("format") not in FORMS:
        raise ValueError(f"not a {FORMAT} statement")
    try:
        public.verify(signature, _canonical(statement))
    except InvalidSignature:
        raise ValueError("the signature does not verify with this public key") from None
    try:
        projects = {str(k): (int(v[0]), str(v[1])) for k, v in statement.get("projects", {}).items()}
        return Checkpoint(int(statement["position"]), int(statement["events"]), str(statement["head"]),
                          str(statement["time"]), projects, FORMS[statement["format"]])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"a signed statement of an unexpected shape: {exc}") from exc
