"""Reads over HTTP: one project's four views and portfolio pages against the bare app, and *as of* latency.

For each path the real server and the bare app (the same bytes behind the same token
check) are loaded in turn, `reps` times each with the same connections, and the median
requests/s and p99 compared. The *as of* figure times single requests (one keep-alive
connection, nothing else running) to every view of a long project (5,000 events) as of
moments around its 2,500th event, a different version for every request.

Usage: imported by bench/run_all.py.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

import httpx
from generate import Manifest
from load import Load, Result, percentile, run
from report import Figure, failed
from servers import settle

VIEWS = ("milestones", "checklist", "change-requests", "releases")
PORTFOLIO = {"portfolio": "/api/v1/projects?limit=50", "portfolio by health": "/api/v1/projects?limit=50&sort=health"}


@dataclass
class Bench:
    """What every HTTP figure needs: where the servers are, who we are, how hard and how long to push."""

    kind: str
    base: str  # the real server
    bare: str  # the bare app
    token: str
    manifest: Manifest
    connections: int
    seconds: float  # one read run
    write_seconds: float  # one write run (writes are slower: a run must outlast a few of them)
    warmup: float  # the start of every run, not counted
    reps: int
    pids: tuple[int, ...]  # the server (and worker) and the bare app: idle before every run

    @property
    def auth(self) -> tuple[tuple[str, str], ...]:
        return (("Authorization", f"Bearer {self.token}"),)

    def settle(self) -> None:
        settle(self.pids)

    def load(self, base: str, load: Load, connections: int | None = None, seconds: float | None = None) -> Result:
        """One run after the processes are idle: `warmup` seconds not counted, then `seconds` counted."""
        self.settle()
        return run(base, load, connections=connections or self.connections, seconds=seconds or self.seconds,
                   warm=self.warmup)


def read_paths(manifest: Manifest, deep: tuple[int, str] | None = None) -> dict[str, str]:
    """The read paths by figure name; `deep` (rows skipped, cursor) adds a keyset page deep in the portfolio."""
    paths = {view: f"/api/v1/projects/{manifest.reads}/{view}" for view in VIEWS}
    paths.update(PORTFOLIO)
    if deep is not None:
        paths[f"portfolio after {deep[0]:,} rows"] = f"/api/v1/projects?limit=50&cursor={quote(deep[1], safe='')}"
    return paths


def deep_cursor(base: str, token: str, rows: int) -> tuple[int, str] | None:
    """The portfolio's `next_cursor` after about `rows` rows by name (None when it has fewer)."""
    seen: int = 0
    cursor: str | None = None
    if rows <= 0:
        return None
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        while seen < rows:
            size = min(500, rows - seen)
            query = f"?limit={size}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            response = client.get(f"/api/v1/projects{query}")
            if response.status_code != 200:
                raise RuntimeError(f"GET /api/v1/projects{query} answered {response.status_code}")
            page = response.json()
            seen += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return None
    return (seen, cursor) if cursor else None


def capture(base: str, token: str, paths: dict[str, str]) -> dict[str, str]:
    """The real server's answer to each path, for the bare app to answer with."""
    out = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for path in paths.values():
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
            out[path] = response.text
    return out


def alternate(bench: Bench, subject: Callable[[], Result], baseline: Callable[[], Result]
              ) -> tuple[list[Result], list[Result]]:
    """`reps` rounds of both, the first going first in even rounds and second in odd ones."""
    ours: list[Result] = []
    theirs: list[Result] = []
    for rep in range(bench.reps):
        if rep % 2:
            theirs.append(baseline())
            ours.append(subject())
        else:
            ours.append(subject())
            theirs.append(baseline())
    return ours, theirs


def thin(results: list[Result], connections: int) -> str:
    """A warning when a run counted fewer answers than it had connections: no steady state to speak of."""
    fewest = min(r.ok + r.conflicts + r.failures for r in results)
    if fewest >= connections:
        return ""
    return f"only {fewest} answers counted in the shortest run (< {connections} connections): lengthen the runs"


def _med(results: list[Result], attr: str) -> float:
    return float(statistics.median(getattr(r, attr) for r in results))


def read_figures(bench: Bench, paths: dict[str, str]) -> list[Figure]:
    """Requests/s and p99 of each read path, against the bare app."""
    figures: list[Figure] = []
    for name, path in paths.items():
        label = f"GET {name} ({'one project' if name in VIEWS else '50 rows'})"
        load = Load((path,), headers=bench.auth)
        try:
            ours, theirs = alternate(bench, partial(bench.load, bench.base, load),
                                     partial(bench.load, bench.bare, load))
        except RuntimeError as exc:
            figures += [failed(f"reads.{name}", f"{label}, req/s", "req/s", str(exc), ">= 0.7"),
                        failed(f"p99.{name}", f"{label}, p99", "ms", str(exc), "<= 1.5")]
            continue
        errors = sum(r.failures + r.conflicts for r in ours)
        note = "; ".join(filter(None, [f"{errors} non-2xx answers or socket errors" if errors else "",
                                       thin(ours, bench.connections)]))
        samples = {"subject": [r.rate for r in ours], "baseline": [r.rate for r in theirs]}
        figures.append(Figure(f"reads.{name}", f"{label}, req/s", "req/s", _med(ours, "rate"), _med(theirs, "rate"),
                              "bare FastAPI, same bytes and token check", ">= 0.7", samples=samples, note=note))
        figures.append(Figure(f"p99.{name}", f"{label}, p99", "ms", _med(ours, "p99_ms"), _med(theirs, "p99_ms"),
                              "bare FastAPI p99", "<= 1.5",
                              samples={"subject": [r.p99_ms for r in ours], "baseline": [r.p99_ms for r in theirs]}))
    return figures


def _timed(client: httpx.Client, paths: list[str]) -> tuple[list[float], int]:
    """Milliseconds of GETs one after another (the first two unrecorded), and the last answer's size."""
    timings: list[float] = []
    size = 0
    for i, path in enumerate(paths):
        began = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        if i >= 2:
            timings.append(elapsed)
        size = len(response.content)
    return timings, size


def as_of_figure(bench: Bench, requests: int) -> list[Figure]:
    """p95 of each view of a long project as of its midpoint; the figure is the slowest view's."""
    long = bench.manifest.long[0] if bench.manifest.long else None
    label = f"as of midpoint, {long.events if long else 0:,}-event project, slowest view p95"
    if long is None or long.midpoint is None:
        return [failed("as_of.p95", label, "ms", "no long project in the store", "<= 50", on_value=True)]
    # A different moment (so a different version) for every request: an answer cached by version must not
    # stand in for the fold an auditor stepping through the history causes.
    moments = [quote(m.replace("+00:00", "Z")) for m in (long.moments or [long.midpoint])]
    bench.settle()
    per_view: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    current: dict[str, float] = {}
    repeated: dict[str, float] = {}
    try:
        with httpx.Client(base_url=bench.base, headers=dict(bench.auth), timeout=60) as client:
            for k, view in enumerate(VIEWS):
                path = f"/api/v1/projects/{long.id}/{view}"
                first = k * (requests + 2)
                per_view[view], sizes[view] = _timed(client, [
                    f"{path}?as_of={moments[(first + i) % len(moments)]}" for i in range(requests + 2)])
                if requests >= 20:  # context for the reader, not the figure: the exact midpoint again and
                    # again (what a cache per version answers), and the view now
                    middle = quote((long.midpoint or "").replace("+00:00", "Z"))
                    repeated[view] = percentile(_timed(client, [f"{path}?as_of={middle}"] * (requests // 3 + 2))[0],
                                                95)
                    current[view] = percentile(_timed(client, [path] * (requests // 3 + 2))[0], 95)
    except (RuntimeError, httpx.HTTPError) as exc:
        return [failed("as_of.p95", label, "ms", str(exc), "<= 50", on_value=True)]
    p95 = {view: percentile(t, 95) for view, t in per_view.items()}
    note = "; ".join(f"{v} {p95[v]:.1f} ms ({sizes[v] // 1024} KiB"
                     + (f"; one moment repeated: {repeated[v]:.1f} ms; now: {current[v]:.1f} ms)" if v in current
                        else ")") for v in VIEWS)
    return [Figure("as_of.p95", label, "ms", max(p95.values()), target="<= 50", on_value=True,
                   samples={v: per_view[v] for v in VIEWS}, note=f"p95 per view as of: {note}")]
