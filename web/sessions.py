"""Web sessions (a signed-in token or an opened share link) and client share links, beside the tokens.

Both tables keep only the SHA-256 of the secret the browser holds, like `api_tokens`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, delete, insert, select, update

from api.auth import Principal, tokens_table
from delivery import clock
from delivery.errors import InvalidInput, NotFound
from delivery.messages import msg
from delivery.validation import NAME_MAX, text
from projections.tables import create_all

SESSION_TTL = timedelta(days=7)
MAX_SHARE_DAYS = 365

metadata = MetaData()

sessions_table = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    # "token": signed in with an API token (ref = its id); "share": opened a share link (ref = the link id).
    Column("kind", String(8), nullable=False),
    Column("ref", String(32), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

share_links_table = Table(
    "web_share_links", metadata,
    Column("id", String(16), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("project_id", String(64), nullable=False, index=True),
    Column("created_by", String(120), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)

# Share links the pm let sign off (and propose and comment), with the name the client's events carry.
# A table of its own, so stores made before it gain it without touching `web_share_links`.
share_signers_table = Table(
    "web_share_signers", metadata,
    Column("link_id", String(16), primary_key=True),
    Column("signer", String(120), nullable=False),
    Column("granted_by", String(120), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else clock.as_utc(moment)


@dataclass(frozen=True)
class Session:
    """A browser's session: who it is and the CSRF token its forms carry."""

    principal: Principal
    csrf: str
    share_link: str | None = None
    # The name a share link signs with, when the pm granted it sign-off (None: read-only).
    signer: str | None = None

    @property
    def takes_part(self) -> bool:
        """A client who may sign off, propose and comment: a client token, or a share link granted sign-off."""
        return self.principal.role == "client" and (self.share_link is None or self.signer is not None)


@dataclass(frozen=True)
class ShareLink:
    id: str
    project_id: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


class WebStore:
    """The `web_sessions` and `web_share_links` tables, in the events' database."""

    def __init__(self, engine: Engine, reader: Engine | None = None) -> None:
        self.engine = engine
        self.reader = reader or engine
        create_all(engine, metadata)

    # -------------------------------------------------------------- sessions

    def open_for_token(self, token_id: str) -> str:
        return self._open("token", token_id)

    def open_for_share(self, secret: str) -> str | None:
        """A session for a live share link's secret, or None when it is unknown, expired or revoked."""
        link = self._live_link(_hash(secret))
        return None if link is None else self._open("share", link.id)

    def _open(self, kind: str, ref: str) -> str:
        session_id = secrets.token_urlsafe(32)
        now = clock.now()
        with self.engine.begin() as conn:
            conn.execute(delete(sessions_table).where(sessions_table.c.expires_at < now))
            conn.execute(insert(sessions_table).values(
                id_hash=_hash(session_id), kind=kind, ref=ref, csrf=secrets.token_urlsafe(24),
                created_at=now, expires_at=now + SESSION_TTL,
            ))
        return session_id

    def close(self, session_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions_table).where(sessions_table.c.id_hash == _hash(session_id)))

    def session(self, session_id: str | None) -> Session | None:
        """The live session behind a cookie; a revoked token or link ends it at once."""
        if not session_id or len(session_id) > 100:
            return None
        with self.reader.connect() as conn:
            row = conn.execute(select(sessions_table).where(sessions_table.c.id_hash == _hash(session_id))).first()
            if row is None or _utc(row.expires_at) <= clock.now():  # type: ignore[operator]
                return None
            if row.kind == "token":
                token = conn.execute(select(tokens_table).where(tokens_table.c.id == row.ref)).first()
                if token is None or token.revoked_at is not None:
                    return None
                principal = Principal(token.id, token.role, token.name, frozenset(json.loads(token.projects)))
                return Session(principal, row.csrf)
        link = self._link_by_id(row.ref)
        if link is None or link.status(clock.now()) != "active":
            return None
        # A share link reads like a client token naming one project; granted sign-off, it writes as its signer.
        signer = self.signer_of(link.id)
        principal = Principal(f"share:{link.id}", "client", signer or "share link", frozenset({link.project_id}))
        return Session(principal, row.csrf, share_link=link.id, signer=signer)

    # ----------------------------------------------------------- share links

    def create_link(self, project_id: str, *, days: int, created_by: str) -> tuple[str, ShareLink]:
        """A new link's secret (shown once) and what is stored about it."""
        if not 1 <= days <= MAX_SHARE_DAYS:
            raise InvalidInput("days", msg("rule_between", low=1, high=MAX_SHARE_DAYS))
        secret = secrets.token_urlsafe(24)
        now = clock.now()
        link = ShareLink(secrets.token_hex(4), project_id, created_by, now, now + timedelta(days=days), None)
        with self.engine.begin() as conn:
            conn.execute(insert(share_links_table).values(
                id=link.id, secret_hash=_hash(secret), project_id=project_id, created_by=created_by,
                created_at=now, expires_at=link.expires_at, revoked_at=None,
            ))
        return secret, link

    def links(self, project_id: str) -> list[ShareLink]:
        stmt = (select(share_links_table).where(share_links_table.c.project_id == project_id)
                .order_by(share_links_table.c.created_at))
        with self.reader.connect() as conn:
            return [_link(r) for r in conn.execute(stmt).all()]

    def revoke_link(self, project_id: str, link_id: str) -> None:
        with self.engine.begin() as conn:
            found = conn.execute(update(share_links_table).where(
                share_links_table.c.id == link_id, share_links_table.c.project_id == project_id,
                share_links_table.c.revoked_at.is_(None),
            ).values(revoked_at=clock.now()))
        if found.rowcount == 0 and self._link_by_id(link_id) is None:
            raise NotFound("share link", link_id)

    def live_link(self, secret: str) -> ShareLink | None:
        """The link a secret opens, while it is neither expired nor revoked."""
        return self._live_link(_hash(secret)) if 0 < len(secret) <= 64 else None

    def _live_link(self, secret_hash: str) -> ShareLink | None:
        with self.reader.connect() as conn:
            row = conn.execute(select(share_links_table).where(share_links_table.c.secret_hash == secret_hash)).first()
        if row is None:
            return None
        link = _link(row)
        return link if link.status(clock.now()) == "active" else None

    # ------------------------------------------- sign-off grants (issue 14)

    def grant_signoff(self, project_id: str, link_id: str, *, signer: str, granted_by: str) -> None:
        """Let a live share link of the project sign off, propose and comment as `signer` (its events' actor)."""
        name = text("signer", signer, max_len=NAME_MAX)
        link = self._link_by_id(link_id)
        if link is None or link.project_id != project_id:
            raise NotFound("share link", link_id)
        if link.status(clock.now()) != "active":
            raise InvalidInput("link_id", msg("rule_share_link"))
        with self.engine.begin() as conn:
            conn.execute(delete(share_signers_table).where(share_signers_table.c.link_id == link_id))
            conn.execute(insert(share_signers_table).values(
                link_id=link_id, signer=name, granted_by=granted_by, granted_at=clock.now()))

    def signer_of(self, link_id: str) -> str | None:
        with self.reader.connect() as conn:
            found = conn.execute(select(share_signers_table.c.signer)
                                 .where(share_signers_table.c.link_id == link_id)).scalar()
        return None if found is None else str(found)

    def signers(self, project_id: str) -> dict[str, str]:
        """The project's share links granted sign-off, with their signer's name."""
        stmt = (select(share_signers_table.c.link_id, share_signers_table.c.signer)
                .join(share_links_table, share_links_table.c.id == share_signers_table.c.link_id)
                .where(share_links_table.c.project_id == project_id))
        with self.reader.connect() as conn:
            return {str(link_id): str(name) for link_id, name in conn.execute(stmt)}

    def _link_by_id(self, link_id: str) -> ShareLink | None:
        with self.reader.connect() as conn:
            row = conn.execute(select(share_links_table).where(share_links_table.c.id == link_id)).first()
        return None if row is None else _link(row)


def _link(r: Any) -> ShareLink:
    created, expires = _utc(r.created_at), _utc(r.expires_at)
    assert created is not None and expires is not None
    return ShareLink(r.id, r.project_id, r.created_by, created, expires, _utc(r.revoked_at))

