"""Bearer tokens: who is calling, in which role, and (for a client) which projects they may see.

A token is shown once, when it is created; the database keeps only its SHA-256,
so a copy of the database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import Column, DateTime, Engine, MetaData, Row, String, Table, Text, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from delivery import clock
from delivery.errors import InvalidInput, NotFound
from delivery.messages import msg
from delivery.validation import storable
from projections.tables import create_all

log = logging.getLogger(__name__)

Role = Literal["pm", "client", "auditor"]
ROLES: tuple[Role, ...] = ("pm", "client", "auditor")
TOKEN_PREFIX = "dt_"
# How long a process trusts a token it has checked, and how many it remembers.
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 10_000
# A token used in the last this many seconds of its trust is checked again beside the request (`cached`).
REFRESH_AHEAD = 1.0

metadata = MetaData()

tokens_table = Table(
    "api_tokens", metadata,
    Column("id", String(16), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("name", String(120), nullable=False),
    Column("projects", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)


@dataclass(frozen=True)
class Principal:
    """The identity behind a request."""

    token_id: str
    role: Role
    name: str
    projects: frozenset[str]

    def may_see(self, project_id: str) -> bool:
        return self.role != "client" or project_id in self.projects


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: Role
    name: str
    projects: list[str]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def canonical_project_ids(values: Iterable[str]) -> list[str]:
    """Project ids in their canonical UUID form, each once, in the order given."""
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            pid = str(UUID(value))
        except (ValueError, TypeError, AttributeError):
            raise InvalidInput(f"projects[{i}]", msg("rule_role_names_projects")) from None
        if pid not in out:
            out.append(pid)
    return out


class TokenStore:
    """The `api_tokens` table, beside the events in the same database."""

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        # Every request authenticates: on SQLite that read must not queue behind writers.
        self.reader = reader or engine
        # Live tokens by their text: dropped at once when revoked here, within CACHE_SECONDS when
        # revoked through another process.
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._refreshing: set[str] = set()  # tokens being checked again by a thread of `_refresh`
        # Ids revoked through this process: a look-up that read the row before the revocation committed (a
        # refresh in flight) must not put the token back.
        self._revoked: set[str] = set()
        create_all(engine, metadata)

    def create(self, *, role: str, projects: Iterable[str] = (), name: str | None = None,
               created_by: str = "cli") -> tuple[str, TokenInfo]:
        """A new token (returned once, in clear) and what is stored about it."""
        if role not in ROLES:
            raise InvalidInput("role", msg("rule_one_of", options=list(ROLES)))
        pids = canonical_project_ids(projects)
        if role != "client" and pids:
            raise InvalidInput("projects", msg("rule_client_projects_only"))
        token_id = secrets.token_hex(4)
        label = storable("name", (name or "").strip()) or f"{role}-{token_id}"
        if len(label) > 80:
            raise InvalidInput("name", msg("rule_max_chars", max=80))
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = clock.now()
        with self.engine.begin() as conn:
            conn.execute(insert(tokens_table).values(
                id=token_id, token_hash=hash_token(token), role=role, name=label,
                projects=json.dumps(pids), created_at=now, created_by=created_by, revoked_at=None,
            ))
        info = TokenInfo(token_id, role, label, pids, now, created_by, None)  # type: ignore[arg-type]
        return token, info

    def cached(self, token: str) -> Principal | None:
        """The principal of a live token seen in the last CACHE_SECONDS, without touching the database.

        A token used in its last REFRESH_AHEAD seconds of trust is checked again by a thread while the
        request goes on, so a token in steady use never falls out of the cache: when it did, every request
        in flight at that moment (32 under the bench's load, every 5 s) took the slow path at once, each
        with its own look-up, and waited ~100 ms. A token revoked through another process is still dropped
        within CACHE_SECONDS: each check reads the database.
        """
        hit = self._cache.get(token)
        if hit is None:
            return None
        left = hit[1] - time.monotonic()
        if left < 0:
            return None
        if left < REFRESH_AHEAD and token not in self._refreshing:
            self._refreshing.add(token)
            threading.Thread(target=self._refresh, args=(token,), name="token-refresh", daemon=True).start()
        return hit[0]

    def _refresh(self, token: str) -> None:
        """Check a cached token again (a thread of `cached`): kept anew while live, dropped once revoked.

        A database away leaves the entry to expire, the requests after it then answering as without a cache,
        and the token marked: no other check starts (one per request, each failing) before a look-up succeeds
        (`authenticate` clears the mark).
        """
        try:
            if self.authenticate(token) is None:
                self._cache.pop(token, None)
        except SQLAlchemyError as exc:
            log.info("a cached token could not be checked again (%s); it expires as it stands", exc)
            return
        self._refreshing.discard(token)

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a live token, or None for an unknown or revoked one."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        stmt = select(tokens_table).where(tokens_table.c.token_hash == hash_token(token))
        with self.reader.connect() as conn:
            row = conn.execute(stmt).first()
        if row is None or row.revoked_at is not None or row.id in self._revoked:
            return None
        principal = Principal(row.id, row.role, row.name, frozenset(json.loads(row.projects)))
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.clear()
        self._cache[token] = (principal, time.monotonic() + CACHE_SECONDS)
        self._refreshing.discard(token)  # checked now: the next check may start when this trust runs low
        if row.id in self._revoked:  # revoked here while this look-up ran (`revoke` marks it, then drops it)
            self._cache.pop(token, None)
            return None
        return principal

    def list(self) -> list[TokenInfo]:
        with self.reader.connect() as conn:
            rows = conn.execute(select(tokens_table).order_by(tokens_table.c.created_at)).all()
        return [_info(r) for r in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        with self.engine.begin() as conn:
            row = conn.execute(select(tokens_table).where(tokens_table.c.id == token_id)).first()
            if row is None:
                raise NotFound("token", token_id)
            if row.revoked_at is None:
                conn.execute(update(tokens_table).where(tokens_table.c.id == token_id).values(revoked_at=clock.now()))
            self._revoked.add(token_id)
            for token, (principal, _until) in list(self._cache.items()):
                if principal.token_id == token_id:
                    self._cache.pop(token, None)
            row = conn.execute(select(tokens_table).where(tokens_table.c.id == token_id)).one()
        return _info(row)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else clock.as_utc(moment)


def _info(r: Row[Any]) -> TokenInfo:
    created = _utc(r.created_at)
    assert created is not None
    return TokenInfo(
        id=r.id, role=r.role, name=r.name, projects=json.loads(r.projects),
        created_at=created, created_by=r.created_by, revoked_at=_utc(r.revoked_at),
    )
