"""`delivery serve` as a real process for tests that kill it or take its database away.

Started by its own command on a free port of 127.0.0.1, stopped (or killed) by its own pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.pg_cluster import free_port

# The console script installed beside the interpreter running the tests (.venv/bin/delivery under `make test`).
DELIVERY_CLI = Path(sys.executable).parent / "delivery"
START_DEADLINE = 60.0


@dataclass
class Server:
    """A `delivery serve` process: its base URL, its output, and how to kill or restart it."""

    url: str
    log_path: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_DEADLINE) -> None:
        """Start and return once `/healthz` answers."""
        env = {**os.environ, **self.env, "DELIVERY_DATABASE_URL": self.url, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(DELIVERY_CLI), "serve", "--host", "127.0.0.1", "--port", str(self.port)], env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.log_path.parent,
            )
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(f"delivery serve exited ({self.proc.returncode}):\n{self.log()}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/healthz", timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"delivery serve did not answer within {timeout:g} s:\n{self.log()}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = 10.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self, tail: int = 40) -> str:
        with suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-tail:])
        return "(no output)"


@contextmanager
def served(url: str, log_path: Path, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """A started `delivery serve` on `url`; killed on the way out if still running."""
    server = Server(url, log_path, dict(env or {}))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def create_token(url: str, role: str, name: str) -> str:
    """`delivery token create` on the store of `url`: the token it prints."""
    out = subprocess.run(
        [str(DELIVERY_CLI), "token", "create", "--role", role, "--name", name],
        env={**os.environ, "DELIVERY_DATABASE_URL": url}, capture_output=True, text=True, timeout=120, check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]
