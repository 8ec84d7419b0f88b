"""Where a command's CPU goes: `delivery serve` under a steady POST load, its CPU per command by thread.

Not a figure of the table (no baseline): the breakdown behind the commands figure. It serves a
store (a fresh SQLite one of `--events` events by default, or `--url`), POSTs scope items over
every project in research or solution with wrk (or the httpx fallback) at `--connections`,
waits for the server to go idle, then reads each thread's CPU ticks (`/proc/PID/task/*/stat`)
over a counted run of `--seconds`. Thread names come from `py-spy dump` when py-spy is on the
PATH (`--py-spy` to name it), else the native thread ids are printed. The applier's batch size
comes from `/metrics` (`delivery_events_applied_total` / `delivery_batches_applied_total`).

Usage: python bench/cpu.py [--events 10000] [--connections 8] [--seconds 8] [--url URL] [--py-spy PATH]
                           [--record STACKS]   (then: python bench/stacks.py STACKS)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import servers
from generate import Manifest
from load import Load, run

BODY = '{"title": "Bench feature {n}", "tier": "core"}'


def thread_ticks(pid: int) -> dict[int, int]:
    """Each thread's user + system clock ticks so far."""
    return {int(tid): servers.stat_ticks(f"/proc/{pid}/task/{tid}/stat") for tid in os.listdir(f"/proc/{pid}/task")}


def thread_names(pid: int, py_spy: str | None) -> dict[int, str]:
    if not py_spy:
        return {}
    dump = subprocess.run([py_spy, "dump", "-p", str(pid)], capture_output=True, text=True, check=False).stdout
    names = {}
    for match in re.finditer(r'Thread (\d+) \(\w+\): "([^"]*)"', dump):
        name = re.sub(r"_\d+$", "", match.group(2))
        names[int(match.group(1))] = "worker threads (requests)" if name.startswith("AnyIO") else name
    return names


def measure(url: str, connections: int, seconds: float, py_spy: str | None, logs: Path,
            projects: list[str] | None = None, warm: float = 1.0, record: Path | None = None) -> int:
    token = servers.create_token(url)
    server, base = servers.start_server(url, logs, token)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        open_projects = projects
        if open_projects is None:
            page = httpx.get(f"{base}/api/v1/projects?limit=500", headers=auth, timeout=30).json()
            open_projects = [p["project_id"] for p in page["items"] if p["stage"] in ("research", "solution")]
        if not open_projects:
            print("no project in research or solution to add scope items to", file=sys.stderr)
            return 1
        load = Load(tuple(f"/api/v1/projects/{pid}/scope-items" for pid in open_projects), "POST",
                    (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")), BODY)
        servers.caught_up(base)  # a store grown outside the server: its notification planner starts behind
        run(base, load, connections=connections, seconds=warm, warm=0.5)  # warm up: caches, connections
        pid = server.popen.pid
        servers.settle((pid,))
        names = thread_names(pid, py_spy)
        before_metrics = httpx.get(f"{base}/metrics", timeout=30).text
        recorder = _record(py_spy, pid, seconds, record) if record is not None else None
        before, started = thread_ticks(pid), time.monotonic()
        result = run(base, load, connections=connections, seconds=seconds)
        after, elapsed = thread_ticks(pid), time.monotonic() - started
        if recorder is not None:
            recorder.wait(timeout=60)
        after_metrics = httpx.get(f"{base}/metrics", timeout=30).text
    finally:
        server.stop()
    per_tick = 1000 / os.sysconf("SC_CLK_TCK")  # ms
    done = max(1, result.ok)
    total = sum(after.values()) - sum(before.get(t, 0) for t in after)
    print(f"{result.rate:,.0f} commands/s at {connections} connections (p50 {result.p50_ms:.1f} ms); the server "
          f"used {total * per_tick / 1000 / elapsed:.0%} of a core: {total * per_tick / done:.2f} ms of CPU "
          "per command")
    groups: dict[str, int] = {}
    for tid, ticks in after.items():
        name = names.get(tid, f"thread {tid}" if tid != pid else "MainThread")
        groups[name] = groups.get(name, 0) + ticks - before.get(tid, 0)
    for name, ticks in sorted(groups.items(), key=lambda kv: -kv[1]):
        if ticks:
            print(f"  {ticks * per_tick / done:6.2f} ms/command  {ticks / max(1, total):6.1%}  {name}")
    events, batches, handed = (servers.gauge(after_metrics, f"delivery_{name}_total") - servers.gauge(before_metrics,
                                                                                          f"delivery_{name}_total")
                               for name in ("events_applied", "batches_applied", "events_handed"))
    if batches:
        print(f"  applier: {events:,.0f} events in {batches:,.0f} batches ({events / batches:.1f} per batch), "
              f"{handed / max(1, events):.0%} taken from the saves")
    return 0


def _record(py_spy: str | None, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling the server through the counted run, every thread, as collapsed stacks (`--format raw`):
    `bench/stacks.py OUT` sums them by thread and function."""
    if not py_spy:
        raise SystemExit("--record needs py-spy (--py-spy PATH)")
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
                             "--rate", "200", "--threads", "--nonblocking", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a store made by bench/generate.py (default: a fresh SQLite one)")
    parser.add_argument("--events", type=int, default=10_000, help="events of the fresh store")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy, to name the threads")
    parser.add_argument("--manifest", type=Path, help="the store's manifest (bench/generate.py): POST to its "
                        "projects in research or solution, as the commands figure does")
    parser.add_argument("--projects", type=int, default=1000, help="how many of the manifest's projects")
    parser.add_argument("--warm", type=float, default=1.0, help="seconds of load before the counted run")
    parser.add_argument("--record", type=Path, help="also sample the server with py-spy through the counted run "
                        "into this file (collapsed stacks; read it with bench/stacks.py)")
    args = parser.parse_args(argv)
    projects = None
    if args.manifest is not None:
        projects = [str(p) for p in Manifest.load(args.manifest).scope_open[:args.projects]]
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as folder:
        url = args.url or f"sqlite:///{folder}/delivery.sqlite"
        if args.url is None:
            subprocess.run([servers.PYTHON, str(servers.HERE / "generate.py"), "--url", url, "--events",
                            str(args.events), "--projects", str(max(1, args.events // 50))], check=True,
                           stdout=subprocess.DEVNULL)
        return measure(url, args.connections, args.seconds, args.py_spy, Path(folder), projects, args.warm,
                       args.record)


if __name__ == "__main__":
    sys.exit(main())
