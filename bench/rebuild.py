"""Rebuild: `delivery rebuild` events/s and peak RSS, against the library reading and decoding the same events.

The subject is the real command as its own process; the baseline is another process
that only pages through `app.recorder.select_notifications` (500 at a time) and decodes
each with `app.mapper.to_domain_event`. They alternate `--reps` times at each size and
the medians are compared. Rates are the processes' own timings (start-up excluded:
the rebuild's from its "Rebuilt every view from N events in S s" line, else wall time);
peak RSS is the sum of the high-water marks (`VmHWM` in /proc/PID/status, sampled every
20 ms) of the child and of every process it starts (a parallel rebuild's folding
processes), each its own since its exec. Not `ru_maxrss`: Linux carries the parent's peak
into a child started by vfork, so on a bench process grown by generating the store every
child read at least that much.

Usage: python bench/rebuild.py [--sizes 10000,100000] [--url URL] [--reps 3] [--per-project 100]
       python bench/rebuild.py --decode-only --url URL   (the baseline alone; prints JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from report import Figure, failed, table
from servers import DELIVERY, PYTHON, pg_schema, store_env

HERE = Path(__file__).resolve().parent
REBUILT = re.compile(r"Rebuilt every view from ([\d,]+) events in ([\d.]+) s")
RSS_LIMIT_MB = 300


@dataclass
class Run:
    events: int
    seconds: float  # the process's own timing of the work
    wall: float  # the whole process, start-up included
    rss_mb: float
    self_timed: bool

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def _measured(command: list[str], env: dict[str, str]) -> tuple[int, str, str, float, float]:
    """Run a child to its end: exit code, stdout, stderr, wall seconds, peak RSS in MB (with its children's)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        popen = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        peaks: dict[int, int] = {}
        while popen.poll() is None:
            for pid in _tree(popen.pid):
                peaks[pid] = max(peaks.get(pid, 0), _high_water_kb(pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return (popen.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), wall,
                sum(peaks.values()) / 1024)


def _tree(pid: int) -> list[int]:
    """The process and its descendants, as /proc lists them now."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                children = Path(f"/proc/{current}/task/{task}/children").read_text().split()
                todo.extend(int(c) for c in children)
        except OSError:
            continue  # it ended meanwhile
    return found


def _high_water_kb(pid: int) -> int:
    """The process's peak resident set since its exec (VmHWM), in KiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rebuild_once(url: str, events: int) -> Run:
    code, _out, err, wall, rss = _measured([DELIVERY, "rebuild"], store_env(url))
    if code != 0:
        raise RuntimeError(f"delivery rebuild exited {code}: {err.strip()[-600:]}")
    match = REBUILT.search(err)
    if match:
        return Run(int(match.group(1).replace(",", "")), float(match.group(2)), wall, rss, True)
    return Run(events, wall, wall, rss, False)


def decode_once(url: str) -> Run:
    code, out, err, wall, rss = _measured([PYTHON, str(HERE / "rebuild.py"), "--decode-only", "--url", url],
                                          store_env(url))
    if code != 0:
        raise RuntimeError(f"decode baseline exited {code}: {err.strip()[-600:]}")
    raw = json.loads(out.strip().splitlines()[-1])
    return Run(raw["events"], raw["seconds"], wall, rss, True)


def decode_only(url: str) -> dict[str, float]:
    """The baseline's body: read every event in pages of 500 and decode it, nothing else."""
    from delivery.application import DeliveryApplication
    from delivery.settings import Database

    app = DeliveryApplication(Database(url))
    try:
        started = time.perf_counter()
        position, decoded = 1, 0
        while True:
            page = app.recorder.select_notifications(position, 500, inclusive_of_start=True)
            if not page:
                break
            for notification in page:
                app.mapper.to_domain_event(notification)
                decoded += 1
            position = page[-1].id + 1
        return {"events": decoded, "seconds": time.perf_counter() - started}
    finally:
        app.close()


def measure(url: str, events: int, reps: int) -> list[Figure]:
    """The rebuild figures at the store's current size."""
    label = f"rebuild events/s at {events:,} events"
    subject: list[Run] = []
    baseline: list[Run] = []
    try:
        for rep in range(reps):
            # Alternate which goes first, so neither always runs on a warmer page cache.
            if rep % 2:
                subject.append(rebuild_once(url, events))
                baseline.append(decode_once(url))
            else:
                baseline.append(decode_once(url))
                subject.append(rebuild_once(url, events))
    except RuntimeError as exc:
        return [failed(f"rebuild.{events}", label, "ev/s", str(exc), ">= 0.5"),
                failed(f"rebuild_rss.{events}", f"rebuild peak RSS at {events:,} events", "MB", str(exc),
                       f"< {RSS_LIMIT_MB}", on_value=True)]
    note = "" if all(r.self_timed for r in subject) else "rebuild timed by wall clock (no 'Rebuilt ...' line)"
    rate = Figure(f"rebuild.{events}", label, "ev/s", statistics.median(r.rate for r in subject),
                  statistics.median(r.rate for r in baseline), "read+decode only (same events, own process)",
                  ">= 0.5", samples={"subject": [r.rate for r in subject], "baseline": [r.rate for r in baseline],
                                     "subject_wall_s": [r.wall for r in subject]}, note=note)
    rss = Figure(f"rebuild_rss.{events}", f"rebuild peak RSS at {events:,} events", "MB",
                 max(r.rss_mb for r in subject), max(r.rss_mb for r in baseline), "read+decode process",
                 f"< {RSS_LIMIT_MB}", on_value=True,
                 samples={"subject": [r.rss_mb for r in subject], "baseline": [r.rss_mb for r in baseline]})
    return [rate, rss]


def flatness(figures: list[Figure]) -> Figure | None:
    """Peak RSS at the largest size over the smallest: flat means about 1."""
    rss = [f for f in figures if f.key.startswith("rebuild_rss.") and f.value is not None]
    if len(rss) < 2:
        return None
    first, last = rss[0], rss[-1]
    assert first.value is not None and last.value is not None
    return Figure("rebuild_rss.growth", f"rebuild RSS growth ({last.key.split('.')[1]} / {first.key.split('.')[1]} "
                  "events)", "x", last.value / first.value, target="<= 1.2", on_value=True,
                  note="'flat' read as at most 1.2x from the smallest to the largest size")


def run_sizes(url: str, sizes: list[int], reps: int, per_project: int) -> list[Figure]:
    """Grow the store through `sizes`, measuring at each."""
    from generate import Generator

    figures: list[Figure] = []
    generator = Generator(url)
    try:
        for size in sizes:
            events = generator.grow_to(size, per_project)
            figures += measure(url, events, reps)
    finally:
        generator.close()
    growth = flatness(figures)
    return figures + ([growth] if growth else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="the store (default: a temporary SQLite file); PostgreSQL gets a fresh schema")
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated event counts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--per-project", type=int, default=100)
    parser.add_argument("--decode-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.decode_only:
        print(json.dumps(decode_only(args.url)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.url and args.url.startswith("postgres"):
        with pg_schema(args.url) as url:
            figures = run_sizes(url, sizes, args.reps, args.per_project)
        kind = "postgresql"
    else:
        with tempfile.TemporaryDirectory() as folder:
            figures = run_sizes(args.url or f"sqlite:///{Path(folder) / 'bench.sqlite3'}", sizes, args.reps,
                                args.per_project)
        kind = "sqlite"
    print(table(kind, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
