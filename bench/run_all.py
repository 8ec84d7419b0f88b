"""`make bench` / `make bench-quick`: every figure of docs/performance.md on SQLite and PostgreSQL.

For each store: generate it through the sizes (bench/generate.py), measuring `delivery
rebuild` at each against the bare read+decode (bench/rebuild.py); add the projects the
HTTP benches aim at; start `delivery serve` (it applies the views of those; `--pg-worker`
adds `delivery worker` on PostgreSQL) and the bare FastAPI app (bench/bare_app.py) as
their own processes; then
reads, *as of*, commands and projection lag (bench/reads.py, bench/writes.py). Every
figure has its baseline measured in the same run (alternating, medians). The table is
printed and written to bench/results/latest.json.

The full run (`make bench`: 10k/100k/382k/1M events, 1 + 3 s per load run) takes long:
15-20 minutes per store on a 2-core machine. `--quick` (`make bench-quick`) runs the
same figures at small sizes and short runs in under two minutes for both stores.

Usage: python bench/run_all.py [--quick] [--stores sqlite,postgresql] [--sizes 10000,100000]
                               [--seconds 3] [--reps 3] [--connections 32] [--json PATH] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from generate import Generator, Manifest
from load import tool
from reads import Bench, as_of_figure, capture, deep_cursor, read_figures, read_paths
from rebuild import flatness, measure
from report import Figure, failed, table, write
from servers import (
    Process,
    caught_up,
    create_token,
    pg_available,
    pg_schema,
    start_bare,
    start_server,
    start_worker,
    wait_http,
)
from writes import command_figures, history_figure, lag_figure

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Sizes in events; seconds per load run; reps of subject and baseline, alternating.
FULL: dict[str, Any] = {
    "sizes": "10000,100000,382000,1000000", "per_project": 100, "seconds": 3.0, "write_seconds": 3.0,
    "write_connections": 32, "warmup": 1.0, "reps": 3, "rebuild_reps": 3, "special_reps": 3, "long_events": 5000,
    "as_of_requests": 100, "lag_seconds": 15.0,
}
QUICK: dict[str, Any] = {
    "sizes": "500,2000", "per_project": 40, "seconds": 0.2, "write_seconds": 0.5, "write_connections": 8,
    "warmup": 0.15, "reps": 3, "rebuild_reps": 2, "special_reps": 1, "long_events": 2000, "as_of_requests": 10,
    "lag_seconds": 1.0,
}


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def store_url(kind: str, work: Path, pg_url: str, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{work / (name + '.sqlite3')}"
    else:
        with pg_schema(pg_url, prefix=f"bench_{name}") as url:
            yield url


def build_store(url: str, args: argparse.Namespace) -> tuple[Manifest, list[Figure]]:
    """Grow the store through the sizes, measuring rebuilds; then add the HTTP benches' projects."""
    figures: list[Figure] = []
    generator = Generator(url)
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            events = generator.grow_to(size, args.per_project)
            log(f"{events:,} events; measuring rebuild ({args.rebuild_reps} reps)")
            figures += measure(url, events, args.rebuild_reps)
        growth = flatness(figures)
        figures += [growth] if growth else []
        generator.add_specials(args.special_reps, args.long_events, args.short_events)
    finally:
        generator.close()
    return generator.manifest, figures


def http_figures(kind: str, url: str, manifest: Manifest, work: Path, args: argparse.Namespace) -> list[Figure]:
    logs = work / f"logs-{kind}"
    processes: list[Process] = []
    try:
        token = create_token(url)
        if kind == "postgresql" and args.pg_worker:
            processes.append(start_worker(url, logs))
        server, base = start_server(url, logs, token)
        processes.append(server)
        wait_http(server, f"{base}/api/v1/projects/{manifest.probe}/milestones", timeout=600,
                  headers={"Authorization": f"Bearer {token}"})  # the views have caught up
        waited = caught_up(base)  # and the notification planner: figures are of a server with no backlog
        log(f"{kind}: the server caught up with its backlog in {waited:.0f} s")
        # A keyset page deep in the portfolio: its cost should not grow with the depth (bench/portfolio.py's
        # question before, asked here over HTTP against the same bare app).
        paths = read_paths(manifest, deep_cursor(base, token, min(5000, manifest.projects // 2)))
        fixtures = work / f"fixtures-{kind}.json"
        fixtures.write_text(json.dumps(capture(base, token, paths)))
        bare, bare_base = start_bare(fixtures, token, logs, args.bare_style)
        processes.append(bare)
        bench = Bench(kind, base, bare_base, token, manifest, args.connections, args.seconds, args.write_seconds,
                      args.warmup, args.reps, tuple(p.popen.pid for p in processes))
        log(f"{kind}: reads (server {base}, bare {bare_base}, load by {tool()})")
        figures = read_figures(bench, paths)
        log(f"{kind}: as of")
        figures += as_of_figure(bench, args.as_of_requests)
        log(f"{kind}: commands")
        with store_url(kind, work, args.pg_url, "library") as library_url:
            figures += command_figures(bench, library_url, args.library_threads, args.write_connections)
        figures += history_figure(bench, args.history_connections)
        many = next((f for f in figures if f.key == "commands.many projects" and f.value), None)
        rate = args.lag_rate or (max(10.0, min(200.0, many.value / 2)) if many and many.value else 50.0)
        log(f"{kind}: projection lag ({rate:.0f} writes/s in the background)")
        figures += lag_figure(bench, args.lag_seconds, rate)
        for process in processes:
            if not process.alive():
                figures.append(failed(f"process.{process.name}", f"{process.name} process", "", "exited during the "
                                      f"run ({process.popen.returncode}): {process.tail(5)}"))
        return figures
    except (RuntimeError, OSError) as exc:
        return [failed("http", "HTTP benches", "", str(exc))]
    finally:
        for process in reversed(processes):
            process.stop()


def bench_store(kind: str, work: Path, args: argparse.Namespace) -> list[Figure]:
    if kind == "postgresql":
        why = pg_available(args.pg_url)
        if why is not None:
            return [failed("store", "PostgreSQL", "", f"not reachable at {args.pg_url}: {why}")]
    started = time.monotonic()
    with store_url(kind, work, args.pg_url, "store") as url:
        log(f"{kind}: generating {args.sizes} events")
        manifest, figures = build_store(url, args)
        # The last rebuild built the views up to the last size; the server (SQLite) or the worker
        # (PostgreSQL) catches up the bench projects added since, as it would after any write.
        log(f"{kind}: {manifest.events:,} events in {manifest.projects:,} projects; starting the servers")
        figures += http_figures(kind, url, manifest, work, args)
    log(f"{kind}: done in {time.monotonic() - started:.0f} s")
    return figures


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs (under two minutes)")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="server and database; each run uses (and drops) schemas bench_*_<random> in it")
    parser.add_argument("--pg-worker", action="store_true",
                        help="start `delivery worker` beside the server on PostgreSQL (optional: the server "
                        "applies the views itself when no other process holds the applier's lock)")
    parser.add_argument("--sizes", help="comma-separated store sizes in events (rebuild measured at each)")
    parser.add_argument("--per-project", type=int, help="average events per generated project")
    parser.add_argument("--seconds", type=float, help="length of one read load run")
    parser.add_argument("--write-seconds", type=float, help="length of one write load run")
    parser.add_argument("--warmup", type=float, help="the start of every load run, not counted")
    parser.add_argument("--reps", type=int, help="rounds of subject and baseline, alternating (medians)")
    parser.add_argument("--rebuild-reps", type=int)
    parser.add_argument("--special-reps", type=int, help="pairs of long/short projects (one per rep is cleanest)")
    parser.add_argument("--long-events", type=int, help="events of the long project (5,000; quick: 2,000)")
    parser.add_argument("--short-events", type=int, default=100)
    parser.add_argument("--connections", type=int, default=32, help="connections for reads")
    parser.add_argument("--write-connections", type=int, help="connections for commands (32; quick: 8)")
    parser.add_argument("--history-connections", type=int, default=4,
                        help="connections for the long-vs-short history figure (all on one project)")
    parser.add_argument("--library-threads", type=int, default=4,
                        help="threads of the bare library baseline on many aggregates (one aggregate: 1)")
    parser.add_argument("--bare-style", choices=["async", "sync"], default="async",
                        help="bare app endpoints and token check as async def (the least FastAPI does) or plain "
                        "def (run in the threadpool)")
    parser.add_argument("--as-of-requests", type=int)
    parser.add_argument("--lag-seconds", type=float)
    parser.add_argument("--lag-rate", type=float, help="background writes/s (default: half the measured rate)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (stores, logs) under var/bench")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    (ROOT / "var").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / "var"))
    mode = "quick" if args.quick else "full"
    log(f"{mode} run; work folder {work}; load by {tool()}"
        + ("" if tool() == "wrk" else " (wrk not found: `apt-get install -y wrk` for a load generator that is not "
           "itself Python)"))
    started = time.monotonic()
    results: dict[str, list[Figure]] = {}
    try:
        for kind in [s.strip() for s in args.stores.split(",") if s.strip()]:
            results[kind] = bench_store(kind, work, args)
            print(table(kind, results[kind]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "keep", "quick")}
    settings["load_tool"] = tool()
    if tool() == "wrk":
        settings["wrk"] = subprocess.run(["wrk", "--version"], capture_output=True, text=True,
                                         check=False).stdout.splitlines()[0:1]
    write(args.json, mode, {k: (str(v) if isinstance(v, Path) else v) for k, v in settings.items()}, results)
    log(f"{mode} run done in {time.monotonic() - started:.0f} s; figures in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
