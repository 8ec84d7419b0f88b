"""HTTP load for the benches: `wrk` with a generated Lua script, or an httpx/asyncio fallback without it.

A run sends requests over `connections` keep-alive connections for `seconds` (wrk is
ended by SIGINT at that moment, so runs shorter than its one-second `-d` work too) and
reports successes per second, conflicts, failures and latency percentiles. Every target
is on 127.0.0.1.

Usage: imported by the benches; `python bench/load.py URL [--token T] [--seconds 2]` loads one GET path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx


@dataclass(frozen=True)
class Load:
    """What to send: one method, paths taken in turn, headers, and a body where `{n}` becomes a unique number."""

    paths: tuple[str, ...]
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None


@dataclass
class Result:
    tool: str
    seconds: float  # the counted window (after the warm-up)
    ok: int  # 2xx
    conflicts: int  # 409
    failures: int  # any other status, and socket errors and timeouts
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "httpx"


def run(base: str, load: Load, *, connections: int, seconds: float, warm: float = 0.0, threads: int = 2) -> Result:
    """Load `base` (http://127.0.0.1:PORT) for `warm` + `seconds`, counting answers only after `warm` (by then
    every connection has a request queued: the start's empty pipeline is not counted); wrk, else httpx."""
    host = urlsplit(base).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"benches load only this machine, not {host}")
    if load.body is not None:
        # Unique across runs too: a title used twice on one project is refused as a duplicate.
        load = replace(load, body=load.body.replace("{n}", secrets.token_hex(4) + "-{n}"))
    if shutil.which("wrk"):
        return _wrk(base, load, connections, seconds, warm, threads)
    return asyncio.run(_httpx(base, load, connections, seconds, warm))


# ---------------------------------------------------------------- wrk

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local paths = __PATHS__
local method = __METHOD__
local headers = __HEADERS__
local body = __BODY__
local warm = __WARM__
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  sent, ok, conflict, bad = 0, 0, 0, 0
  counting_from = now() + warm
  last = counting_from
end

function request()
  sent = sent + 1
  local path = paths[(sent * 7 + tid) % #paths + 1]
  local payload = nil
  if body ~= nil then
    payload = (string.gsub(body, "{n}", tid .. "-" .. sent))
  end
  return wrk.format(method, path, headers, payload)
end

function response(status, hdrs, b)
  local t = now()
  if t < counting_from then return end
  last = t
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 409 then conflict = conflict + 1
  else bad = bad + 1 end
end

function done(summary, latency, requests)
  local o, c, b, from, to = 0, 0, 0, nil, nil
  for _, t in ipairs(threads) do
    o = o + t:get("ok"); c = c + t:get("conflict"); b = b + t:get("bad")
    local f, l = t:get("counting_from"), t:get("last")
    if from == nil or f < from then from = f end
    if to == nil or l > to then to = l end
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"window_s": %.6f, "requests": %d, "ok": %d, "conflict": %d, "bad": %d, ' ..
    '"socket_errors": %d, "p50": %d, "p95": %d, "p99": %d}\n',
    to - from, summary.requests, o, c, b, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for the characters used here


def _wrk(base: str, load: Load, connections: int, seconds: float, warm: float, threads: int) -> Result:
    threads = max(1, min(threads, connections))
    script = (LUA.replace("__PATHS__", "{" + ", ".join(_lua_string(p) for p in load.paths) + "}")
              .replace("__METHOD__", _lua_string(load.method))
              .replace("__HEADERS__", "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}"
                                                      for k, v in load.headers) + "}")
              .replace("__BODY__", "nil" if load.body is None else _lua_string(load.body))
              .replace("__WARM__", repr(float(warm))))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        # wrk's -d counts whole seconds and only bounds a stuck run: SIGINT ends it after warm + seconds.
        ceiling = int(warm + seconds) + 30
        popen = subprocess.Popen(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{ceiling}s", "--timeout", "10s", "-s", handle.name,
             base], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            popen.wait(warm + seconds)
        except subprocess.TimeoutExpired:
            popen.send_signal(signal.SIGINT)
        stdout, stderr = popen.communicate(timeout=ceiling + 30)
    finally:
        Path(handle.name).unlink(missing_ok=True)
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (exit {popen.returncode}): {stderr.strip() or stdout[-500:]}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    failures = raw["bad"] + raw["socket_errors"]
    return Result("wrk", raw["window_s"], raw["ok"], raw["conflict"], failures,
                  raw["p50"] / 1000, raw["p95"] / 1000, raw["p99"] / 1000,
                  {"2xx": raw["ok"], "409": raw["conflict"], "other": raw["bad"], "socket": raw["socket_errors"]})


# -------------------------------------------------------------- httpx


async def _httpx(base: str, load: Load, connections: int, seconds: float, warm: float) -> Result:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    counts = {"2xx": 0, "409": 0, "other": 0, "socket": 0}
    counting_from = time.perf_counter() + warm
    deadline = counting_from + seconds
    last = counting_from
    headers = dict(load.headers)

    async def worker(wid: int, client: httpx.AsyncClient) -> None:
        nonlocal last
        sent = 0
        while time.perf_counter() < deadline:
            sent += 1
            path = load.paths[(sent * 7 + wid) % len(load.paths)]
            body = None if load.body is None else load.body.replace("{n}", f"{wid}-{sent}").encode()
            began = time.perf_counter()
            try:
                response = await client.request(load.method, path, content=body, headers=headers)
            except httpx.HTTPError:
                counts["socket"] += 1
                continue
            ended = time.perf_counter()
            latencies.append(ended - began)
            if ended < counting_from:
                continue
            last = max(last, ended)
            key = "2xx" if 200 <= response.status_code < 300 else "409" if response.status_code == 409 else "other"
            counts[key] += 1

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as client:
        await asyncio.gather(*(worker(w, client) for w in range(connections)))
    return Result("httpx", last - counting_from, counts["2xx"], counts["409"], counts["other"] + counts["socket"],
                  percentile(latencies, 50) * 1000, percentile(latencies, 95) * 1000,
                  percentile(latencies, 99) * 1000, counts)


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="http://127.0.0.1:PORT/path")
    parser.add_argument("--token")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warm", type=float, default=0.5)
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = (("Authorization", f"Bearer {args.token}"),) if args.token else ()
    result = run(f"{parts.scheme}://{parts.netloc}", Load((path,), headers=headers),
                 connections=args.connections, seconds=args.seconds, warm=args.warm)
    print(json.dumps({**result.__dict__, "rate": result.rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
