"""Build a bench store quickly: the demo's scripts renamed, interleaved by time and saved in batches.

Many `Project` aggregates are built in memory (each command is the aggregate's own
method, so every rule holds) and `Application.save(*aggregates)` writes a batch of
their events in one transaction; a snapshot of each project of 50 events or more is
taken from memory at the end, where the application would have one. Nothing goes
through the HTTP API or the read side; `delivery rebuild` builds the views afterwards.

Usage:
  python bench/generate.py --projects 10000 --events 1000000 --url sqlite:///var/bench.sqlite3
  python bench/generate.py --events 20000 --url 'postgresql://postgres@127.0.0.1:5432/test?schema=bench_x' \\
      [--specials 3] [--manifest PATH] [--no-rebuild]
Progress (events/s) goes to stderr; the manifest (JSON) names the projects the benches use.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID

from histories import Built, Spec, history, script_named, specs

from delivery.application import DeliveryApplication
from delivery.project import Project
from delivery.settings import Database

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_EVERY = 50  # DeliveryApplication.snapshotting_intervals[Project]
MAX_LISTED = 5000  # scope-open project ids kept in the manifest
AROUND_MIDDLE = 250  # versions each side of a long project's middle whose moments the manifest keeps


class BulkApplication(DeliveryApplication):
    """The delivery application with its snapshot store but no snapshot per save (taken from memory instead)."""

    name = DeliveryApplication.name  # the library names PostgreSQL tables after it (and defaults it per class)
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}
    is_snapshotting_enabled = True


@dataclass
class Special:
    id: str
    events: int
    midpoint: str | None = None  # ISO time of the event at half its size
    moments: list[str] = field(default_factory=list)  # ISO times of the versions around it, one per version


@dataclass
class Manifest:
    """What the benches need to know about a generated store."""

    url: str
    events: int = 0
    projects: int = 0
    next_number: int = 0
    scope_open: list[str] = field(default_factory=list)  # projects still taking scope items
    long: list[Special] = field(default_factory=list)  # one project per rep at the long size
    short: list[Special] = field(default_factory=list)  # one project per rep at the short size
    reads: str | None = None  # a whole demo project (every view has rows)
    one: str | None = None  # a project in research for writes on one project
    probe: str | None = None  # a project in research for the projection-lag probe

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw = json.loads(path.read_text())
        for key in ("long", "short"):
            raw[key] = [Special(**s) for s in raw[key]]
        return cls(**raw)


class Progress:
    """One stderr line per second at most: done/total and the rate."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.started = self.shown = time.monotonic()

    def __call__(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.shown < 1.0:
            return
        self.shown = now
        rate = done / max(now - self.started, 1e-9)
        print(f"{self.label}: {done:,}/{self.total:,} events ({rate:,.0f} events/s)", file=sys.stderr, flush=True)


class Generator:
    """Grows one store; `grow_to` may be called again with a larger size."""

    def __init__(self, url: str, *, manifest: Manifest | None = None, group: int = 1000, batch: int = 2000,
                 quiet: bool = False, now: datetime | None = None) -> None:
        self.database = Database(url)
        self.app = BulkApplication(self.database)
        self.manifest = manifest or Manifest(url=url)
        self.manifest.events = self.app.recorder.max_notification_id() or 0
        self.group, self.batch, self.quiet = group, batch, quiet
        self.now = now or datetime.now(UTC)

    def close(self) -> None:
        self.app.close()

    def grow_to(self, events: int, per_project: int = 100) -> int:
        """Add projects of about `per_project` events each until the store holds about `events`; the count."""
        need = events - self.manifest.events
        progress = Progress(f"generate {self.database.kind}", max(need, 0))
        done = 0
        while need - done > 0:
            batch = specs(self.manifest.next_number, self.group, per_project)
            chosen: list[Spec] = []
            for spec in batch:
                if need - done - sum(s.target for s in chosen) <= 0:
                    break
                spec.target = min(spec.target, need - done - sum(s.target for s in chosen))
                chosen.append(spec)
            self.manifest.next_number += len(chosen)
            built = self.build(chosen, progress, done)
            done += sum(b.version for b in built)
            self.manifest.projects += len(built)
            for b in built:
                p = b.project
                if p is not None and p.baseline is None and not p.launched \
                        and len(self.manifest.scope_open) < MAX_LISTED:
                    self.manifest.scope_open.append(str(p.id))
        if not self.quiet:
            progress(done, final=True)
        self.manifest.events = self.app.recorder.max_notification_id() or 0
        return self.manifest.events

    def add_specials(self, reps: int = 3, long_events: int = 5000, short_events: int = 100) -> None:
        """The projects the HTTP benches aim at: long and short ones per rep, one for reads, two in research."""
        number = self.manifest.next_number
        long_script, reads_script, early = (script_named("扫码点餐"), script_named("一期"), script_named("3D"))
        chosen: list[Spec] = []
        for rep in range(reps):
            chosen.append(Spec(long_script, f"Bench long {rep} #{number + rep}", long_events, seed=rep))
            chosen.append(Spec(long_script, f"Bench short {rep} #{number + rep}", short_events, seed=rep))
        chosen.append(Spec(reads_script, f"Bench reads #{number}", 10**6, pad=False))
        chosen.append(Spec(early, f"Bench one project #{number}", 10**6, pad=False))
        chosen.append(Spec(early, f"Bench lag probe #{number}", 10**6, pad=False))
        self.manifest.next_number += reps
        total = sum(min(s.target, 100) if not s.pad else s.target for s in chosen)
        middle = long_events // 2
        watch = range(max(1, middle - AROUND_MIDDLE), middle + AROUND_MIDDLE + 1)
        built = self.build(chosen, Progress(f"generate {self.database.kind} (bench projects)", total), 0,
                           watch=watch)
        self.manifest.projects += len(built)
        for b in built[: 2 * reps]:
            mid = b.moments.get(middle)
            around = [b.moments[v].isoformat() for v in watch if v in b.moments] if b.spec.target == long_events else []
            special = Special(str(self._id(b)), b.version, mid.isoformat() if mid else None, around)
            (self.manifest.long if b.spec.target == long_events else self.manifest.short).append(special)
        self.manifest.reads, self.manifest.one, self.manifest.probe = (str(self._id(b)) for b in built[2 * reps:])
        self.manifest.events = self.app.recorder.max_notification_id() or 0

    @staticmethod
    def _id(b: Built) -> UUID:
        assert b.project is not None
        project_id: UUID = b.project.id
        return project_id

    def build(self, chosen: Sequence[Spec], progress: Progress, offset: int,
              watch: Sequence[int] = ()) -> list[Built]:
        """Run the histories merged by time, saving every `batch` events; then snapshot from memory."""
        built = [Built(spec) for spec in chosen]
        runs: list[Iterator[datetime]] = [history(b, self.now, watch) for b in built]
        heap = [(next(run), i) for i, run in enumerate(runs)]
        heapq.heapify(heap)
        dirty: dict[int, Project] = {}
        pending = saved = 0
        while heap:
            _moment, i = heapq.heappop(heap)
            following = next(runs[i], None)
            project = built[i].project
            if project is not None:
                dirty[i] = project
                pending += 1
            if following is not None:
                heapq.heappush(heap, (following, i))
            if pending >= self.batch or (not heap and dirty):
                saved += len(self.app.save(*dirty.values()))
                dirty.clear()
                pending = 0
                if not self.quiet:
                    progress(offset + saved)
        snapshots = [Project.Snapshot.take(b.project) for b in built
                     if b.project is not None and b.version >= SNAPSHOT_EVERY]
        assert self.app.snapshots is not None
        for start in range(0, len(snapshots), 500):
            self.app.snapshots.put(snapshots[start:start + 500])
        return built


def rebuild_views(url: str) -> int:
    """`delivery rebuild` on the store, as its own process, then the hash chain linked; an exit code.

    A rebuild builds the views, not the chain (its links are made once, in store order): without
    linking it here, the first server on the store would link every event before serving anything.
    """
    env = {**os.environ, "DELIVERY_DATABASE_URL": url}
    code = subprocess.call([str(ROOT / ".venv" / "bin" / "delivery"), "rebuild"], env=env)
    return code or link_chain(url)


def link_chain(url: str) -> int:
    """Link the store's events into the hash chain (what a serving process would do first)."""
    from api.cli import ProgressLine
    from projections.service import ReadSide

    app = DeliveryApplication(Database(url))
    try:
        # As a server would start: the chain's version is recorded (it has no links yet), then it is linked.
        with ReadSide(app) as views:
            started = time.monotonic()
            linked = views.catch_up(progress=ProgressLine("Linking the chain"))
            print(f"Linked {linked:,} events in {time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        app.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the store (DELIVERY_DATABASE_URL form)")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the store at the end")
    parser.add_argument("--projects", type=int, help="projects to spread them over (default: events / 100)")
    parser.add_argument("--specials", type=int, default=0, metavar="REPS",
                        help="also add the HTTP benches' projects (long/short ones per rep, reads, one, probe)")
    parser.add_argument("--long-events", type=int, default=5000)
    parser.add_argument("--manifest", type=Path, help="where to write the manifest (default: beside a SQLite "
                        "file, else var/bench-manifest-<schema>.json)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip `delivery rebuild` afterwards")
    args = parser.parse_args(argv)
    per_project = max(1, round(args.events / args.projects)) if args.projects else 100
    started = time.monotonic()
    generator = Generator(args.url)
    try:
        generator.grow_to(args.events, per_project)
        if args.specials:
            generator.add_specials(args.specials, args.long_events)
    finally:
        generator.close()
    manifest = generator.manifest
    elapsed = time.monotonic() - started
    print(f"{manifest.events:,} events in {manifest.projects:,} projects, {elapsed:.1f} s", file=sys.stderr)
    database = Database(args.url)
    path = args.manifest or (Path(database.sqlite_path + ".manifest.json") if database.kind == "sqlite"
                             else ROOT / "var" / f"bench-manifest-{database.schema or 'public'}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest.save(path)
    print(f"manifest: {path}", file=sys.stderr)
    return 0 if args.no_rebuild else rebuild_views(args.url)


if __name__ == "__main__":
    sys.exit(main())
