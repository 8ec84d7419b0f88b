"""Write throughput: our commands against the event library's own save path, in the same run.

baseline: a bare `eventsourcing` aggregate, one event per save (load + save, no rules);
commands: `add_scope_item` on a project (load from snapshot, rules, save);
commands + live views: the same with the in-process views catching up after every save.
Usage: python bench/writes.py [--events 1000] [--url postgresql://...?schema=bench]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.service import ReadSide


class Counter(Aggregate):
    @event("Counted")
    def count(self, n: int) -> None:
        self.n = n


class Bare(Application[UUID]):
    name = "bare"
    snapshotting_intervals = {Counter: 50}  # noqa: RUF012 (the library reads this class attribute)


def rate(count: int, fn: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--url", help="database URL (default: temporary SQLite files)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        def database(name: str) -> Database:
            return Database(args.url or f"sqlite:///{Path(folder) / name}")

        bare = Bare(env={**database("bare.sqlite3").eventsourcing_env()})
        counter = Counter()
        bare.save(counter)

        def bare_write(i: int) -> None:
            c: Counter = bare.repository.get(counter.id)
            c.count(i)
            bare.save(c)

        base = rate(args.events, bare_write)
        bare.close()

        app = DeliveryApplication(database("plain.sqlite3"))
        pid = app.create_project(name="Bench", client="Bench", actor="bench").value
        plain = rate(args.events, lambda i: app.add_scope_item(pid, title=f"item {i}", tier="core", actor="bench"))
        app.close()

        app = DeliveryApplication(database("live.sqlite3"))
        with ReadSide(app, live=True):
            pid = app.create_project(name="Bench", client="Bench", actor="bench").value
            live = rate(args.events, lambda i: app.add_scope_item(pid, title=f"item {i}", tier="core", actor="bench"))
        app.close()

    kind = Database(args.url).kind if args.url else "sqlite"
    print(f"writes on {kind}, {args.events:,} saves each, one project (snapshots every 50 events)")
    print(f"  baseline: bare eventsourcing aggregate: {base:8,.0f} saves/s")
    print(f"  delivery commands:                      {plain:8,.0f} saves/s ({plain / base:.2f}x the baseline)")
    print(f"  delivery commands + live views:         {live:8,.0f} saves/s ({live / base:.2f}x the baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
