"""The small pure pieces of the edge: secret redaction, terminal text, the failure window."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from api import edge
from api.edge import FailureLimiter
from api.terminal import printable
from delivery.logs import JsonFormatter, redact
from delivery.settings import AuthLimit


@pytest.mark.parametrize(("text", "shown"), [
    ("/share/abc_DEF-123/milestones.ics", "/share/[redacted]/milestones.ics"),
    ("/s/abc_DEF-123", "/s/[redacted]"),
    ("/pm/p/1?done=share&link=abc#share", "/pm/p/1?done=share&link=[redacted]#share"),
    ("Authorization: Bearer dt_abc-DEF_12 then", "Authorization: Bearer [redacted] then"),
    ("/api/v1/projects/42/scope-items", "/api/v1/projects/42/scope-items"),
])
def test_secrets_are_redacted(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_a_log_record_is_one_json_line_with_its_extra_fields() -> None:
    record = logging.LogRecord("delivery.access", logging.INFO, __file__, 1, "GET /s/%s", ("abc",), None)
    record.request_id = "r-1"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["message"], entry["request_id"], entry["level"]) == ("GET /s/[redacted]", "r-1", "info")


@pytest.mark.parametrize(("text", "shown"), [
    ("Mall app", "Mall app"),
    ("a\x1b[31mred\x1b[0m", "ared"),
    ("x\x1b]0;owned\x07y", "xy"),
    ("c1\x9b2Jz", "c1z"),
    ("tab\tand\nnewline", "tab and newline"),
    ("中文\x7f", "中文 "),
])
def test_terminal_text_has_no_escape_sequences(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_failures_count_in_a_sliding_window_per_address() -> None:
    limiter = FailureLimiter(AuthLimit(failures=2, window=10))
    limiter.failed("a", 100.0)
    assert limiter.retry_after("a", 101.0) == 0
    limiter.failed("a", 104.0)
    assert limiter.retry_after("a", 105.0) == 5  # until the first failure leaves the window
    assert limiter.retry_after("b", 105.0) == 0
    assert limiter.retry_after("a", 110.0) == 0
    limiter.failed("a", 111.0)
    assert limiter.retry_after("a", 111.5) == 3


def test_a_limit_of_zero_turns_it_off() -> None:
    limiter = FailureLimiter(AuthLimit(failures=0))
    for moment in range(100):
        limiter.failed("a", float(moment))
    assert limiter.retry_after("a", 100.0) == 0


def test_a_request_left_unanswered_counts_as_499_not_500() -> None:
    import asyncio
    import threading

    from prometheus_client import CollectorRegistry

    from api.edge import Edge, HttpMetrics

    async def gone(scope: Any, receive: Any, send: Any) -> None:  # the client disconnected: nothing to answer
        return None

    registry = CollectorRegistry()
    edge = Edge(gone, metrics=HttpMetrics(registry), limiter=FailureLimiter(AuthLimit()))
    scope = {"type": "http", "method": "POST", "path": "/api/v1/projects", "headers": [], "query_string": b""}

    async def receive() -> Any:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent to a client that left")

    # In a thread of its own: another test's event loop may still be running in this one.
    worker = threading.Thread(target=lambda: asyncio.run(edge(scope, receive, send)))
    worker.start()
    worker.join(10)
    labels = {"method": "POST", "route": "unmatched", "status": "499"}
    assert registry.get_sample_value("delivery_http_requests_total", labels) == 1.0


def test_request_ids_are_32_hex_digits_unique_within_and_across_processes() -> None:
    one, other = edge._request_ids(), edge._request_ids()
    ids = [next(one) for _ in range(1000)] + [next(other) for _ in range(1000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids[0][:16] != ids[1000][:16]  # each process draws its own random half
