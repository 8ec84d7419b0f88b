"""Portfolio queries at 10,000 projects: indexed keyset pages against a full read filtered in Python.

Prints milliseconds per query and the ratio to the baseline measured in the same run.
Usage: python bench/portfolio.py [--projects 10000] [--url sqlite:///...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from delivery.settings import Database
from delivery.stages import STAGES
from projections.portfolio import Query, page
from projections.store import ViewStore, portfolio_table

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def fill(store: ViewStore, count: int) -> None:
    rnd = random.Random(42)
    clients = [f"Client {i:03d}" for i in range(300)]
    rows = []
    for i in range(count):
        stage = rnd.choice(STAGES)
        due = NOW.date() + timedelta(days=rnd.randint(-20, 60)) if rnd.random() < 0.9 else None
        rows.append({
            "project_id": f"00000000-0000-4000-8000-{i:012d}", "name": f"Project {rnd.randrange(10**6):06d}",
            "client": rnd.choice(clients), "stage": stage.value, "stage_index": stage.order,
            "stage_entered_at": NOW - timedelta(days=rnd.randint(0, 90)), "next_milestone_id": "M1",
            "next_milestone_title": "Milestone", "next_milestone_stage": stage.value,
            "next_milestone_due_on": due, "next_milestone_stage_index": stage.order if due else None,
            "open_criteria": rnd.randint(0, 9), "rejected_criteria": rnd.choice([0, 0, 0, 1]),
            "pending_change_requests": rnd.choice([0, 0, 1, 2]), "drift_pct": rnd.choice([0.0, 10.0, 25.0, 60.0]),
            "release_percent": None, "release_state": rnd.choice([None, None, "ramping", "paused", "rolled_back"]),
            "launched": stage.value == "launch" and rnd.random() < 0.5, "version": 10, "updated_at": NOW,
        })
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            conn.execute(insert(portfolio_table), rows[start:start + 1000])


def timed(fn: Callable[[], object], repeat: int = 20) -> float:
    fn()  # warm the cache
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        store = ViewStore(Database(url))
        fill(store, args.projects)
        today = NOW.date()

        def query(**kw: object) -> Callable[[], object]:
            def run() -> object:
                with store.engine.connect() as conn:
                    return page(conn, Query(today=today, limit=50, **kw))  # type: ignore[arg-type]
            return run

        def baseline() -> object:
            # What the indexes and SQL CASE save us from: read every row, filter and sort in Python.
            with store.engine.connect() as conn:
                rows = conn.execute(select(portfolio_table)).all()
            red = [r for r in rows if r.next_milestone_due_on is not None and r.next_milestone_due_on < today]
            return sorted(red, key=lambda r: (r.name, r.project_id))[:50]

        with store.engine.connect() as conn:
            deep = page(conn, Query(today=today, limit=5000))
        cursor = deep.next_cursor
        base = timed(baseline, repeat=5)
        cases = {
            "first page, no filter": query(),
            "first page, stage=uat": query(stage="uat"),
            "first page, client=Client 007": query(client="Client 007"),
            "first page, health=red": query(health="red"),
            "page after 5,000 rows (keyset)": query(cursor=cursor),
            "first page, sort=health": query(sort="health"),
            "first page, sort=due": query(sort="due"),
        }
        print(f"portfolio at {args.projects:,} projects on {store.engine.dialect.name} (median of 20, ms)")
        print(f"  baseline: read all rows, filter and sort in Python: {base:8.2f} ms")
        for label, fn in cases.items():
            ms = timed(fn)
            print(f"  {label:34s} {ms:8.2f} ms  ({base / ms:6.1f}x faster than baseline)")
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
