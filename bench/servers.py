"""The processes the HTTP benches start and stop: `delivery serve`, `delivery worker`, the bare app; PG schemas.

Every process is started here, by its own command, and stopped by its own pid.

Usage: imported by the benches; `python bench/servers.py --url URL [--worker]` serves a store until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
DELIVERY = str(BIN / "delivery")
PYTHON = str(BIN / "python")
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def store_env(url: str) -> dict[str, str]:
    return {**os.environ, "DELIVERY_DATABASE_URL": url}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


def stat_ticks(stat: str) -> int:
    """User + system clock ticks in a /proc `stat` file (a process's, or one thread's under task/); 0 once gone."""
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def cpu_ticks(pids: tuple[int, ...]) -> int:
    """User + system clock ticks used so far by these processes (all their threads)."""
    return sum(stat_ticks(f"/proc/{pid}/stat") for pid in pids)


def settle(pids: tuple[int, ...], timeout: float = 30.0) -> float:
    """Wait until the processes are idle (at most one clock tick of CPU in 50 ms): a run's backlog must not
    spill into the next one. The seconds waited."""
    started = time.monotonic()
    before = cpu_ticks(pids)
    while time.monotonic() - started < timeout:
        time.sleep(0.05)
        now = cpu_ticks(pids)
        if now - before <= 1:
            break
        before = now
    return time.monotonic() - started


# What a server still has to do after its start on a store with a backlog (views to apply, events to plan
# notifications for): every figure is taken once these are done, or no longer moving (nothing in the
# server works on them: a PostgreSQL server plans no notifications without `delivery worker`).
BACKLOGS = {"delivery_projection_lag_events": "views", "delivery_notify_lag_events": "notifications"}
STILL_SECONDS = 5.0


def caught_up(base: str, timeout: float = 3600.0) -> float:
    """Wait until the server's backlogs (BACKLOGS, from /metrics) are done or still; the seconds waited.

    A store grown outside the server (the generator, `delivery rebuild`) leaves the notification planner
    at its start: at a million events it plans for minutes, and a figure taken meanwhile measures that.
    Progress goes to stderr.
    """
    started = last_move = time.monotonic()
    seen: dict[str, float] = {}
    while time.monotonic() - started < timeout:
        text = httpx.get(f"{base}/metrics", timeout=30).text
        lags = {name: gauge(text, name) for name in BACKLOGS}
        if all(v == 0 for v in lags.values()):
            break
        if lags != seen:
            seen, last_move = lags, time.monotonic()
            left = ", ".join(f"{BACKLOGS[name]} {lag:,.0f}" for name, lag in lags.items())
            print(f"\r  server catching up: events to go: {left}", end="", file=sys.stderr, flush=True)
        elif time.monotonic() - last_move > STILL_SECONDS:
            break
        time.sleep(1.0)
    waited = time.monotonic() - started
    if waited > 1.0:
        print(f"\r  server caught up in {waited:.0f} s" + " " * 40, file=sys.stderr, flush=True)
    return waited


def gauge(metrics: str, name: str) -> float:
    """A sample's value in /metrics text (0 when absent)."""
    found = re.search(rf"^{name} ([0-9.e+]+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def spawn(name: str, command: list[str], env: Mapping[str, str], logs: Path) -> Process:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(command, env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    return Process(name, popen, log)


def wait_http(process: Process, url: str, timeout: float = 120.0, headers: Mapping[str, str] | None = None) -> None:
    """Until `url` answers 200, or the process dies, or `timeout`."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited ({process.popen.returncode}):\n{process.tail()}")
        try:
            response = httpx.get(url, headers=dict(headers or {}), timeout=5.0)
            if response.status_code == 200:
                return
            last = f"{response.status_code} {response.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not answer {url} in {timeout:.0f} s (last: {last}):\n{process.tail()}")


def create_token(url: str, role: str = "pm") -> str:
    out = subprocess.run([DELIVERY, "token", "create", "--role", role, "--name", "Bench PM"], env=store_env(url),
                         capture_output=True, text=True, timeout=120, check=False)
    token = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if out.returncode != 0 or not token:
        raise RuntimeError(f"delivery token create failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return token


def start_server(url: str, logs: Path, token: str) -> tuple[Process, str]:
    """`delivery serve` on a free port, answering an authenticated portfolio page; (process, base URL)."""
    port = free_port()
    process = spawn("server", [DELIVERY, "serve", "--host", "127.0.0.1", "--port", str(port)], store_env(url), logs)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(process, f"{base}/api/v1/projects?limit=1", headers={"Authorization": f"Bearer {token}"})
    except BaseException:
        process.stop()
        raise
    return process, base


def start_worker(url: str, logs: Path) -> Process:
    return spawn("worker", [DELIVERY, "worker", "--poll", "0.5"], store_env(url), logs)


def start_bare(fixtures: Path, token: str, logs: Path, style: str) -> tuple[Process, str]:
    port = free_port()
    env = {**os.environ, "BENCH_TOKEN": token}
    process = spawn("bare", [PYTHON, str(HERE / "bare_app.py"), "--port", str(port), "--fixtures", str(fixtures),
                             "--style", style], env, logs)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(process, f"{base}/healthz", timeout=60)
    except BaseException:
        process.stop()
        raise
    return process, base


# ------------------------------------------------------------ PostgreSQL


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["schema"] = schema
    return urlunsplit(parts._replace(query=urlencode(query)))


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=""))


@contextlib.contextmanager
def pg_schema(url: str, prefix: str = "bench") -> Iterator[str]:
    """A fresh schema `bench_<random>` on the server of `url`, dropped afterwards; yields the URL that uses it."""
    import psycopg
    from psycopg import sql

    schema = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_schema(url, schema)
    finally:
        with psycopg.connect(_admin_url(url), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def pg_available(url: str) -> str | None:
    """None when the server answers, else why not."""
    import psycopg

    try:
        with psycopg.connect(_admin_url(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--logs", type=Path, default=Path("var/bench-logs"))
    parser.add_argument("--worker", action="store_true", help="also start `delivery worker`")
    args = parser.parse_args(argv)
    token = create_token(args.url)
    worker = start_worker(args.url, args.logs) if args.worker else None
    server, base = start_server(args.url, args.logs, token)
    print(f"{base}  token {token}", flush=True)
    try:
        while server.alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if worker is not None:
            worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
