"""The settings: DELIVERY_DATABASE_URL chooses the store (translated here for the library);
DELIVERY_TEMPLATES_DIR names a folder of the organisation's own stage templates."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from delivery.errors import InvalidInput
from delivery.messages import msg

DEFAULT_URL = "sqlite:///var/delivery.sqlite3"
# How long a PostgreSQL statement waits for a pooled connection: while the database is away a request is
# refused (503) after about this long instead of holding its thread, and a busy pool this slow is overloaded.
POOL_WAIT_SECONDS = 3

TEMPLATES_ENV = "DELIVERY_TEMPLATES_DIR"


def templates_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The folder of the organisation's own stage templates (TOML), if one is set."""
    env = os.environ if environ is None else environ
    value = env.get(TEMPLATES_ENV, "").strip()
    return Path(value) if value else None


@dataclass(frozen=True)
class Database:
    """Where the events (and, beside them, the projection tables) live."""

    url: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Database:
        env = os.environ if environ is None else environ
        return cls(env.get("DELIVERY_DATABASE_URL") or DEFAULT_URL)

    @property
    def kind(self) -> str:
        scheme = urlsplit(self.url).scheme.split("+")[0]
        if scheme == "sqlite":
            return "sqlite"
        if scheme in ("postgresql", "postgres"):
            return "postgresql"
        raise InvalidInput("DELIVERY_DATABASE_URL", msg("rule_database_url"))

    @property
    def sqlite_path(self) -> str:
        # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them.
        path = self.url.split(":///", 1)[1] if ":///" in self.url else ""
        if not path:
            raise InvalidInput("DELIVERY_DATABASE_URL", msg("rule_sqlite_path"))
        return path

    @property
    def schema(self) -> str | None:
        values = parse_qs(urlsplit(self.url).query).get("schema")
        return values[0] if values else None

    def eventsourcing_env(self) -> dict[str, str]:
        """The library's persistence variables for this database."""
        if self.kind == "sqlite":
            path = self.sqlite_path
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": path,
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        parts = urlsplit(self.url)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": os.environ.get("DELIVERY_POOL_SIZE", "5"),
            "POSTGRES_CONNECT_TIMEOUT": str(POOL_WAIT_SECONDS),
            # A connection left stale by a database restart is replaced when taken, not found broken mid-command.
            "POSTGRES_PRE_PING": "y",
        }
        if self.schema:
            env["POSTGRES_SCHEMA"] = self.schema
        return env

    def lock_key(self, purpose: str) -> int:
        """A PostgreSQL advisory lock key for one purpose in this store (see `lock_key`)."""
        return lock_key(self.schema, purpose)

    def channel(self, purpose: str) -> str:
        """A LISTEN/NOTIFY channel name for one purpose in this store (channels are database-wide too)."""
        return f"delivery_{purpose}_{self.schema}"[:63] if self.schema else f"delivery_{purpose}"

    def sqlalchemy_url(self) -> str:
        """The same database as a SQLAlchemy URL (psycopg 3 driver for PostgreSQL)."""
        if self.kind == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        netloc_and_path = self.url.split("://", 1)[1].split("?", 1)[0]
        return f"postgresql+psycopg://{netloc_and_path}"


def lock_key(schema: str | None, purpose: str) -> int:
    """A PostgreSQL advisory lock key for one purpose in one schema.

    Advisory locks are database-wide: keying them by schema keeps two stores in one
    database (tests, benchmarks) from waiting on each other.
    """
    digest = hashlib.sha256(f"{schema or 'public'}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class AuthLimit:
    """How many failed authentications (bad token, failed sign-in, unknown share link) one client address
    may make within `window` seconds before it is answered 429 with Retry-After. Counted per process."""

    failures: int = 20
    window: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AuthLimit:
        """DELIVERY_AUTH_FAILURES (default 20; 0 turns the limit off) and DELIVERY_AUTH_WINDOW_SECONDS (300)."""
        env = os.environ if environ is None else environ
        return cls(_whole(env, "DELIVERY_AUTH_FAILURES", cls.failures),
                   float(_whole(env, "DELIVERY_AUTH_WINDOW_SECONDS", int(cls.window))))


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidInput(name, msg("rule_whole_digits"))
    return int(value)
