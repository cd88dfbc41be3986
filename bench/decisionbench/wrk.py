"""The closed-loop load generator: wrk with a Lua script that POSTs the bench's bodies and times
every request itself."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from .common import HOST, Json
from .loadgen import Target

__all__ = ["WRK_SCRIPT", "run_wrk"]

# The figures the Lua script reports, as the report names them.
_QUANTILES = (
    ("p50", "p50"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p99.9", "p999"),
    ("mean", "mean"),
    ("max", "max"),
)

WRK_SCRIPT = r"""
-- POSTs pre-generated JSON bodies (one per line of a file), cycling through them; counts
-- statuses, and times every request with a monotonic clock (LuaJIT FFI). The bench runs one
-- wrk thread per connection, so a thread's request() and response() always belong to the same
-- connection and these latencies are exact. (wrk's own histogram is "corrected" after the run:
-- stats_correct() adds synthetic samples for every response slower than twice the mean
-- interval, so one stall of 300 ms at one connection turns into a p99 of ~200 ms.)
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local reqs = {}
local n = 0
local idx = 0
local sent_at = 0
ok = 0
bad = 0
first_bad = 0
tid = 0
lat = {}

local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local headers = {["Content-Type"] = "application/json"}
  if args[3] ~= nil and args[3] ~= "-" then
    headers["Authorization"] = "Bearer " .. args[3]
  end
  for line in io.lines(args[1]) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format("POST", args[2], headers, line)
    end
  end
  idx = (tid * 7919) % n
end

function request()
  idx = idx % n + 1
  sent_at = now_us()
  return reqs[idx]
end

function response(status, headers, body)
  lat[#lat + 1] = now_us() - sent_at
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    if first_bad == 0 then first_bad = status end
  end
end

local function rank(sorted, q)
  local i = math.ceil(q / 100 * #sorted)
  if i < 1 then i = 1 end
  return sorted[i] or 0
end

function done(summary, latency, requests)
  local oks, bads, fb = 0, 0, 0
  local all, sum = {}, 0
  for _, t in ipairs(threads) do
    oks = oks + t:get("ok")
    bads = bads + t:get("bad")
    if fb == 0 then fb = t:get("first_bad") end
    local l = t:get("lat")
    for i = 1, #l do
      all[#all + 1] = l[i]
      sum = sum + l[i]
    end
  end
  table.sort(all)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"ok":%d,"non2xx":%d,"first_bad_status":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"samples":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f,"mean_us":%.1f,' ..
    '"max_us":%.1f,"wrk_p50_us":%d,"wrk_p90_us":%d,"wrk_p99_us":%d,"wrk_p999_us":%d,' ..
    '"wrk_mean_us":%.1f,"wrk_max_us":%d}\n',
    summary.requests, summary.duration, oks, bads, fb,
    e.connect, e.read, e.write, e.timeout,
    #all, rank(all, 50), rank(all, 90), rank(all, 99), rank(all, 99.9),
    #all > 0 and sum / #all or 0, all[#all] or 0,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max))
end
"""


def run_wrk(target: Target, *, connections: int, seconds: float, script: Path) -> Json:
    """wrk, closed loop, with :data:`WRK_SCRIPT`; latencies as the script measured them."""
    cmd = [
        "wrk",
        f"-t{connections}",  # one thread per connection: exact latencies (see WRK_SCRIPT)
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://{HOST}:{target.port}",
        "--",
        str(target.bodies),
        target.path,
        target.api_key or "-",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    match = re.search(r"^BENCH_RESULT (\{.*\})$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    raw = json.loads(match.group(1))
    duration = raw["duration_us"] / 1e6
    return {
        "generator": "wrk (closed loop, one thread per connection)",
        "connections": connections,
        "duration_s": duration,
        "requests": raw["requests"],
        "ok": raw["ok"],
        "non2xx": raw["non2xx"],
        "first_bad_status": raw["first_bad_status"] or None,
        "socket_errors": raw["connect_errors"]
        + raw["read_errors"]
        + raw["write_errors"]
        + raw["timeouts"],
        "throughput_per_s": raw["ok"] / duration,
        # Measured per request in the Lua script (exact).
        "latency_ms": {q: raw[f"{key}_us"] / 1000 for q, key in _QUANTILES},
        # wrk's histogram after its stats_correct(): synthetic samples added for slow responses.
        "wrk_corrected_latency_ms": {q: raw[f"wrk_{key}_us"] / 1000 for q, key in _QUANTILES},
    }
