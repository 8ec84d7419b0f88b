"""Fixtures shared by every test: a fresh SQLite file, or a fresh PostgreSQL schema, per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from delivery.settings import Database

PG_URL = os.environ.get(
    "DELIVERY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("DELIVERY_REQUIRE_POSTGRES") == "1"

_pg_state: dict[str, str | None] = {}


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here (None when it can); asked once per run."""
    if "problem" not in _pg_state:
        try:
            import psycopg

            with psycopg.connect(PG_URL, connect_timeout=3):
                pass
            _pg_state["problem"] = None
        except Exception as exc:  # any failure to connect means: no server for these tests
            _pg_state["problem"] = f"PostgreSQL at {PG_URL} is not reachable: {exc}"
    return _pg_state["problem"]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database URL whose schema exists only for this test, dropped afterwards."""
    problem = _postgres_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem + " (DELIVERY_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'delivery.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    """The same test on both stores."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return Database(request.getfixturevalue(name))
