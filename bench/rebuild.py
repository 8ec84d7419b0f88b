"""Rebuild throughput: events/s folded into every view, against reading and decoding the same events.

The baseline is the store's own ceiling (select_notifications + decode, no views),
measured in the same run; the ratio says what the views cost on top of it.
Usage: python bench/rebuild.py [--projects 200] [--url postgresql://...?schema=bench]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from delivery.application import DeliveryApplication
from delivery.settings import Database
from projections.service import ReadSide

PM = "bench"


def write_project(app: DeliveryApplication, i: int) -> None:
    pid = app.create_project(name=f"Project {i:05d}", client=f"Client {i % 50}", actor=PM).value
    for k, tier in enumerate(("core", "core", "touchpoint", "value_added")):
        app.add_scope_item(pid, title=f"{tier} item {k}", tier=tier, actor=PM)
    for stage in ("research", "solution"):
        mid = app.plan_milestone(pid, title=f"{stage} done", stage=stage, due_on=date.today(), actor=PM).value
        for k in range(3):
            cid = app.add_criterion(pid, milestone_id=mid, text=f"criterion {k}", actor=PM).value
            app.verify_criterion(pid, criterion_id=cid, evidence="signed", actor=PM)
        app.reschedule_milestone(pid, milestone_id=mid, due_on=date.today() + timedelta(days=3), reason="slip",
                                 actor=PM)
        app.complete_milestone(pid, milestone_id=mid, actor=PM)
        app.transition(pid, to_stage={"research": "solution", "solution": "planning"}[stage], actor=PM)
    for k in range(3):
        cr = app.raise_change_request(pid, title=f"change {k}", requested_by="client", kind="add",
                                      tier="value_added", schedule_days=2, cost=500, actor=PM).value
        app.approve_change_request(pid, change_request_id=cr, actor=PM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        database = Database(args.url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        app = DeliveryApplication(database)
        started = time.perf_counter()
        for i in range(args.projects):
            write_project(app, i)
        written = app.recorder.max_notification_id() or 0
        write_s = time.perf_counter() - started

        started = time.perf_counter()
        position, decoded = 1, 0
        while True:
            batch = app.recorder.select_notifications(position, 500, inclusive_of_start=True)
            if not batch:
                break
            decoded += sum(1 for n in batch if app.mapper.to_domain_event(n) is not None)
            position = batch[-1].id + 1
        read_s = time.perf_counter() - started

        with ReadSide(app) as views:
            started = time.perf_counter()
            rebuilt = views.rebuild()
            rebuild_s = time.perf_counter() - started
        app.close()

    print(f"rebuild on {database.kind}: {args.projects} projects, {written:,} events")
    print(f"  writing (one command per save):   {written / write_s:10,.0f} events/s")
    print(f"  baseline: read + decode only:     {decoded / read_s:10,.0f} events/s")
    print(f"  rebuild every view from zero:     {rebuilt / rebuild_s:10,.0f} events/s "
          f"({rebuilt / rebuild_s / (decoded / read_s):.2f}x the baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
