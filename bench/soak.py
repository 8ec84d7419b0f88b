"""Soak: two API processes and the worker on a private PostgreSQL cluster, under mixed load, with faults.

Loopback only, bounded in time and count, stops by itself. It starts a private
cluster (tests/pg_cluster.py: initdb on a free port, never the machine's server),
`delivery worker` and two `delivery serve` processes, then drives pms (with and
without If-Match and Idempotency-Key), clients and auditors (as of random moments)
while it injects: kill -9 of the worker, kill -9 of one API process (restarted),
a database restart, and a burst of hostile bodies. At the end it checks:

- every accepted write is exactly one event, every refused one none (each write
  carries a title of its own); a write whose answer was lost without a key is
  "unsettled" and may be recorded at most once;
- the views equal a clean rebuild (`delivery replay --check`) and the chain
  verifies (`delivery verify`);
- no 500 among the responses (counts per status are printed), and how long
  each fault took to recover from.

Usage: .venv/bin/python bench/soak.py [--short] [--seconds N] [--json PATH]
`--short` (part of `make test`) injects each fault once in about a minute of load;
the default (`make soak`) repeats the faults for --seconds (default 600).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.pg_cluster and the project's packages; bench/ is on the path already

from servers import DELIVERY, Process, free_port, spawn, store_env  # noqa: E402

from tests.pg_cluster import PrivateCluster, cluster_problem, private_cluster  # noqa: E402

V1 = "/api/v1"
PROJECTS = 4
PM_THREADS = 4
READER_THREADS = 2  # clients, and as many auditors
HOSTILE_BURST = 120
# A keyed write whose answer was lost is retried (same key, either API) for at most this long.
KEYED_RETRY_SECONDS = 40.0
RECOVERY_DEADLINE = 60.0
REQUEST_TIMEOUT = 30.0
PAUSE = 0.02  # between one thread's requests: a mixed load, not a stress test


# --------------------------------------------------------------- ledger


@dataclass
class Ledger:
    """Every write sent, by its title: accepted, refused or unsettled; and every response's status."""

    statuses: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    unsettled: set[str] = field(default_factory=set)
    replayed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.statuses[str(status)] += 1
            self.by_kind[f"{kind} {status}"] += 1

    def odd(self, what: str) -> None:
        with self.lock:
            if len(self.anomalies) < 50:
                self.anomalies.append(what)

    def settle(self, title: str, outcome: str) -> None:
        with self.lock:
            {"accepted": self.accepted, "refused": self.refused, "unsettled": self.unsettled}[outcome].add(title)


@dataclass
class Cluster:
    """The processes under test, each restartable by itself."""

    pg: PrivateCluster
    logs: Path
    apis: list[Process | None] = field(default_factory=lambda: [None, None])
    ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    worker: Process | None = None

    @property
    def url(self) -> str:
        return self.pg.url

    def base(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def start_api(self, i: int) -> None:
        self.apis[i] = spawn(f"api{i}", [DELIVERY, "serve", "--host", "127.0.0.1", "--port", str(self.ports[i])],
                             store_env(self.url), self.logs)
        wait_until(f"api{i} answering", lambda: httpx.get(f"{self.base(i)}/healthz", timeout=2).status_code == 200)

    def start_worker(self) -> None:
        self.worker = spawn("worker", [DELIVERY, "worker", "--poll", "0.5"], store_env(self.url), self.logs)

    def kill(self, process: Process | None) -> None:
        if process is not None and process.alive():
            process.popen.send_signal(signal.SIGKILL)
            process.popen.wait(10)

    def stop_all(self) -> None:
        for process in [*self.apis, self.worker]:
            if process is not None:
                process.stop()


def wait_until(what: str, check: Callable[[], bool], timeout: float = RECOVERY_DEADLINE) -> float:
    """Poll `check` (an exception counts as not yet); the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except Exception:
            pass
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:g} s")
        time.sleep(0.1)


def cli(url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DELIVERY, *args], env=store_env(url), capture_output=True, text=True, timeout=timeout,
                          check=False)


def token(url: str, role: str, *projects: str) -> str:
    extra = [a for p in projects for a in ("--project", p)]
    out = cli(url, "token", "create", "--role", role, "--name", f"soak {role}", *extra)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return out.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------- load


class Load:
    """The threads that send requests until `stop` is set."""

    def __init__(self, cluster: Cluster, ledger: Ledger, pm: str, auditor: str, clients: dict[str, str],
                 projects: list[str], started_at: datetime) -> None:
        self.cluster = cluster
        self.ledger = ledger
        self.pm = pm
        self.auditor = auditor
        self.clients = clients
        self.projects = projects
        self.started_at = started_at
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(PM_THREADS):
            self.threads.append(threading.Thread(target=self._loop, args=(self._pm_step, i), daemon=True))
        for i in range(READER_THREADS):
            self.threads.append(threading.Thread(target=self._loop, args=(self._client_step, i), daemon=True))
            self.threads.append(threading.Thread(target=self._loop, args=(self._auditor_step, i), daemon=True))
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(KEYED_RETRY_SECONDS + REQUEST_TIMEOUT + 10)

    def _loop(self, step: Callable[[httpx.Client, random.Random], None], seed: int) -> None:
        rng = random.Random(seed * 7919 + hash(step.__name__))
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            while not self.stop.is_set():
                step(client, rng)
                time.sleep(PAUSE)

    def send(self, client: httpx.Client, kind: str, method: str, path: str, token: str, api: int | None = None,
             **kw: Any) -> httpx.Response | None:
        """One request to one API process (random unless given); None when no answer came."""
        i = random.randrange(2) if api is None else api
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        try:
            response = client.request(method, self.cluster.base(i) + path, headers=headers, **kw)
        except httpx.HTTPError:
            self.ledger.count(kind, "no answer")
            return None
        self.ledger.count(kind, response.status_code)
        return response

    # pms: writes with and without If-Match and Idempotency-Key

    def _pm_step(self, client: httpx.Client, rng: random.Random) -> None:
        pid = rng.choice(self.projects)
        title = f"soak-{uuid.uuid4().hex[:12]}"
        path, body = self._write(pid, title, rng)
        roll = rng.random()
        if roll < 0.35:
            self._keyed(client, path, body, title, rng)
            return
        headers = {}
        if roll < 0.55:
            summary = self.send(client, "read", "GET", f"{V1}/projects/{pid}", self.pm)
            if summary is None or summary.status_code != 200:
                return
            version = summary.json()["version"]
            # Now and then a stale one on purpose: refused with 412, nothing recorded.
            headers["If-Match"] = f'"{version - 1 if rng.random() < 0.2 and version > 1 else version}"'
        response = self.send(client, "write", "POST", path, self.pm, json=body, headers=headers)
        self.ledger.settle(title, _outcome(response))

    def _write(self, pid: str, title: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
        if rng.random() < 0.5:
            return f"{V1}/projects/{pid}/scope-items", {"title": title, "tier": rng.choice(["core", "touchpoint"])}
        due = (datetime.now(UTC) + timedelta(days=rng.randrange(10, 400))).date().isoformat()
        return f"{V1}/projects/{pid}/milestones", {"title": title, "stage": "development", "due_on": due,
                                                   "deliverables": ["build"]}

    def _keyed(self, client: httpx.Client, path: str, body: dict[str, Any], title: str, rng: random.Random) -> None:
        """Send under a key until answered (or give up): the answer must be one recording, however many tries."""
        key = f"soak-{uuid.uuid4()}"
        deadline = time.monotonic() + KEYED_RETRY_SECONDS
        first: dict[str, Any] | None = None
        while True:
            response = self.send(client, "keyed write", "POST", path, self.pm, json=body,
                                 headers={"Idempotency-Key": key})
            if response is not None and response.status_code < 500:
                outcome = _outcome(response)
                if outcome == "accepted" and rng.random() < 0.2:
                    # A client that never saw the answer sends again: the same answer, nothing recorded.
                    first = response.json()
                    again = self.send(client, "keyed write", "POST", path, self.pm, json=body,
                                      headers={"Idempotency-Key": key})
                    if again is not None and again.status_code < 300:
                        if again.json() != first or again.headers.get("Idempotent-Replayed") != "true":
                            self.ledger.odd(f"replay of {key} differs: {again.json()} != {first}")
                        with self.ledger.lock:
                            self.ledger.replayed += 1
                if response.headers.get("Idempotent-Replayed") == "true":
                    with self.ledger.lock:
                        self.ledger.replayed += 1
                self.ledger.settle(title, outcome)
                return
            if time.monotonic() > deadline or (self.stop.is_set() and time.monotonic() > deadline - 20):
                self.ledger.settle(title, "unsettled")
                return
            time.sleep(0.25)

    # readers

    def _client_step(self, client: httpx.Client, rng: random.Random) -> None:
        pid = rng.choice(self.projects)
        token = self.clients[pid]
        self.send(client, "client read", "GET", f"{V1}/projects/{pid}", token)
        self.send(client, "client read", "GET", f"{V1}/projects/{pid}/milestones", token)
        other = rng.choice([p for p in self.projects if p != pid])
        response = self.send(client, "client other", "GET", f"{V1}/projects/{other}", token)
        if response is not None and response.status_code not in (404, 503):
            self.ledger.odd(f"a client read another project: {response.status_code}")

    def _auditor_step(self, client: httpx.Client, rng: random.Random) -> None:
        pid = rng.choice(self.projects)
        span = (datetime.now(UTC) - self.started_at).total_seconds()
        moment = self.started_at + timedelta(seconds=rng.uniform(0, max(span, 1)))
        self.send(client, "as of", "GET", f"{V1}/projects/{pid}", self.auditor,
                  params={"as_of": moment.isoformat().replace("+00:00", "Z")})
        self.send(client, "audit", "GET", f"{V1}/projects/{pid}/events", self.auditor, params={"limit": 50})
        if rng.random() < 0.3:
            self.send(client, "portfolio", "GET", f"{V1}/projects", self.auditor, params={"sort": "health"})


def _outcome(response: httpx.Response | None) -> str:
    if response is None or response.status_code >= 500:
        if response is not None and response.status_code == 503 and _details(response).get("recorded"):
            return "accepted"  # recorded; only the views were behind
        return "unsettled"
    return "accepted" if response.status_code < 300 else "refused"


def _details(response: httpx.Response) -> dict[str, Any]:
    try:
        return dict(response.json()["error"]["details"])
    except (ValueError, KeyError, TypeError):
        return {}


# --------------------------------------------------------------- faults


def hostile_bodies(title: str) -> Iterator[tuple[str, bytes | None, dict[str, Any] | None]]:
    """(content type, raw body, json body): each must be refused (4xx) and record nothing."""
    yield "application/json", b'{"title": "' + title.encode() + b'", "tier": ', None
    yield "application/json", b"[" * 5000 + b"]" * 5000, None
    yield "application/json", b"x" * (2 * 1024 * 1024), None
    yield "application/json", b'{"title": "' + title.encode() + b'\\ud800", "tier": "core"}', None
    yield "text/plain", title.encode(), None
    yield "", None, {"title": title, "tier": "platinum"}
    yield "", None, {"title": [title], "tier": "core"}
    yield "", None, {"title": title + "\u0001", "tier": "core"}
    yield "", None, {"title": title, "tier": "core", "due_on": "9999-99-99", "extra": 1e308}
    yield "", None, {"title": title * 200, "tier": "core"}


def hostile_burst(load: Load, count: int) -> int:
    """Send `count` hostile requests; the number answered 500."""
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        sent = 0
        while sent < count:
            for content_type, raw, body in hostile_bodies(f"hostile-{uuid.uuid4().hex[:12]}"):
                pid = random.choice(load.projects)
                title = (body or {}).get("title") if isinstance((body or {}).get("title"), str) else None
                headers = {"Content-Type": content_type} if content_type else {}
                if raw is not None:
                    response = load.send(client, "hostile", "POST", f"{V1}/projects/{pid}/scope-items", load.pm,
                                         content=raw, headers=headers)
                else:
                    response = load.send(client, "hostile", "POST", f"{V1}/projects/{pid}/scope-items", load.pm,
                                         json=body)
                if response is not None and 400 <= response.status_code < 500 and title is not None:
                    load.ledger.settle(title, "refused")
                sent += 1
    return load.ledger.by_kind["hostile 500"]


def probe_write(load: Load, api: int) -> Callable[[], bool]:
    """A keyed write through one API process that must be answered 2xx (a fresh title each time)."""

    def check() -> bool:
        title = f"probe-{uuid.uuid4().hex[:12]}"
        pid = load.projects[0]
        with httpx.Client(timeout=10.0) as client:
            response = load.send(client, "probe", "POST", f"{V1}/projects/{pid}/scope-items", load.pm, api=api,
                                 json={"title": title, "tier": "core"}, headers={"Idempotency-Key": title})
        load.ledger.settle(title, _outcome(response))
        return response is not None and response.status_code == 201

    return check


def inject(kind: str, cluster: Cluster, load: Load) -> dict[str, Any]:
    """One fault and the seconds until writes went through again."""
    started = time.monotonic()
    if kind == "kill worker":
        cluster.kill(cluster.worker)
        # Writes keep their read-your-writes: an API process takes the applier lock.
        recovered = wait_until("writes after the worker died", probe_write(load, 0))
        cluster.start_worker()
        return {"fault": kind, "recovery_s": round(recovered, 2)}
    if kind == "kill api":
        cluster.kill(cluster.apis[1])
        cluster.start_api(1)
        recovered = wait_until("writes through the restarted API", probe_write(load, 1))
        return {"fault": kind, "recovery_s": round(time.monotonic() - started, 2),
                "after_restart_s": round(recovered, 2)}
    if kind == "restart database":
        cluster.pg.stop()
        time.sleep(2.0)
        cluster.pg.start()
        back = time.monotonic()
        first = wait_until("writes through api0 after the database restart", probe_write(load, 0))
        wait_until("writes through api1 after the database restart", probe_write(load, 1))
        return {"fault": kind, "outage_s": round(back - started, 2), "recovery_s": round(first, 2),
                "both_apis_s": round(time.monotonic() - back, 2)}
    if kind == "hostile bodies":
        errors = hostile_burst(load, HOSTILE_BURST)
        recovered = wait_until("writes after the hostile burst", probe_write(load, 0))
        return {"fault": kind, "sent": HOSTILE_BURST, "answered_500": errors, "recovery_s": round(recovered, 2)}
    raise ValueError(kind)


FAULTS = ["kill worker", "kill api", "restart database", "hostile bodies"]


# ---------------------------------------------------------------- checks


def recorded_titles(url: str) -> Counter[str]:
    """Titles of every scope item and milestone in the store, read from the events themselves."""
    from delivery.application import DeliveryApplication
    from delivery.settings import Database

    app = DeliveryApplication(Database(url))
    titles: Counter[str] = Counter()
    try:
        start = 1
        while True:
            batch = app.recorder.select_notifications(start, 500)
            if not batch:
                return titles
            for notification in batch:
                event = app.mapper.to_domain_event(notification)
                title = getattr(event, "title", None)
                if isinstance(title, str):
                    titles[title] += 1
            start = batch[-1].id + 1
    finally:
        app.close()


def check(url: str, ledger: Ledger) -> dict[str, Any]:
    titles = recorded_titles(url)
    twice = sorted(t for t, n in titles.items() if n > 1)
    lost = sorted(t for t in ledger.accepted if titles[t] != 1)
    refused_recorded = sorted(t for t in ledger.refused if titles[t] != 0)
    unsettled_recorded = sum(1 for t in ledger.unsettled if titles[t] == 1)
    replay = cli(url, "replay", "--check")
    verify = cli(url, "verify")
    return {
        "accepted": len(ledger.accepted), "refused": len(ledger.refused), "unsettled": len(ledger.unsettled),
        "unsettled_recorded_once": unsettled_recorded, "replayed_answers": ledger.replayed,
        "recorded_twice": twice[:20], "accepted_not_recorded_once": lost[:20],
        "refused_but_recorded": refused_recorded[:20],
        "views_equal_rebuild": replay.returncode == 0, "replay_output": replay.stdout[-800:] + replay.stderr[-800:],
        "chain_verifies": verify.returncode == 0, "verify_output": verify.stdout[-800:] + verify.stderr[-800:],
    }


# ------------------------------------------------------------------ run


@contextmanager
def running(pg: PrivateCluster, logs: Path) -> Iterator[Cluster]:
    cluster = Cluster(pg, logs)
    try:
        cluster.start_api(0)  # the first creates the tables; the others then start together
        cluster.start_worker()
        cluster.start_api(1)
        yield cluster
    finally:
        cluster.stop_all()


def soak(seconds: float, short: bool, logs: Path) -> dict[str, Any]:
    ledger = Ledger()
    with private_cluster() as pg, running(pg, logs) as cluster:
        url = cluster.url
        pm, auditor = token(url, "pm"), token(url, "auditor")
        projects = []
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            for i in range(PROJECTS):
                created = client.post(f"{cluster.base(0)}{V1}/projects", json={"name": f"Soak {i}", "client": "Soak"},
                                      headers={"Authorization": f"Bearer {pm}"})
                created.raise_for_status()
                projects.append(created.json()["id"])
        clients = {pid: token(url, "client", pid) for pid in projects}
        load = Load(cluster, ledger, pm, auditor, clients, projects, datetime.now(UTC))
        began = time.monotonic()
        load.start()
        faults: list[dict[str, Any]] = []
        plan = FAULTS if short else FAULTS * max(1, int(seconds // 120))
        gap = seconds / (len(plan) + 1)
        try:
            for n, kind in enumerate(plan, start=1):
                time.sleep(max(0.0, began + gap * n - time.monotonic()))
                faults.append({"at_s": round(time.monotonic() - began, 1), **inject(kind, cluster, load)})
                print(f"soak: {faults[-1]}", file=sys.stderr, flush=True)
            time.sleep(max(0.0, began + seconds - time.monotonic()))
        finally:
            load.join()
        loaded = time.monotonic() - began
        if cluster.worker is None or not cluster.worker.alive():
            cluster.start_worker()
        # The views reach the store's head, then the store is read back and checked.
        wait_until("views at the head", lambda: _caught_up(cluster.base(0)))
        checks = check(url, ledger)
    statuses = dict(sorted(ledger.statuses.items()))
    ok = (statuses.get("500", 0) == 0 and not checks["recorded_twice"] and not checks["accepted_not_recorded_once"]
          and not checks["refused_but_recorded"] and checks["views_equal_rebuild"] and checks["chain_verifies"]
          and not ledger.anomalies)
    return {"ok": ok, "short": short, "load_seconds": round(loaded, 1), "requests": sum(statuses.values()),
            "statuses": statuses, "by_kind": dict(sorted(ledger.by_kind.items())), "anomalies": ledger.anomalies,
            "faults": faults, "checks": checks}


def _caught_up(base: str) -> bool:
    ready = httpx.get(f"{base}/readyz", timeout=5).json()
    return bool(ready.get("status") == "ready" and ready["views_position"] >= ready["store_position"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", action="store_true", help="each fault once, about a minute of load")
    parser.add_argument("--seconds", type=float, help="seconds of load (default 60 short, 600 long)")
    parser.add_argument("--json", type=Path, help="write the result here too")
    parser.add_argument("--logs", type=Path, default=ROOT / "var" / "soak-logs")
    args = parser.parse_args(argv)
    problem = cluster_problem()
    if problem:
        print(f"soak: cannot start a private PostgreSQL cluster: {problem}", file=sys.stderr)
        return 2
    seconds = args.seconds or (60.0 if args.short else 600.0)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    result = soak(seconds, args.short, args.logs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
