"""The token cache: a token in steady use stays in it (checked again beside the requests, never by all of them at
once), and a revocation still reaches it: at once through this process, within CACHE_SECONDS through another."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError

from api import auth
from api.auth import TokenStore


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = create_engine(f"sqlite:///{tmp_path / 'tokens.sqlite3'}")
    yield made
    made.dispose()


@contextmanager
def short_trust(seconds: float, ahead: float) -> Iterator[None]:
    with mock.patch.multiple(auth, CACHE_SECONDS=seconds, REFRESH_AHEAD=ahead):
        yield


def until(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return False


def test_a_token_in_steady_use_never_falls_out_of_the_cache(engine: Engine) -> None:
    store = TokenStore(engine)
    token, info = store.create(role="pm", name="Pat")
    looked_up: list[float] = []
    authenticate = store.authenticate

    def counted(text: str) -> Any:
        looked_up.append(time.monotonic())
        return authenticate(text)

    # Trusted for 1 s, checked again in its last 0.8 s: a check has that long to finish (a loaded machine).
    with short_trust(1.0, 0.8), mock.patch.object(store, "authenticate", counted):
        assert authenticate(token) is not None
        started = time.monotonic()
        while time.monotonic() - started < 3.0:  # three times the trust
            principal = store.cached(token)
            assert principal is not None and principal.token_id == info.id
            time.sleep(0.01)
    assert 3 <= len(looked_up) <= 40, looked_up  # checked again every ~0.2 s (not at each of ~300 calls)


def test_a_token_revoked_through_another_process_leaves_the_cache_within_its_time(engine: Engine) -> None:
    here, there = TokenStore(engine), TokenStore(engine)
    token, info = here.create(role="client", name="Cleo")
    with short_trust(0.5, 0.3):
        assert here.authenticate(token) is not None
        there.revoke(info.id)
        revoked = time.monotonic()
        assert until(lambda: here.cached(token) is None)
        assert time.monotonic() - revoked < 0.5 + 1.0  # its trust, and a check in flight
        for _ in range(20):  # and it stays out: no refresh puts it back
            assert here.cached(token) is None
            time.sleep(0.02)


def test_a_token_revoked_here_while_a_check_reads_it_is_not_put_back(engine: Engine) -> None:
    store = TokenStore(engine)
    token, info = store.create(role="auditor", name="Audrey")
    read, revoked = threading.Event(), threading.Event()
    connect = engine.connect

    @contextmanager
    def slow_connect() -> Iterator[Any]:
        with connect() as conn:
            class Reading:
                def execute(self, *args: Any) -> Any:
                    found = conn.execute(*args)
                    read.set()
                    revoked.wait(5)  # the row was read as live; the revocation commits now
                    return found
            yield Reading()

    with short_trust(0.5, 0.5):
        assert store.authenticate(token) is not None
        with mock.patch.object(store, "reader", mock.Mock(connect=slow_connect)):
            assert store.cached(token) is not None  # within REFRESH_AHEAD: a check starts beside it
            assert read.wait(5)
            store.revoke(info.id)
            revoked.set()
            assert until(lambda: not store._refreshing)
        assert store.cached(token) is None
        assert store.authenticate(token) is None


def test_a_check_that_fails_is_not_tried_again_at_every_request(engine: Engine) -> None:
    """The database away: the cached token serves out its trust, one check failed, not one per request."""
    store = TokenStore(engine)
    token, _ = store.create(role="pm", name="Pat")
    tries: list[float] = []

    def away(_text: str) -> Any:
        tries.append(time.monotonic())
        raise OperationalError("SELECT", {}, Exception("the database went away"))

    with short_trust(0.5, 0.4):
        assert store.authenticate(token) is not None
        with mock.patch.object(store, "authenticate", away):
            while store.cached(token) is not None:  # until its trust runs out
                time.sleep(0.005)
        assert len(tries) == 1, tries
        assert store.authenticate(token) is not None  # back: a look-up succeeds and clears the mark
        assert token not in store._refreshing
