"""Idempotency-Key: a retried write is answered with its first response and records nothing again.

Keys belong to the token that sent them. The key (hashed) is recorded in the same
transaction as the events its command records (delivery/keyed.py), so a crash at
any moment leaves either nothing or both: a retry finds what the first request
recorded and is answered from it. A refused command records nothing, key included.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table, Text, Uuid

from delivery.keyed import CommandKey


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request's identity: method, path and the body in canonical JSON."""
    text = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def command_key(token_id: str, key: str, method: str, path: str, body: Any) -> CommandKey:
    """The key a write is recorded under: the token's, the client's key hashed, and the request's fingerprint."""
    return CommandKey(token_id, hashlib.sha256(key.encode()).hexdigest(), fingerprint(method, path, body))


# The keys' table as a backup reads and restores it (delivery/keyed.py's recorders create it, each in its own dialect:
# project_id is text on SQLite and uuid on PostgreSQL, both read and written here as text).
command_keys_table = Table(
    "command_keys", MetaData(),
    Column("owner", Text, primary_key=True), Column("key", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("project_id", String(36).with_variant(Uuid(as_uuid=False), "postgresql"), nullable=False),
    Column("version", BigInteger, nullable=False), Column("position", BigInteger, nullable=False),
    Column("value", Text), Column("recorded_at", Float, nullable=False),
)
