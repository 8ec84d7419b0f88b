"""Receivers for notification tests: a webhook endpoint and chat robots, each a small HTTP server on 127.0.0.1.

They check what a real receiver checks (the signature, the timestamp's age, the robot's signing) and count
what arrived by delivery id, so a test can say "each notification exactly once".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: answers `fail_first` 500s per delivery id, then 200 (or `status` always)."""

    secret: str = ""
    fail_first: int = 0
    status: int | None = None
    delay: float = 0.0
    max_age: int = 300
    robot: str = ""  # '', 'dingtalk' or 'feishu': check that robot's signing instead of the webhook's
    robot_secret: str = ""
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _failed: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status, answer = receiver.handle(self.path, dict(self.headers.items()), body)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        with self._lock:
            problem = self.check(path, headers, body)
            if problem:
                self.refused.append(problem)
                return (401, json.dumps({"error": problem}).encode()) if not self.robot else \
                    (200, json.dumps({"errcode": 310000, "code": 19021, "errmsg": problem}).encode())
            did = headers.get("X-Delivery-Id", path)
            status = self.status or 200
            if self._failed[did] < self.fail_first:
                self._failed[did] += 1
                status = 500
            self.received.append(Received(path, headers, body, status))
            return status, json.dumps({"errcode": 0, "code": 0, "errmsg": "ok"}).encode()

    def check(self, path: str, headers: dict[str, str], body: bytes) -> str:
        if self.robot == "dingtalk":
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
            stamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
            # As DingTalk's documentation computes it.
            string_to_sign = f"{stamp}\n{self.robot_secret}"
            expected = base64.b64encode(hmac.new(self.robot_secret.encode("utf-8"), string_to_sign.encode("utf-8"),
                                                 digestmod=hashlib.sha256).digest()).decode()
            if sign != expected or abs(time.time() * 1000 - int(stamp or 0)) > 3600_000:
                return "sign not match"
            return ""
        if self.robot == "feishu":
            doc = json.loads(body)
            stamp = doc.get("timestamp", "")
            # As Feishu's documentation computes it.
            string_to_sign = f"{stamp}\n{self.robot_secret}"
            expected = base64.b64encode(hmac.new(string_to_sign.encode("utf-8"), digestmod=hashlib.sha256)
                                        .digest()).decode("utf-8")
            if doc.get("sign") != expected or abs(time.time() - int(stamp or 0)) > 3600:
                return "sign match fail or timestamp is not within one hour from current time"
            return ""
        if not self.secret:
            return ""
        stamp = headers.get("X-Delivery-Timestamp", "")
        signature = headers.get("X-Delivery-Signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > self.max_age:
            return "stale or missing timestamp"
        expected = "sha256=" + hmac.new(self.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            return "bad signature"
        return ""

    def delivered(self) -> Counter[str]:
        """Delivery ids answered 200, with how many times each."""
        with self._lock:
            return Counter(r.headers.get("X-Delivery-Id", "") for r in self.received if r.status == 200)

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json for r in self.received if r.status == 200]
