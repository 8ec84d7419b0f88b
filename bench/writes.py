"""Writes over HTTP: commands/s against the slower of two bare baselines, the cost of a long history, view lag.

- commands/s: `POST /projects/{id}/scope-items` spread over many projects still in
  research/solution (each written to once before the reps, so the server holds them all),
  and on one project, against the slower of (a) the bare app
  parsing the same body with a pydantic model behind the same token check and (b) the
  bare `eventsourcing` library saving one event per save (load, trigger, save, with
  snapshots every 50 like the application) on a fresh store of the same kind;
- commands/s on one project at 5,000 events over the same at 100 events (`POST
  /milestones`, one fresh pair of projects per rep);
- projection lag: while background writes run at a steady rate, a probe writes a
  milestone and another connection polls the milestones view until it shows it; the
  lag is from the write's answer to the first poll answer that shows it (0 when a poll
  saw it first).

Usage: imported by bench/run_all.py; `python bench/writes.py --library URL [--seconds 2]` times the bare library.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar
from uuid import UUID

import httpx
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from load import Load, Result, percentile
from reads import Bench, thin
from report import Figure, failed

from delivery.settings import Database

SCOPE_BODY = '{"title": "Bench feature {n}", "tier": "core"}'
MILESTONE_BODY = '{"title": "Bench milestone {n}", "stage": "launch", "due_on": "2031-01-15", "deliverables": []}'
LAG_TARGET_MS = {"sqlite": 100, "postgresql": 250}


class Counter(Aggregate):
    @event("Counted")
    def count(self, n: int) -> None:
        self.n = n


class BareLibrary(Application[UUID]):
    name = "bare"
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {Counter: 50}


class LibraryBaseline:
    """The bare library on its own store: `aggregates` counters, then timed saves of one event each."""

    def __init__(self, url: str, aggregates: int) -> None:
        self.app = BareLibrary(env=Database(url).eventsourcing_env())
        self.ids: list[UUID] = []
        for start in range(0, aggregates, 500):
            batch = [Counter() for _ in range(min(500, aggregates - start))]
            self.app.save(*batch)
            self.ids += [c.id for c in batch]

    def close(self) -> None:
        self.app.close()

    def rate(self, seconds: float, threads: int) -> float:
        """Saves/s: each loads an aggregate, triggers one event and saves it."""
        done = [0] * threads
        deadline = time.perf_counter() + seconds

        def work(slot: int) -> None:
            mine = self.ids[slot::threads] or self.ids
            i = 0
            while time.perf_counter() < deadline:
                c: Counter = self.app.repository.get(mine[i % len(mine)])
                c.count(i)
                self.app.save(c)
                i += 1
            done[slot] = i

        started = time.perf_counter()
        workers = [threading.Thread(target=work, args=(slot,)) for slot in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sum(done) / (time.perf_counter() - started)


def command_figures(bench: Bench, library_url: str, library_threads: int, connections: int) -> list[Figure]:
    """Scope items on many projects and on one, against the slower bare baseline."""
    many = tuple(f"/api/v1/projects/{pid}/scope-items" for pid in bench.manifest.scope_open[:1000])
    one = (f"/api/v1/projects/{bench.manifest.one}/scope-items",)
    return [_commands(bench, "many projects", many, library_url, library_threads, max(1, len(many)), connections),
            _commands(bench, "one project", one, library_url, 1, 1, connections)]


def warm_each(bench: Bench, paths: tuple[str, ...], at_once: int = 16) -> None:
    """One command on each path before the reps: the figure is the steady state, with every project in the
    server's cache, not the first read of each project from its snapshot (at 1M events the first of three
    reps over 1,000 projects was mostly that; the bare library reads its one-event counters from the store)."""
    async def warm() -> list[int]:
        limits = httpx.Limits(max_connections=at_once)
        async with httpx.AsyncClient(base_url=bench.base, headers=dict(bench.auth), timeout=60,
                                     limits=limits) as client:
            gate = asyncio.Semaphore(at_once)

            async def one(i: int, path: str) -> int:
                async with gate:
                    answer = await client.post(path, json={"title": f"Bench warm {i}", "tier": "core"})
                    return answer.status_code

            return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(paths))))

    refused = [code for code in asyncio.run(warm()) if code != 201]
    if refused:
        raise RuntimeError(f"warming the projects: {len(refused)} of {len(paths)} answered {sorted(set(refused))}")


def _commands(bench: Bench, name: str, paths: tuple[str, ...], library_url: str, threads: int,
              aggregates: int, connections: int) -> Figure:
    label = f"POST scope-items, {name}, commands/s"
    if not paths:
        return failed(f"commands.{name}", label, "cmd/s", "no project in research or solution", ">= 0.5")
    load = Load(paths, "POST", (*bench.auth, ("Content-Type", "application/json")), SCOPE_BODY)
    if len(paths) > 1:
        warm_each(bench, paths)
    ours: list[Result] = []
    bare: list[Result] = []
    library: list[float] = []
    try:
        baseline = LibraryBaseline(library_url, aggregates)
        try:
            def subject() -> None:
                ours.append(bench.load(bench.base, load, connections, bench.write_seconds))

            def bare_fastapi() -> None:
                bare.append(bench.load(bench.bare, load, connections, bench.write_seconds))

            def bare_library() -> None:
                bench.settle()
                library.append(baseline.rate(bench.write_seconds, threads))

            turns: list[Callable[[], None]] = [subject, bare_fastapi, bare_library]
            for rep in range(bench.reps):
                for turn in turns[rep % 3:] + turns[:rep % 3]:  # each goes first in turn
                    turn()
        finally:
            baseline.close()
    except RuntimeError as exc:
        return failed(f"commands.{name}", label, "cmd/s", str(exc), ">= 0.5")
    fastapi_rate = statistics.median(r.rate for r in bare)
    library_rate = statistics.median(library)
    plural = "s" if threads > 1 else ""
    slower = "bare FastAPI parse" if fastapi_rate <= library_rate else f"bare library save ({threads} thread{plural})"
    conflicts = sum(r.conflicts for r in ours)
    failures = sum(r.failures for r in ours)
    note = (f"{connections} connections; bare FastAPI {fastapi_rate:,.0f}/s, bare library {library_rate:,.0f} saves/s "
            f"({threads} thread{plural}, {aggregates} aggregate{'s' if aggregates > 1 else ''}); "
            f"subject p50 {statistics.median(r.p50_ms for r in ours):.0f} ms"
            + (f"; {conflicts} answered 409" if conflicts else "")
            + (f"; {failures} other non-2xx/socket errors" if failures else "")
            + (f"; {warning}" if (warning := thin(ours, connections)) else ""))
    return Figure(f"commands.{name}", label, "cmd/s", statistics.median(r.rate for r in ours),
                  min(fastapi_rate, library_rate), f"slower of bare FastAPI / bare library: {slower}", ">= 0.5",
                  samples={"subject": [r.rate for r in ours], "bare_fastapi": [r.rate for r in bare],
                           "bare_library": library, "subject_p99_ms": [r.p99_ms for r in ours]}, note=note)


def history_figure(bench: Bench, connections: int) -> list[Figure]:
    """Commands/s on a 5,000-event project over the same on a 100-event one."""
    longs, shorts = bench.manifest.long, bench.manifest.short
    long_events = longs[0].events if longs else 5000
    short_events = shorts[0].events if shorts else 100
    label = f"POST milestones, one project at {long_events:,} vs {short_events} events, commands/s"
    if not longs or not shorts:
        return [failed("commands.history", label, "cmd/s", "no long/short projects in the store", ">= 0.8")]
    headers = (*bench.auth, ("Content-Type", "application/json"))
    ours: list[Result] = []
    theirs: list[Result] = []
    try:
        for rep in range(bench.reps):
            long_load = Load((f"/api/v1/projects/{longs[rep % len(longs)].id}/milestones",), "POST", headers,
                             MILESTONE_BODY)
            short_load = Load((f"/api/v1/projects/{shorts[rep % len(shorts)].id}/milestones",), "POST", headers,
                              MILESTONE_BODY)
            turns = [(ours, long_load), (theirs, short_load)]
            for into, load in reversed(turns) if rep % 2 else turns:
                into.append(bench.load(bench.base, load, connections, bench.write_seconds))
    except RuntimeError as exc:
        return [failed("commands.history", label, "cmd/s", str(exc), ">= 0.8")]
    note = (f"{connections} connections; each rep writes to its own pair of projects"
            if len(longs) >= bench.reps else f"{connections} connections; the reps share one pair of projects, "
            "which grows by what each rep writes")
    warning = thin(ours + theirs, connections)
    note += f"; {warning}" if warning else ""
    return [Figure("commands.history", label, "cmd/s", statistics.median(r.rate for r in ours),
                   statistics.median(r.rate for r in theirs), f"the same on a {short_events}-event project",
                   ">= 0.8", samples={"subject": [r.rate for r in ours], "baseline": [r.rate for r in theirs]},
                   note=note)]


async def _lag(bench: Bench, seconds: float, rate: float) -> dict[str, Any]:
    auth = dict(bench.auth)
    probe = bench.manifest.probe
    targets = bench.manifest.scope_open[:1000] or [p for p in (bench.manifest.one,) if p]
    lags: list[float] = []
    from_sent: list[float] = []
    refused: list[str] = []  # probe writes answered with something else than 201
    background_ok = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=bench.base, headers=auth, timeout=30, limits=limits) as bg, \
            httpx.AsyncClient(base_url=bench.base, headers=auth, timeout=30) as writer, \
            httpx.AsyncClient(base_url=bench.base, headers=auth, timeout=30) as reader:

        async def one_write(i: int) -> None:
            nonlocal background_ok
            response = await bg.post(f"/api/v1/projects/{targets[i % len(targets)]}/scope-items",
                                     json={"title": f"Lag load {uuid.uuid4().hex[:12]}", "tier": "core"})
            background_ok += response.status_code == 201

        async def background() -> None:
            tasks: set[asyncio.Task[None]] = set()
            i = 0
            started = time.perf_counter()
            while time.perf_counter() < deadline:
                i += 1
                if len(tasks) < 16:  # open loop at `rate`, as long as the server keeps up with 16 in flight
                    task = asyncio.create_task(one_write(i))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            await asyncio.gather(*tasks, return_exceptions=True)

        async def probe_once(n: int) -> None:
            marker = f"lag-probe-{uuid.uuid4().hex[:16]}"
            sent = time.perf_counter()
            write = asyncio.create_task(writer.post(f"/api/v1/projects/{probe}/milestones", json={
                "title": marker, "stage": "launch", "due_on": "2031-02-01", "deliverables": []}))
            accepted: float | None = None
            seen: float | None = None
            # Ten seconds from the write's answer (a slow answer is the write's latency, not the views' lag).
            while seen is None and time.perf_counter() - (accepted or time.perf_counter()) < 10 \
                    and time.perf_counter() - sent < 60:
                if accepted is None and write.done():
                    accepted = time.perf_counter()
                    if write.result().status_code != 201:
                        break
                view = await reader.get(f"/api/v1/projects/{probe}/milestones")
                if marker in view.text:
                    seen = time.perf_counter()
            response = await write
            accepted = accepted or time.perf_counter()
            if response.status_code != 201:
                refused.append(f"{response.status_code} {response.text[:120]}")
                return
            if seen is None:
                raise RuntimeError("a probe write never showed in the milestones view (10 s after its answer)")
            lags.append(max(0.0, seen - accepted) * 1000)
            from_sent.append((seen - sent) * 1000)

        async def prober() -> None:
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                await probe_once(n)
                await asyncio.sleep(0.05)

        started = time.perf_counter()
        await asyncio.gather(background(), prober())
        elapsed = time.perf_counter() - started
    return {"lag_ms": lags, "from_sent_ms": from_sent, "background_rate": background_ok / elapsed,
            "refused": refused}


def lag_figure(bench: Bench, seconds: float, rate: float) -> list[Figure]:
    target = LAG_TARGET_MS.get(bench.kind, 100)
    label = "projection lag p99 under sustained writes"
    if bench.manifest.probe is None:
        return [failed("lag.p99", label, "ms", "no probe project", f"<= {target}", on_value=True)]
    bench.settle()
    try:
        raw = asyncio.run(_lag(bench, seconds, rate))
    except (RuntimeError, httpx.HTTPError) as exc:
        return [failed("lag.p99", label, "ms", str(exc), f"<= {target}", on_value=True)]
    lags: list[float] = raw["lag_ms"]
    sent: list[float] = raw["from_sent_ms"]
    refused: list[str] = raw["refused"]
    if not lags:
        return [failed("lag.p99", label, "ms", f"no probe write was accepted: {refused[:3]}", f"<= {target}",
                       on_value=True)]
    note = (f"{len(lags)} probes; lag p50 {percentile(lags, 50):.1f} ms; from the write being sent: p50 "
            f"{percentile(sent, 50):.1f} ms, p99 {percentile(sent, 99):.1f} ms; background writes "
            f"{raw['background_rate']:.0f}/s (asked {rate:.0f}/s)"
            + (f"; {len(refused)} probe writes refused, e.g. {refused[0]}" if refused else ""))
    return [Figure("lag.p99", label, "ms", percentile(lags, 99), target=f"<= {target}", on_value=True,
                   samples={"lag_ms": lags, "from_sent_ms": sent}, note=note)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--library", required=True, help="a fresh store URL for the bare library")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--aggregates", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    baseline = LibraryBaseline(args.library, args.aggregates)
    try:
        rate = baseline.rate(args.seconds, args.threads)
    finally:
        baseline.close()
    print(f"bare library: {rate:,.0f} saves/s ({args.threads} threads, {args.aggregates} aggregates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
