"""Group commit (delivery/keyed.py Together): saves that meet share a transaction; each gets its own outcome."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from delivery.keyed import Together, _Save


class FakeStore:
    """Writes by appending; the first transaction waits until released, so the others queue behind it."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.rows: list[str] = []
        self.transactions: list[list[str]] = []
        self.refuse = refuse or set()
        self.release = threading.Event()
        self.writing = threading.Event()

    def write_all(self, saves: list[_Save]) -> list[Sequence[int] | None]:
        names = [str(s.events[0]) for s in saves]
        self.writing.set()
        if not self.transactions:
            self.release.wait(10)
        if self.refuse & set(names):
            raise IntegrityError(f"refused {sorted(self.refuse & set(names))}")  # the shared one rolls back whole
        self.transactions.append(names)
        start = len(self.rows)
        self.rows += names
        return [[start + i] for i in range(len(names))]

    def write_alone(self, save: _Save) -> Sequence[int] | None:
        name = str(save.events[0])
        if name in self.refuse:
            raise IntegrityError(f"refused {name}")
        self.transactions.append([name])
        self.rows.append(name)
        return [len(self.rows) - 1]


def save_all(together: Together, store: FakeStore, names: list[str]) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}

    def one(name: str) -> None:
        try:
            outcomes[name] = together.save([name], {})  # type: ignore[list-item]
        except (IntegrityError, OperationalError) as exc:
            outcomes[name] = exc

    first = threading.Thread(target=one, args=(names[0],))
    first.start()
    assert store.writing.wait(10)  # the first is inside its transaction
    rest = [threading.Thread(target=one, args=(n,)) for n in names[1:]]
    for t in rest:
        t.start()
    deadline = time.monotonic() + 10
    while len(together._waiting) < len(rest) and time.monotonic() < deadline:
        time.sleep(0.005)
    store.release.set()
    for t in [first, *rest]:
        t.join(10)
    return outcomes


def test_saves_that_wait_behind_a_transaction_go_together_in_the_next() -> None:
    store = FakeStore()
    together = Together(store.write_all, store.write_alone)
    names = [f"s{i}" for i in range(8)]
    outcomes = save_all(together, store, names)
    assert store.transactions[0] == ["s0"]
    assert len(store.transactions) == 2 and sorted(store.transactions[1]) == sorted(names[1:])
    assert (together.saves, together.transactions) == (8, 2)
    # Each caller got its own position, the one its events were written at.
    assert sorted(store.rows[outcomes[n][0]] for n in names) == sorted(names)
    assert all(store.rows[outcomes[n][0]] == n for n in names)
    assert not together._leading and not together._waiting


def test_a_refused_save_in_a_shared_transaction_fails_alone_and_the_others_are_written_once() -> None:
    store = FakeStore(refuse={"s3"})
    together = Together(store.write_all, store.write_alone)
    names = [f"s{i}" for i in range(6)]
    outcomes = save_all(together, store, names)
    assert isinstance(outcomes["s3"], IntegrityError) and "s3" in str(outcomes["s3"])
    assert sorted(store.rows) == sorted(n for n in names if n != "s3")  # nothing twice, nothing refused
    assert all(store.rows[outcomes[n][0]] == n for n in names if n != "s3")
    assert [len(t) for t in store.transactions] == [1, 1, 1, 1, 1]  # s0; then s1..s5 alone but s3


def test_a_save_alone_that_fails_raises_its_own_error_and_the_next_still_leads() -> None:
    store = FakeStore(refuse={"bad"})
    store.release.set()
    together = Together(store.write_all, store.write_alone)
    with pytest.raises(IntegrityError, match="bad"):
        together.save(["bad"], {})  # type: ignore[list-item]
    assert together.save(["good"], {}) == [0]  # type: ignore[list-item]
    assert store.rows == ["good"] and not together._leading


def test_any_other_error_of_a_shared_transaction_is_every_save_s_own_and_none_is_written_again() -> None:
    # A commit cut by a database gone away may have been recorded: written again alone, a save could count twice.
    class Away(FakeStore):
        def write_all(self, saves: list[_Save]) -> list[Sequence[int] | None]:
            if self.transactions:
                raise OperationalError("server closed the connection unexpectedly")
            return super().write_all(saves)

    store = Away()
    together = Together(store.write_all, store.write_alone)
    outcomes = save_all(together, store, [f"s{i}" for i in range(4)])
    assert outcomes["s0"] == [0]
    assert all(isinstance(outcomes[f"s{i}"], OperationalError) for i in (1, 2, 3))
    assert store.rows == ["s0"] and together.transactions == 2


def test_an_interrupt_while_writing_reaches_every_save_of_the_transaction() -> None:
    def interrupted(saves: list[_Save]) -> list[Sequence[int] | None]:
        raise KeyboardInterrupt

    together = Together(interrupted, lambda save: None)
    with pytest.raises(KeyboardInterrupt):
        together.save(["x"], {})  # type: ignore[list-item]
    assert not together._leading  # the next save leads
