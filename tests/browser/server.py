"""The whole app served by uvicorn in a thread, on a fresh SQLite file, for a real browser to visit."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from api.app import create_app
from delivery.settings import Database

CHROMIUM = "/usr/bin/chromium"


@dataclass
class Served:
    url: str
    services: Any

    def token(self, role: str, projects: list[str] | None = None, name: str | None = None) -> str:
        token, _ = self.services.tokens.create(role=role, projects=projects or [], name=name or f"{role}-browser")
        return str(token)

    def project(self, name: str, client: str = "Acme") -> str:
        recorded = self.services.app.create_project(name=name, client=client, actor="setup")
        self.services.reads.wait_for(recorded.position)
        return str(recorded.project_id)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(database_file: Path) -> Iterator[Served]:
    app = create_app(Database(f"sqlite:///{database_file}"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app.state.services)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def launch_options() -> dict[str, Any]:
    # Debian's Chromium, never a downloaded browser; no sandbox inside a container.
    return {"executable_path": CHROMIUM, "args": ["--no-sandbox", "--disable-dev-shm-usage"]}
