"""Idempotency-Key: a retried write is answered with its first response and records nothing again.

Keys belong to the token that sent them. A key is reserved before the command
runs (so two copies of one request racing each other cannot both record), then
holds the response; a refused command releases its key, since nothing was recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from api.errors import IdempotencyInProgress, IdempotencyKeyReused
from delivery import clock
from projections.tables import create_all

KEY_MAX = 200
# A key is remembered this long; a reservation whose request died is taken over after STALE.
KEEP = timedelta(hours=24)
STALE = timedelta(seconds=60)

metadata = MetaData()

idempotency_table = Table(
    "api_idempotency", metadata,
    Column("token_id", String(16), primary_key=True),
    Column("key_hash", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer),
    Column("body", Text),
    Column("headers", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str]


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request's identity: method, path and the body in canonical JSON."""
    text = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_all(engine, metadata)
        self._begun = 0

    def begin(self, token_id: str, key: str, print_: str) -> StoredResponse | None:
        """Reserve the key for this request; the stored response when it was already answered."""
        self._begun += 1
        if self._begun % 200 == 1:
            self.purge()
        t = idempotency_table
        kh = _key_hash(key)
        now = clock.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(t).values(token_id=token_id, key_hash=kh, fingerprint=print_, created_at=now))
            return None
        except IntegrityError:
            pass
        where = (t.c.token_id == token_id) & (t.c.key_hash == kh)
        with self.engine.begin() as conn:
            row = conn.execute(select(t).where(where)).first()
            if row is None:  # released in between: try once more from the top
                conn.execute(insert(t).values(token_id=token_id, key_hash=kh, fingerprint=print_, created_at=now))
                return None
            if row.fingerprint != print_:
                raise IdempotencyKeyReused()
            if row.status is not None:
                return StoredResponse(row.status, json.loads(row.body), json.loads(row.headers))
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=now.tzinfo)
            if now - created < STALE:
                raise IdempotencyInProgress()
            unchanged = where & (t.c.created_at == row.created_at) & t.c.status.is_(None)
            taken = conn.execute(update(t).where(unchanged).values(created_at=now)).rowcount
        if not taken:
            raise IdempotencyInProgress()
        return None

    def finish(self, token_id: str, key: str, response: StoredResponse) -> None:
        t = idempotency_table
        with self.engine.begin() as conn:
            conn.execute(
                update(t).where((t.c.token_id == token_id) & (t.c.key_hash == _key_hash(key))).values(
                    status=response.status, body=json.dumps(response.body), headers=json.dumps(response.headers),
                )
            )

    def release(self, token_id: str, key: str) -> None:
        t = idempotency_table
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(
                (t.c.token_id == token_id) & (t.c.key_hash == _key_hash(key)) & t.c.status.is_(None)
            ))

    def purge(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(idempotency_table).where(idempotency_table.c.created_at < clock.now() - KEEP))
