"""A private PostgreSQL cluster for one test, to stop, start and restart without touching the shared server.

Built with Debian's `initdb` and `pg_ctl`, run as the `postgres` OS user, in a
temporary folder, on a free TCP port of 127.0.0.1 with trust authentication.
The machine's own server (port 5432) is never touched: every command here
names the private data directory explicitly.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_POSTGRES = os.environ.get("DELIVERY_REQUIRE_POSTGRES") == "1"
OS_USER = "postgres"
# pg_ctl waits at most this long for the server to start or stop.
PG_CTL_WAIT_SECONDS = 30


def find_bindir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` holding both initdb and pg_ctl."""
    candidates = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    usable = [p for p in candidates if (p / "initdb").is_file() and (p / "pg_ctl").is_file()]

    def version(path: Path) -> tuple[int, ...]:
        digits = path.parent.name.split(".")
        return tuple(int(d) for d in digits if d.isdigit())

    return max(usable, key=version) if usable else None


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cluster_problem() -> str | None:
    """Why a private cluster cannot be made here (None when it can)."""
    if find_bindir() is None:
        return "no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return f"no {OS_USER!r} OS user to run a private cluster as"
    if os.geteuid() != 0:
        return "a private cluster is started as the postgres user, which needs root"
    if shutil.which("runuser") is None:
        return "no runuser to switch to the postgres user"
    return None


class PrivateCluster:
    """One throw-away PostgreSQL cluster: `url`, `start()`, `stop()`, `restart()`, `destroy()`."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir = bindir
        self.root = root
        self.port = port
        self.data_dir = root / "data"
        self.socket_dir = root / "sockets"
        self.log_file = root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://{OS_USER}@127.0.0.1:{self.port}/postgres"

    # ------------------------------------------------------------ commands

    def _run(self, *args: str, timeout: float = PG_CTL_WAIT_SECONDS + 10) -> subprocess.CompletedProcess[str]:
        """A PostgreSQL program as the postgres user; cwd is our folder (postgres may not read the caller's)."""
        return subprocess.run(
            ["runuser", "-u", OS_USER, "--", *args], cwd=self.root, capture_output=True, text=True,
            timeout=timeout, check=False,
        )

    def _check(self, what: str, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}\n--- server log:\n"
                + self.server_log()
            )

    def server_log(self, tail: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-tail:])
        except OSError:
            return "(no server log)"

    def init(self) -> None:
        self.socket_dir.mkdir()
        shutil.chown(self.socket_dir, OS_USER, OS_USER)
        result = self._run(
            str(self.bindir / "initdb"), "-D", str(self.data_dir), "-U", OS_USER, "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync", timeout=120,
        )
        self._check("initdb", result)

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = self._run(
            str(self.bindir / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
            "-w", "-t", str(PG_CTL_WAIT_SECONDS), "-o", options,
        )
        self._check("pg_ctl start", result)

    def stop(self) -> None:
        """Stop the server (fast: open sessions are cut, as in a real outage) and wait until it is down."""
        result = self._run(
            str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast",
            "-w", "-t", str(PG_CTL_WAIT_SECONDS),
        )
        self._check("pg_ctl stop", result)

    def restart(self, downtime: float = 1.0) -> None:
        """Stop, stay down for `downtime` seconds, start again."""
        self.stop()
        time.sleep(downtime)
        self.start()

    def is_running(self) -> bool:
        result = self._run(str(self.bindir / "pg_ctl"), "status", "-D", str(self.data_dir), timeout=30)
        return result.returncode == 0

    def destroy(self) -> None:
        """Stop the server if it runs (immediately: nothing here is worth a checkpoint) and delete the folder."""
        if self.data_dir.is_dir():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run(
                    str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate",
                    "-w", "-t", str(PG_CTL_WAIT_SECONDS),
                )
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def private_cluster(start_attempts: int = 3) -> Iterator[PrivateCluster]:
    """A fresh, started cluster; stopped and removed on the way out whatever happened."""
    bindir = find_bindir()
    assert bindir is not None, "call cluster_problem() first"
    # Not under pytest's tmp_path: its parents are private to root and postgres could not reach the data.
    root = Path(tempfile.mkdtemp(prefix="delivery-pg-"))
    shutil.chown(root, OS_USER, OS_USER)
    cluster = PrivateCluster(bindir, root, free_port())
    try:
        cluster.init()
        for attempt in range(1, start_attempts + 1):
            try:
                cluster.start()
                break
            except RuntimeError:
                # The free port may have been taken between choosing and binding it: choose another.
                if attempt == start_attempts:
                    raise
                cluster.port = free_port()
        yield cluster
    finally:
        cluster.destroy()


def _cluster_or_skip() -> Iterator[PrivateCluster]:
    problem = cluster_problem()
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(problem + " (DELIVERY_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)
    with private_cluster() as cluster:
        yield cluster


# Fixtures are named apart from their functions so that a test module can import them and still take
# `private_postgres` as an argument.
@pytest.fixture(name="private_postgres")
def private_postgres_fixture() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster for this test only (skipped without the binaries, unless required)."""
    yield from _cluster_or_skip()


@pytest.fixture(name="module_private_postgres", scope="module")
def module_private_postgres_fixture() -> Iterator[PrivateCluster]:
    """One private cluster for a module's tests that never stop it (each works in a schema of its own)."""
    yield from _cluster_or_skip()
