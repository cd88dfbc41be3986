#!/usr/bin/env python
"""Benchmark of ``POST /v1/decisions/fraud`` on the real server, against ``mlflow models serve``.

One run builds a temporary home (fixtures, the three models trained and registered in a
temporary SQLite MLflow store, demo secrets, an application key), starts ``glassbox serve`` as a
separate process and drives it over loopback HTTP from other processes:

(a) closed loop, 8 connections (wrk): maximum throughput;
(b) open loop at half that rate (a Python fixed-rate generator that measures latency from the
    *scheduled* send time, so a slow response cannot hide the requests queued behind it);
(c) closed loop, one connection (wrk): unloaded latency.

It reads the server's CPU time from ``/proc`` around each scenario (CPU per decision), its RSS
after warm-up, the RSS each model adds in a fresh process, serves the same registered fraud
model with ``mlflow models serve`` as the baseline (bare predict: no explanation, no log, no
durable write), times TreeSHAP and the pieces of the hot path in-process, and finally verifies
the decision log the run built -- and a tampered copy of it.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/decisions.py [--quick] [--workers 1 2] [--keep]

Results go to ``bench/results/latest.json``; a Markdown table is printed at the end.
The hidden sub-commands ``_loadgen``, ``_rss`` and ``_micro`` are the child processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "bench" / "results"
HOST = "127.0.0.1"
CONNECTIONS = 8
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
MODEL_NAMES = ("fraud", "churn", "recommendation")
# As tests/conftest.py: large enough for the fraud gates to pass, small enough to train in seconds.
SIZES = {"transactions": 40_000, "customers": 10_000, "items": 150, "learners": 600}

TARGETS = {
    "throughput_per_s": 1000.0,
    "open_loop_p99_ms": 10.0,
    "single_p50_ms": 3.0,
    "mlflow_ratio": 10.0,
    "cpu_over_treeshap": 2.0,
}

Json = dict[str, Any]


def _bin(name: str) -> str:
    """An executable of the project's virtual environment."""
    for folder in (Path(sys.executable).parent, REPO / ".venv" / "bin"):
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"cannot find {name!r} (run with the project's .venv/bin/python)")
    return found


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes and /proc ----------------------------------------------------------------------


class Processes:
    """Every child started by the bench, each in its own session, killed as a group at the end."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, cmd: Sequence[str], *, env: dict[str, str], log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        out = log.open("ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                list(cmd),
                env=env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if log is not None and not isinstance(out, int):
                out.close()
        self._procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], *, timeout: float = 15.0) -> None:
        """SIGTERM to the process group, then SIGKILL if it does not go."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Workers of a multi-process server may outlive their parent for a moment.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for proc in reversed(self._procs):
            self.stop(proc)
        self._procs.clear()


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime + stime (and reaped children's) of a process tree, in seconds."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # Fields 14-17 of stat (utime, stime, cutime, cstime); index 0 here is field 3.
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLK_TCK


def _cpu_line() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def system_busy_seconds() -> float:
    """CPU seconds the machine's processes ran (all cores; not idle, iowait or steal)."""
    user, nice, system, _idle, _iowait, irq, softirq = _cpu_line()[:7]
    return (user + nice + system + irq + softirq) / CLK_TCK


def steal_seconds() -> float:
    """CPU seconds the hypervisor gave to someone else while this VM wanted to run."""
    return _cpu_line()[7] / CLK_TCK


def children_cpu_seconds() -> float:
    """CPU of this process's reaped children (the load generators run to completion)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def background_load(seconds: float = 1.0) -> float:
    """Cores kept busy by other processes while the bench is idle (a shared machine)."""
    before = system_busy_seconds()
    time.sleep(seconds)
    return (system_busy_seconds() - before) / seconds


def wait_for_quiet(max_wait: float, *, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait`` s) until other processes leave the cores nearly idle; returns
    the last background load measured (cores)."""
    deadline = time.monotonic() + max_wait
    load = background_load(1.0)
    while load > threshold and time.monotonic() < deadline:
        load = background_load(2.0)
    return load


def tree_memory_mib(root: int) -> Json:
    """RSS and PSS of each process in a tree (PSS splits shared pages fairly)."""
    per: list[Json] = []
    for pid in process_tree(root):
        try:
            rss_kib = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (OSError, IndexError, ValueError):
            continue
        match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
        pss_kib = int(match.group(1)) if match else rss_kib
        per.append({"pid": pid, "rss_mib": rss_kib / 1024, "pss_mib": pss_kib / 1024})
    return {
        "rss_mib": sum(p["rss_mib"] for p in per),
        "pss_mib": sum(p["pss_mib"] for p in per),
        "processes": per,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 180.0
) -> None:
    """Poll until ``url`` answers 200; fail early (with the log's tail) if the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s:\n{_tail(log)}")


def wait_idle(
    root: int, proc: subprocess.Popen[bytes], log: Path, *, timeout: float = 180.0
) -> None:
    """Wait until a server's process tree stops burning CPU: every worker has imported its
    libraries and loaded its models (uvicorn's spawned workers log nothing we could wait for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{_tail(log)}")
        before = tree_cpu_seconds(root)
        time.sleep(1.0)
        if tree_cpu_seconds(root) - before < 0.05:
            return
    raise RuntimeError(f"server still busy starting after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path, lines: int = 25) -> str:
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# --- set-up: fixtures, models, secrets, key, request bodies ------------------------------------


@dataclass(frozen=True)
class Home:
    path: Path
    tracking_uri: str
    env: dict[str, str]
    glassbox_bodies: Path
    mlflow_bodies: Path
    database: Path


def _clean_environ() -> dict[str, str]:
    """This process's environment without any glassbox or MLflow store settings of the caller's:
    the bench's servers must use the bench's own home, secrets and stores."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GLASSBOX_") and k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    }


def _quiet_env() -> dict[str, str]:
    return {
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MPLBACKEND": "Agg",
        "PYTHONUNBUFFERED": "1",
    }


def build_home(path: Path, *, n_bodies: int, seed: int = 7) -> tuple[Home, Json]:
    """Fixtures, three models trained and registered, demo secrets and request bodies."""
    import logging

    os.environ.update(_quiet_env())
    from api.cli import _demo_environment
    from data_fixtures import (
        generate_catalogue,
        generate_customers,
        generate_interactions,
        generate_learners,
        generate_transactions,
    )
    from models.registry import local_store, log_training
    from models.spec import ModelKind
    from models.training import TrainingFiles, train_from_files

    started = time.perf_counter()
    fixtures = path / "fixtures"
    fixtures.mkdir(parents=True)
    transactions = generate_transactions(SIZES["transactions"], seed=seed)
    transactions.to_csv(fixtures / "transactions.csv", index=False)
    generate_customers(SIZES["customers"], seed=seed).to_csv(
        fixtures / "customers.csv", index=False
    )
    catalogue = generate_catalogue(SIZES["items"], seed=seed)
    learners = generate_learners(SIZES["learners"], seed=seed)
    catalogue.to_csv(fixtures / "items.csv", index=False)
    learners.to_csv(fixtures / "learners.csv", index=False)
    generate_interactions(learners, catalogue, seed=seed).to_csv(
        fixtures / "interactions.csv", index=False
    )
    inputs: dict[ModelKind, TrainingFiles] = {
        "fraud": TrainingFiles(data=fixtures / "transactions.csv"),
        "churn": TrainingFiles(data=fixtures / "customers.csv"),
        "recommendation": TrainingFiles(
            data=fixtures / "interactions.csv",
            items=fixtures / "items.csv",
            learners=fixtures / "learners.csv",
        ),
    }
    uri = local_store(path)
    models: Json = {}
    for kind, files in inputs.items():
        result = train_from_files(kind, files, seed=seed)
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            registration = log_training(result, tracking_uri=uri, data_source=str(files.data))
        models[kind] = {
            "version": registration.version,
            "champion": registration.champion,
            "gates": registration.gates,
        }
        if kind == "fraud" and not registration.champion:
            raise RuntimeError(f"the fraud model failed its gates: {registration.gates}")
        _say(f"  trained {kind}: v{registration.version} champion={registration.champion}")

    env = _clean_environ()
    env.update(_quiet_env())
    env.update(_demo_environment(path, uri, host=HOST, port=8000))
    env["GLASSBOX_DEMO_MODE"] = "true"
    env["GLASSBOX_DATABASE_URL"] = f"sqlite:///{path / 'glassbox.db'}"
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = uri
    env["PATH"] = f"{Path(_bin('glassbox')).parent}{os.pathsep}{env.get('PATH', '')}"

    glassbox_bodies, mlflow_bodies = write_bodies(path, transactions, n_bodies, seed=seed)
    home = Home(
        path=path,
        tracking_uri=uri,
        env=env,
        glassbox_bodies=glassbox_bodies,
        mlflow_bodies=mlflow_bodies,
        database=path / "glassbox.db",
    )
    return home, {"seconds": time.perf_counter() - started, "sizes": SIZES, "models": models}


def write_bodies(path: Path, transactions: Any, n: int, *, seed: int) -> tuple[Path, Path]:
    """Request bodies from fixture rows: glassbox's decision request and MLflow's
    ``dataframe_split``, for the same transactions. The amount is jittered a little so that
    no two bodies are the same; the subject is the transaction's customer (customers repeat,
    as they do in real traffic: their data keys are created once, then reused)."""
    from models.spec import default_spec_path, load_spec

    spec = load_spec(default_spec_path("fraud"))
    names = spec.feature_names
    types = {f.name: f.type for f in spec.features}
    rng = random.Random(seed)
    rows = transactions.sample(n=n, replace=n > len(transactions), random_state=seed)
    glassbox_lines, mlflow_lines = [], []
    for record in rows.to_dict("records"):
        features: dict[str, Any] = {}
        for name in names:
            value = record[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                features[name] = None
            elif types[name] == "boolean":
                features[name] = bool(value)
            elif types[name] == "integer":
                features[name] = int(value)
            elif types[name] == "category":
                features[name] = str(value)
            else:
                features[name] = float(value)
        features["amount"] = round(features["amount"] * rng.uniform(0.95, 1.05), 2)
        glassbox_lines.append(
            json.dumps(
                {
                    "subject_ref": f"customer-{record['customer_id']}",
                    "legal_basis": "contract",
                    "locale": "es" if rng.random() < 0.2 else "en",
                    "features": {k: v for k, v in features.items() if v is not None},
                },
                separators=(",", ":"),
            )
        )
        # MLflow's signature (inferred from the example frame) has whole numbers as doubles.
        data = [
            float(v) if types[k] == "integer" and v is not None else v for k, v in features.items()
        ]
        mlflow_lines.append(
            json.dumps(
                {"dataframe_split": {"columns": list(names), "data": [data]}},
                separators=(",", ":"),
            )
        )
    folder = path / "bench"
    folder.mkdir(exist_ok=True)
    glassbox_path, mlflow_path = folder / "glassbox.jsonl", folder / "mlflow.jsonl"
    glassbox_path.write_text("\n".join(glassbox_lines) + "\n")
    mlflow_path.write_text("\n".join(mlflow_lines) + "\n")
    return glassbox_path, mlflow_path


def create_api_key(home: Home) -> str:
    cmd = [
        _bin("glassbox"),
        "keys",
        "create",
        "--role",
        "application",
        "--name",
        "bench",
        "--application",
        "bench",  # joined on a second run on the same home
    ]
    out = subprocess.run(
        [*cmd, "--home", str(home.path)],
        env=home.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"gbx_application_[A-Za-z0-9_\-]+", out.stdout)
    if out.returncode != 0 or match is None:
        raise RuntimeError(f"glassbox keys create failed:\n{out.stdout}\n{out.stderr}")
    return match.group(0)


# --- load generators ----------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Target:
    """Where a load generator sends its requests."""

    port: int
    path: str
    bodies: Path
    api_key: str | None


def run_wrk(target: Target, *, connections: int, seconds: float, script: Path) -> Json:
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
        "latency_ms": {
            q: raw[f"{key}_us"] / 1000
            for q, key in (
                ("p50", "p50"),
                ("p90", "p90"),
                ("p99", "p99"),
                ("p99.9", "p999"),
                ("mean", "mean"),
                ("max", "max"),
            )
        },
        # wrk's histogram after its stats_correct(): synthetic samples added for slow responses.
        "wrk_corrected_latency_ms": {
            q: raw[f"wrk_{key}_us"] / 1000
            for q, key in (
                ("p50", "p50"),
                ("p90", "p90"),
                ("p99", "p99"),
                ("p99.9", "p999"),
                ("mean", "mean"),
                ("max", "max"),
            )
        },
    }


def run_python_loadgen(
    target: Target,
    *,
    seconds: float,
    connections: int | None = None,
    rate: float | None = None,
) -> Json:
    """The Python generator in a process of its own: open loop at ``rate``, else closed loop."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_loadgen",
        "--port",
        str(target.port),
        "--path",
        target.path,
        "--bodies",
        str(target.bodies),
        "--seconds",
        str(seconds),
    ]
    if target.api_key:
        cmd += ["--api-key", target.api_key]
    if rate is not None:
        cmd += ["--rate", str(rate)]
    else:
        cmd += ["--connections", str(connections or 1)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_child_env())
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{out.stdout}\n{out.stderr}")
    result: Json = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = _clean_environ()
    env.update(_quiet_env())
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


# The generator itself: minimal HTTP/1.1 over asyncio streams (keep-alive, Content-Length).


def _request_bytes(port: int, path: str, body: str, api_key: str | None) -> bytes:
    payload = body.encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ]
    if api_key:
        head.append(f"Authorization: Bearer {api_key}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(port: int) -> Conn:
    reader, writer = await asyncio.open_connection(HOST, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def _exchange(conn: Conn, payload: bytes) -> tuple[int, bool]:
    """Send one request and read its response; returns (status, keep-alive)."""
    reader, writer = conn
    writer.write(payload)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length, keep = -1, True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif key == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by this generator")
    if length < 0:
        raise ValueError("response without Content-Length")
    await reader.readexactly(length)
    return status, keep


def _percentiles(samples: list[float]) -> Json:
    """Nearest-rank percentiles of latencies in seconds, reported in milliseconds."""
    if not samples:
        return {}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    return {
        "p50": rank(50) * 1e3,
        "p90": rank(90) * 1e3,
        "p99": rank(99) * 1e3,
        "p99.9": rank(99.9) * 1e3,
        "mean": sum(ordered) / len(ordered) * 1e3,
        "max": ordered[-1] * 1e3,
    }


async def _open_loop(
    port: int, payloads: list[bytes], rate: float, seconds: float, max_conns: int
) -> Json:
    """Requests scheduled at a constant rate; latency from the scheduled time (no coordinated
    omission: if the server stalls, the requests due meanwhile are late and say so)."""
    idle: list[Conn] = [await _connect(port) for _ in range(CONNECTIONS)]
    opened = len(idle)
    gate = asyncio.Semaphore(max_conns)
    latencies: list[float] = []
    lags: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0

    async def one(payload: bytes, scheduled: float) -> None:
        nonlocal errors, opened
        async with gate:
            conn: Conn | None = None
            while idle and conn is None:
                conn = idle.pop()
                if conn[0].at_eof():  # the server closed it (keep-alive timeout)
                    conn[1].close()
                    conn = None
            reused = conn is not None
            try:
                if conn is None:
                    conn = await _connect(port)
                    opened += 1
                try:
                    status, keep = await _exchange(conn, payload)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    partial = getattr(exc, "partial", b"")
                    if not reused or partial:
                        raise
                    # A pooled connection the server closed just now: the request was never
                    # read, so send it once more on a fresh connection (as HTTP clients do).
                    conn[1].close()
                    conn = await _connect(port)
                    opened += 1
                    status, keep = await _exchange(conn, payload)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                errors += 1
                if conn is not None:
                    conn[1].close()
                return
            latencies.append(time.perf_counter() - scheduled)
            statuses[status] += 1
            if keep:
                idle.append(conn)
            else:
                conn[1].close()

    total = max(1, int(rate * seconds))
    pending: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.05
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.perf_counter() - scheduled)
        task = asyncio.create_task(one(payloads[i % len(payloads)], scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    elapsed = time.perf_counter() - start
    for _, writer in idle:
        writer.close()
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "generator": "python open loop (asyncio, fixed rate, latency from scheduled send time)",
        "rate_per_s": rate,
        "duration_s": elapsed,
        "requests": total,
        "ok": ok,
        "non2xx": sum(statuses.values()) - ok,
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "socket_errors": errors,
        "throughput_per_s": ok / elapsed,
        "connections_opened": opened,
        "latency_ms": _percentiles(latencies),
        "send_lag_ms": {k: v for k, v in _percentiles(lags).items() if k in ("p50", "p99", "max")},
    }


async def _closed_loop(port: int, payloads: list[bytes], connections: int, seconds: float) -> Json:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    end = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal errors
        conn = await _connect(port)
        i = k * 7919
        while time.perf_counter() < end:
            sent = time.perf_counter()
            try:
                status, keep = await _exchange(conn, payloads[i % len(payloads)])
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                conn[1].close()
                conn = await _connect(port)
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[status] += 1
            i += 1
            if not keep:
                conn[1].close()
                conn = await _connect(port)
        conn[1].close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    elapsed = time.perf_counter() - started
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "generator": "python closed loop (asyncio) -- FALLBACK, wrk not installed",
        "connections": connections,
        "duration_s": elapsed,
        "requests": sum(statuses.values()) + errors,
        "ok": ok,
        "non2xx": sum(statuses.values()) - ok,
        "socket_errors": errors,
        "throughput_per_s": ok / elapsed,
        "latency_ms": _percentiles(latencies),
    }


def loadgen_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="decisions.py _loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--api-key")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--max-connections", type=int, default=64)
    ns = parser.parse_args(argv)
    bodies = [line for line in ns.bodies.read_text().splitlines() if line]
    payloads = [_request_bytes(ns.port, ns.path, body, ns.api_key) for body in bodies]
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if ns.rate is not None:
        result = asyncio.run(_open_loop(ns.port, payloads, ns.rate, ns.seconds, ns.max_connections))
    else:
        result = asyncio.run(_closed_loop(ns.port, payloads, ns.connections, ns.seconds))
    print(json.dumps(result))


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    warmup: float
    throughput: float
    open_loop: float
    single: float


def closed_loop(
    target: Target, *, connections: int, seconds: float, script: Path, use_wrk: bool
) -> Json:
    if use_wrk:
        return run_wrk(target, connections=connections, seconds=seconds, script=script)
    return run_python_loadgen(target, seconds=seconds, connections=connections)


def measured(server_pid: int, run: Callable[[], Json]) -> Json:
    """Run a scenario and add the server's CPU time per successful request, the load
    generator's CPU, and what every other process on the machine used meanwhile."""
    cpu_before, gen_before = tree_cpu_seconds(server_pid), children_cpu_seconds()
    busy_before, steal_before = system_busy_seconds(), steal_seconds()
    wall = time.perf_counter()
    result = run()
    cpu = tree_cpu_seconds(server_pid) - cpu_before
    generator = children_cpu_seconds() - gen_before
    elapsed = time.perf_counter() - wall
    machine = system_busy_seconds() - busy_before
    result["steal_cores"] = (steal_seconds() - steal_before) / elapsed
    result["server_cpu_s"] = cpu
    result["server_cpu_ms_per_request"] = cpu / result["ok"] * 1e3 if result["ok"] else None
    result["server_cores_busy"] = cpu / result["duration_s"]
    result["load_generator_cores_busy"] = generator / elapsed
    result["machine_cores_busy"] = machine / elapsed
    # Other processes on a shared machine compete for the same cores: say so in the results.
    result["other_processes_cores_busy"] = max(0.0, (machine - cpu - generator) / elapsed)
    return result


def _describe(name: str, r: Json) -> None:
    lat = r["latency_ms"]
    cpu = r.get("server_cpu_ms_per_request")
    _say(
        f"  {name}: {r['throughput_per_s']:.0f}/s, p50 {lat['p50']:.2f} ms, "
        f"p99 {lat['p99']:.2f} ms, non-2xx {r['non2xx']}, socket errors {r['socket_errors']}"
        + (f", server CPU {cpu:.2f} ms/req" if cpu else "")
        + (
            f" [other processes kept {r['other_processes_cores_busy']:.2f} cores busy]"
            if r.get("other_processes_cores_busy", 0) > 0.15
            else ""
        )
    )


def run_glassbox(
    home: Home,
    procs: Processes,
    *,
    workers: int,
    api_key: str,
    durations: Durations,
    script: Path,
    use_wrk: bool,
    quiet_wait: float,
) -> Json:
    port = free_port()
    log = home.path / f"glassbox-serve-w{workers}.log"
    env = dict(home.env)
    env["GLASSBOX_PUBLIC_URL"] = f"http://{HOST}:{port}"
    started = time.perf_counter()
    cmd = [_bin("glassbox"), "serve", "--home", str(home.path), "--host", HOST]
    cmd += ["--port", str(port), "--workers", str(workers)]
    server = procs.start(cmd, env=env, log=log)
    try:
        wait_http(f"http://{HOST}:{port}/v1/health", server, log)
        wait_idle(server.pid, server, log)
        startup = time.perf_counter() - started
        pids = process_tree(server.pid)
        _say(
            f"glassbox serve --workers {workers} ready in {startup:.1f} s "
            f"(pid {server.pid}, {len(pids)} processes)"
        )
        quiet = wait_for_quiet(quiet_wait)
        if quiet > 0.25:
            _say(f"  WARNING: other processes still keep {quiet:.2f} cores busy")
        target = Target(port, "/v1/decisions/fraud", home.glassbox_bodies, api_key)
        warm = closed_loop(
            target,
            connections=CONNECTIONS,
            seconds=durations.warmup,
            script=script,
            use_wrk=use_wrk,
        )
        if warm["ok"] == 0:
            raise RuntimeError(f"warm-up got no 2xx: {warm}\n{_tail(log)}")
        memory = tree_memory_mib(server.pid)
        _say(f"  RSS after warm-up: {memory['rss_mib']:.0f} MiB (PSS {memory['pss_mib']:.0f})")
        a = measured(
            server.pid,
            lambda: closed_loop(
                target,
                connections=CONNECTIONS,
                seconds=durations.throughput,
                script=script,
                use_wrk=use_wrk,
            ),
        )
        _describe(f"(a) closed loop, {CONNECTIONS} connections", a)
        rate = max(1.0, round(a["throughput_per_s"] / 2))
        b = measured(
            server.pid,
            lambda: run_python_loadgen(target, seconds=durations.open_loop, rate=rate),
        )
        _describe(f"(b) open loop at {rate:.0f}/s", b)
        c = measured(
            server.pid,
            lambda: closed_loop(
                target, connections=1, seconds=durations.single, script=script, use_wrk=use_wrk
            ),
        )
        _describe("(c) closed loop, 1 connection", c)
    finally:
        procs.stop(server)
    return {
        "workers": workers,
        "processes": len(pids),
        "startup_s": startup,
        "background_cores_busy_before": quiet,
        "memory_after_warmup": memory,
        "warmup_requests": warm["requests"],
        "throughput": a,
        "open_loop": b,
        "single_connection": c,
    }


def run_mlflow(
    home: Home,
    procs: Processes,
    *,
    durations: Durations,
    script: Path,
    use_wrk: bool,
    quiet_wait: float,
    workers: int = 1,
) -> Json:
    port = free_port()
    log = home.path / f"mlflow-serve-w{workers}.log"
    env = dict(home.env)
    env["MLFLOW_TRACKING_URI"] = home.tracking_uri
    started = time.perf_counter()
    cmd = [_bin("mlflow"), "models", "serve", "-m", "models:/fraud@champion"]
    cmd += ["--env-manager", "local", "-p", str(port), "--host", HOST, "--workers", str(workers)]
    server = procs.start(cmd, env=env, log=log)
    try:
        wait_http(f"http://{HOST}:{port}/ping", server, log)
        wait_idle(server.pid, server, log)
        startup = time.perf_counter() - started
        _say(f"mlflow models serve --workers {workers} ready in {startup:.1f} s (pid {server.pid})")
        quiet = wait_for_quiet(quiet_wait)
        target = Target(port, "/invocations", home.mlflow_bodies, None)
        warm = closed_loop(
            target,
            connections=CONNECTIONS,
            seconds=durations.warmup,
            script=script,
            use_wrk=use_wrk,
        )
        if warm["ok"] == 0:
            raise RuntimeError(f"mlflow warm-up got no 2xx: {warm}\n{_tail(log)}")
        memory = tree_memory_mib(server.pid)
        a = measured(
            server.pid,
            lambda: closed_loop(
                target,
                connections=CONNECTIONS,
                seconds=durations.throughput,
                script=script,
                use_wrk=use_wrk,
            ),
        )
        _describe(f"mlflow closed loop, {CONNECTIONS} connections", a)
        c = measured(
            server.pid,
            lambda: closed_loop(
                target,
                connections=1,
                seconds=min(durations.single, 5),
                script=script,
                use_wrk=use_wrk,
            ),
        )
        _describe("mlflow closed loop, 1 connection", c)
    finally:
        procs.stop(server)
    return {
        "workers": workers,
        "startup_s": startup,
        "background_cores_busy_before": quiet,
        "memory_after_warmup": memory,
        "throughput": a,
        "single_connection": c,
    }


# --- child: RSS per model -------------------------------------------------------------------------


def _self_rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_KIB / 1024


def rss_main(argv: Sequence[str]) -> None:
    """RSS of a fresh process before and after loading each model (as the server does)."""
    import gc

    parser = argparse.ArgumentParser(prog="decisions.py _rss")
    parser.add_argument("--tracking-uri", required=True)
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    steps: Json = {"interpreter_mib": _self_rss_mib()}
    import api.decisions.service  # noqa: F401  (what the server imports)
    from api.decisions.runtime import ModelRegistry

    steps["after_service_import_mib"] = _self_rss_mib()
    # The libraries every model load needs (imported lazily by the first load otherwise), and
    # the registry store opened once, so that the first model's delta is the model's own.
    import mlflow.sklearn  # noqa: F401
    import shap  # noqa: F401
    import skops.io  # noqa: F401
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=ns.tracking_uri).search_registered_models()
    gc.collect()
    steps["after_libraries_mib"] = _self_rss_mib()
    registry = ModelRegistry(ns.tracking_uri)
    per_model: Json = {}
    for name in MODEL_NAMES:
        before = _self_rss_mib()
        try:
            registry.reload(name)
        except Exception as exc:  # a model that is not registered is reported, not fatal
            per_model[name] = {"error": str(exc)}
            continue
        gc.collect()
        per_model[name] = {"delta_mib": _self_rss_mib() - before}
    steps["after_all_models_mib"] = _self_rss_mib()
    print(json.dumps({"steps": steps, "per_model": per_model}))


# --- child: in-process microbenchmarks --------------------------------------------------------


def _thread_cpu_s(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def micro_main(argv: Sequence[str]) -> None:
    """TreeSHAP per decision, the hot path's pieces one by one, and ``create_decision`` whole
    (with the real group-commit writer on a database of its own), all in one process."""
    parser = argparse.ArgumentParser(prog="decisions.py _micro")
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--decisions", type=int, default=3000)
    ns = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))

    import gc
    import uuid
    from datetime import timedelta

    import numpy as np

    from api.audit.chain import canonical_json
    from api.audit.schemas import EntryKind
    from api.context import AppContext
    from api.core.crypto import (
        new_data_key,
        pseudonymise,
        unwrap_data_key,
        wrap_data_key,
    )
    from api.core.security import Principal, Role
    from api.core.settings import get_settings
    from api.core.tokens import issue_subject_token
    from api.decisions.integrity import row_mac, row_mac_key
    from api.decisions.runtime import ModelRegistry
    from api.decisions.schemas import DecisionCreate
    from api.decisions.service import create_decision
    from api.decisions.validation import validate_features
    from api.main import create_app
    from api.vault.sealing import seal_entry
    from explain import TreeExplainer, main_factors

    settings = get_settings()
    registry = ModelRegistry(settings.mlflow_tracking_uri)
    served = registry.reload("fraud")
    spec = served.spec
    bodies = [line for line in ns.bodies.read_text().splitlines() if line][: ns.rows]
    requests = [DecisionCreate.model_validate_json(b) for b in bodies]
    features = [validate_features(spec, r.features) for r in requests]
    encoded = [served.encoder.encode_row(f) for f in features]
    warm = min(500, len(encoded) // 5)

    # 1. TreeSHAP alone, on many different rows, after warm-up.
    explainer = TreeExplainer(served.model, spec.feature_names)
    for row in encoded[:warm]:
        explainer.explain(row)
    wall, cpu = time.perf_counter(), time.process_time()
    for row in encoded:
        explainer.explain(row)
    treeshap = {
        "rows": len(encoded),
        "wall_us_per_row": (time.perf_counter() - wall) / len(encoded) * 1e6,
        "cpu_us_per_row": (time.process_time() - cpu) / len(encoded) * 1e6,
        "trees": int(getattr(served.model.steps[-1][1], "n_iter_", 0)),
    }
    batch = np.vstack(encoded)
    wall = time.perf_counter()
    for start in range(0, len(encoded), CONNECTIONS):
        explainer.explain_batch(batch[start : start + CONNECTIONS])
    treeshap["batch8_wall_us_per_row"] = (time.perf_counter() - wall) / len(encoded) * 1e6
    # For reference: shap's own TreeSHAP routine (its C extension, called directly), which the
    # explainer's per-leaf tables replace on the served models.
    from explain._tree import _Kernel

    reference = _Kernel.of(explainer._shap)
    if reference is not None:
        rows = [row.reshape(1, -1) for row in encoded]
        for one in rows[:warm]:
            reference.values(one)
        cpu = time.process_time()
        for one in rows:
            reference.values(one)
        treeshap["shap_routine_cpu_us_per_row"] = (time.process_time() - cpu) / len(rows) * 1e6

    # 2. The pieces of the hot path, one decision at a time (mirrors api/decisions/service.py
    #    at the level of the functions it calls; the log commit is measured in 3).
    kek = settings.key_encryption_key.get_secret_value()
    pkey = settings.pseudonym_key.get_secret_value()
    tkey = settings.token_signing_key.get_secret_value()
    namespace = settings.pseudonym_namespace
    wrapped: dict[str, bytes] = {}
    for r in requests:
        p = pseudonymise(pkey, r.subject_ref, namespace=namespace)
        wrapped.setdefault(p, wrap_data_key(kek, new_data_key(), pseudonym=p))
    pieces: Counter[str] = Counter()

    def one(body: str) -> None:
        marks = [time.perf_counter_ns()]
        request = DecisionCreate.model_validate_json(body)
        marks.append(time.perf_counter_ns())
        clean = validate_features(spec, request.features)
        marks.append(time.perf_counter_ns())
        row = served.encoder.encode_row(clean)
        marks.append(time.perf_counter_ns())
        explanation = served.explainer.explain(row)
        marks.append(time.perf_counter_ns())
        factors = [
            f.to_dict()
            for f in main_factors(explanation, spec, locale=request.locale, raw_values=clean)
        ]
        marks.append(time.perf_counter_ns())
        band = spec.policy.band_for(explanation.score)
        decision_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        pseudonym = pseudonymise(pkey, request.subject_ref, namespace=namespace)
        contest_url = f"{settings.public_url}/subject/#decision={decision_id}"
        notice = spec.notice.get(request.locale).format(
            outcome=band.label.get(request.locale),
            consequence=band.consequence.get(request.locale),
            contest_url=contest_url,
        )
        token, _ = issue_subject_token(
            tkey, pseudonym=pseudonym, decision_id=decision_id, ttl=timedelta(days=90), now=now
        )
        marks.append(time.perf_counter_ns())
        frozen = {"explanation": explanation.to_dict(), "factors": factors, "items": None}
        sealed = {
            "features": json.dumps(clean, separators=(",", ":")).encode(),
            "explanation": json.dumps(frozen, separators=(",", ":")).encode(),
            "notice": json.dumps({"text": notice, "contest_url": contest_url}).encode(),
        }
        dek = unwrap_data_key(kek, wrapped[pseudonym], pseudonym=pseudonym)
        # A logged decision's fields are sealed once, in its entry (fraud logs every decision).
        entry = seal_entry(
            dek,
            kind=EntryKind.DECISION,
            subject_pseudonym=pseudonym,
            body={"decision_id": decision_id, "outcome": band.outcome},
            personal=sealed,
        )
        canonical_json(entry.body)
        # The row's MAC of what was decided (the service MACs every row it writes).
        row_mac(
            row_mac_key(kek),
            {
                "decision_id": decision_id,
                "created_at": now,
                "model_name": "fraud",
                "outcome": band.outcome,
                "score": explanation.score,
                "significant": band.outcome == "block",
                "subject_pseudonym": pseudonym,
            },
            logged=True,
        )
        marks.append(time.perf_counter_ns())
        response = {
            "id": decision_id,
            "created_at": now.isoformat(),
            "score": explanation.score,
            "margin": explanation.margin,
            "contributions": dict(
                zip(explanation.feature_names, explanation.values.tolist(), strict=True)
            ),
            "factors": factors,
            "notice": {"text": notice, "contest_url": contest_url, "subject_token": token},
        }
        json.dumps(response, ensure_ascii=False, separators=(",", ":")).encode()
        marks.append(time.perf_counter_ns())
        for label, (a, b) in zip(PIECES, itertools.pairwise(marks), strict=True):
            pieces[label] += b - a

    for body in bodies[:warm]:
        one(body)
    pieces.clear()
    for body in bodies:
        one(body)
    piece_us = {label: pieces[label] / len(bodies) / 1000 for label in PIECES}

    # 3. create_decision whole, through the service's own wiring: the app's lifespan builds the
    #    context (engine, migrations, models, group-commit writer) exactly as the server does,
    #    here on a database of its own, with no HTTP in front.
    app = create_app(settings)
    principal = Principal(
        key_id="bench",
        name="bench",
        role=Role.APPLICATION,
        application="bench",
        pseudonym_scope="app:bench",
    )
    latencies: list[float] = []
    pauses: list[tuple[int, float]] = []  # (generation, seconds) of each garbage collection
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started.append(time.perf_counter())
        elif gc_started:
            pauses.append((info["generation"], time.perf_counter() - gc_started.pop()))

    async def drive(context: AppContext, n: int, concurrency: int, offset: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def decide(body: str) -> None:
            async with gate:
                started = time.perf_counter()
                await create_decision(
                    context,
                    model_name="fraud",
                    request=DecisionCreate.model_validate_json(body),
                    principal=principal,
                )
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(decide(bodies[(offset + i) % len(bodies)]) for i in range(n)))

    async def sweep_all() -> list[Json]:
        runs: list[Json] = []
        async with app.router.lifespan_context(app):
            context: AppContext = app.state.context
            writer = context.writer
            writer_tid = next(
                t.native_id
                for t in threading.enumerate()
                if t.name == "glassbox-log-writer" and t.native_id is not None
            )
            await drive(context, warm, CONNECTIONS, 0)
            offset = warm
            gc.callbacks.append(on_gc)
            # The last run repeats 8 concurrent after gc.freeze(): what the start-up objects
            # cost the collector (the server could freeze them once its models are loaded).
            for concurrency, freeze in (
                (1, False),
                (CONNECTIONS, False),
                (32, False),
                (CONNECTIONS, True),
            ):
                if freeze:  # last, so it runs on the largest database of the four
                    gc.collect()
                    gc.freeze()
                n = ns.decisions // 2 if concurrency == 1 else ns.decisions
                latencies.clear()
                pauses.clear()
                before = writer.stats
                wall, cpu = time.perf_counter(), time.process_time()
                main_cpu, writer_cpu = time.thread_time(), _thread_cpu_s(writer_tid)
                await drive(context, n, concurrency, offset)
                offset += n
                elapsed = time.perf_counter() - wall
                after = writer.stats
                batches = after.batches - before.batches
                runs.append(
                    {
                        "decisions": n,
                        "concurrency": concurrency,
                        "per_s": n / elapsed,
                        "cores_busy": (time.process_time() - cpu) / elapsed,
                        "cpu_ms_per_decision": (time.process_time() - cpu) / n * 1e3,
                        "event_loop_thread_cpu_ms_per_decision": (time.thread_time() - main_cpu)
                        / n
                        * 1e3,
                        "writer_thread_cpu_ms_per_decision": (
                            _thread_cpu_s(writer_tid) - writer_cpu
                        )
                        / n
                        * 1e3,
                        "writer_batches": batches,
                        "mean_batch": (after.entries - before.entries) / batches
                        if batches
                        else None,
                        "gc_frozen": freeze,
                        "latency_ms": _percentiles(latencies),
                        "gc_gen2_collections": sum(1 for g, _ in pauses if g == 2),
                        "gc_gen2_max_ms": max((d for g, d in pauses if g == 2), default=0.0) * 1e3,
                        "gc_total_ms": sum(d for _, d in pauses) * 1e3,
                        "gc_tracked_objects": len(gc.get_objects()),
                    }
                )
            gc.callbacks.remove(on_gc)
        return runs

    sweep = asyncio.run(sweep_all())
    service = next(run for run in sweep if run["concurrency"] == CONNECTIONS)
    # cpu(b) = per_decision + per_batch / b, fitted on the smallest and largest mean batch.
    low, high = sweep[0], sweep[2]
    fit: Json = {}
    if low["mean_batch"] and high["mean_batch"] and high["mean_batch"] > low["mean_batch"]:
        per_batch = (low["cpu_ms_per_decision"] - high["cpu_ms_per_decision"]) / (
            1 / low["mean_batch"] - 1 / high["mean_batch"]
        )
        fit = {
            "per_batch_ms": per_batch,
            "per_decision_ms": low["cpu_ms_per_decision"] - per_batch / low["mean_batch"],
        }
    print(
        json.dumps(
            {
                "treeshap": treeshap,
                "pieces_us": piece_us,
                "create_decision": service,
                "create_decision_sweep": sweep,
                "cpu_fit": fit,
            }
        )
    )


PIECES = (
    "parse request (pydantic)",
    "validate features",
    "encode row",
    "TreeSHAP explain",
    "main factors",
    "outcome, pseudonym, notice, token",
    "seal (unwrap DEK, 3x AES-GCM, entry)",
    "response body + JSON",
)


def run_child(mode: str, args: Sequence[str], env: dict[str, str]) -> Json:
    busy, own, wall = system_busy_seconds(), children_cpu_seconds(), time.perf_counter()
    steal = steal_seconds()
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), mode, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result: Json = json.loads(out.stdout.strip().splitlines()[-1])
    elapsed = time.perf_counter() - wall
    others = system_busy_seconds() - busy - (children_cpu_seconds() - own)
    result["other_processes_cores_busy"] = max(0.0, others / elapsed)
    result["steal_cores"] = (steal_seconds() - steal) / elapsed
    return result


# --- the decision log: verify, tamper with a copy, verify again ---------------------------------


def verify_log(home: Home) -> Json:
    def verify(database_url: str) -> tuple[int, str]:
        env = dict(home.env)
        env["GLASSBOX_DATABASE_URL"] = database_url
        env["COLUMNS"] = "200"
        out = subprocess.run(
            [_bin("glassbox"), "verify-log", "--home", str(home.path)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        return out.returncode, (out.stdout + out.stderr).strip()

    db = home.database
    started = time.perf_counter()
    code, output = verify(f"sqlite:///{db}")
    seconds = time.perf_counter() - started
    with contextlib.closing(sqlite3.connect(db)) as conn:
        entries = conn.execute("SELECT count(*) FROM log_entry").fetchone()[0]
        decisions = conn.execute("SELECT count(*) FROM decision").fetchone()[0]
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))

    copy = home.path / "tampered.db"
    with (
        contextlib.closing(sqlite3.connect(db)) as src,
        contextlib.closing(sqlite3.connect(copy)) as dst,
    ):
        src.backup(dst)
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        triggers = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'log_entry'"
            )
        ]
        for name in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        seq = max(1, entries // 2)
        (body,) = conn.execute("SELECT body FROM log_entry WHERE seq = ?", (seq,)).fetchone()
        position = len(body) // 2
        flipped = body[:position] + chr(ord(body[position]) ^ 1) + body[position + 1 :]
        conn.execute("UPDATE log_entry SET body = ? WHERE seq = ?", (flipped, seq))
        conn.commit()
    tamper_code, tamper_output = verify(f"sqlite:///{copy}")
    named = re.search(r"BROKEN at entry (\d+)", tamper_output)
    return {
        "verify": {
            "exit_code": code,
            "ok": code == 0,
            "output": output,
            "seconds": seconds,
            "entries": entries,
            "decisions": decisions,
            "database_bytes": size,
            "bytes_per_decision": size / decisions if decisions else None,
        },
        "tamper": {
            "copy": str(copy),
            "dropped_triggers": triggers,
            "flipped_seq": seq,
            "flipped_offset": position,
            "flipped_char": f"{body[position]!r} -> {flipped[position]!r}",
            "exit_code": tamper_code,
            "output": tamper_output,
            "detected": tamper_code == 1 and named is not None,
            "named_seq": int(named.group(1)) if named else None,
        },
    }


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def report(results: Json) -> str:
    glassbox: dict[str, Json] = results["glassbox"]
    configs = list(glassbox)
    mlflow = results.get("mlflow") or {}
    micro = results.get("micro") or {}
    treeshap_us = (micro.get("treeshap") or {}).get("cpu_us_per_row")
    mlflow_rate = (mlflow.get("throughput") or {}).get("throughput_per_s")
    lines = [
        f"## glassbox decision benchmark ({results['meta']['mode']}, "
        f"{results['meta']['cpus']} CPUs, load generator: {results['meta']['load_generator']})",
        "",
        f"Other processes kept {results['meta']['background_cores_busy_before_start']:.2f} "
        "cores busy just before the run.",
        "",
        "| metric | " + " | ".join(configs) + " | target | verdict (workers=1) |",
        "|---|" + "---|" * len(configs) + "---|---|",
    ]

    def row(label: str, get: Callable[[Json], str], target: str, ok: bool | None) -> None:
        cells = " | ".join(get(glassbox[c]) for c in configs)
        lines.append(f"| {label} | {cells} | {target} | {_verdict(ok)} |")

    first = glassbox[configs[0]]
    ratio = first["throughput"]["throughput_per_s"] / mlflow_rate if mlflow_rate else None
    cpu_ms = first["throughput"]["server_cpu_ms_per_request"]
    cpu_ratio = cpu_ms * 1000 / treeshap_us if cpu_ms and treeshap_us else None
    row(
        f"(a) decisions/s, {CONNECTIONS} connections",
        lambda g: _fmt(g["throughput"]["throughput_per_s"], 0),
        f">= {TARGETS['throughput_per_s']:,.0f}",
        first["throughput"]["throughput_per_s"] >= TARGETS["throughput_per_s"],
    )
    row(
        "(a) p50 / p99 ms",
        lambda g: (
            f"{_fmt(g['throughput']['latency_ms']['p50'])} / "
            f"{_fmt(g['throughput']['latency_ms']['p99'])}"
        ),
        "",
        None,
    )
    row(
        "(b) open-loop rate /s (half of a)",
        lambda g: _fmt(g["open_loop"]["rate_per_s"], 0),
        "",
        None,
    )
    row(
        "(b) p50 / p90 / p99 / p99.9 ms",
        lambda g: " / ".join(
            _fmt(g["open_loop"]["latency_ms"].get(q)) for q in ("p50", "p90", "p99", "p99.9")
        ),
        f"p99 <= {TARGETS['open_loop_p99_ms']:.0f} ms",
        first["open_loop"]["latency_ms"].get("p99", math.inf) <= TARGETS["open_loop_p99_ms"],
    )
    row(
        "(b) generator's own send lag p50 / p99 ms (included above)",
        lambda g: (
            f"{_fmt(g['open_loop']['send_lag_ms'].get('p50'))} / "
            f"{_fmt(g['open_loop']['send_lag_ms'].get('p99'))}"
        ),
        "",
        None,
    )
    row(
        "(c) 1 connection p50 / p99 ms",
        lambda g: (
            f"{_fmt(g['single_connection']['latency_ms']['p50'])} / "
            f"{_fmt(g['single_connection']['latency_ms']['p99'])}"
        ),
        f"p50 <= {TARGETS['single_p50_ms']:.0f} ms",
        first["single_connection"]["latency_ms"]["p50"] <= TARGETS["single_p50_ms"],
    )
    row(
        "(c) p99 as wrk reports it (after its CO 'correction')",
        lambda g: _fmt((g["single_connection"].get("wrk_corrected_latency_ms") or {}).get("p99")),
        "",
        None,
    )
    row(
        "(c) decisions/s, 1 connection",
        lambda g: _fmt(g["single_connection"]["throughput_per_s"], 0),
        "",
        None,
    )

    def errors(g: Json) -> int:
        return sum(
            g[s]["non2xx"] + g[s]["socket_errors"]
            for s in ("throughput", "open_loop", "single_connection")
        )

    row(
        "non-2xx + socket errors (a+b+c)",
        lambda g: str(errors(g)),
        "0",
        errors(first) == 0,
    )
    row(
        "server CPU ms / decision (a)",
        lambda g: _fmt(g["throughput"]["server_cpu_ms_per_request"], 3),
        "",
        None,
    )
    row(
        "server cores busy (a)",
        lambda g: _fmt(g["throughput"]["server_cores_busy"], 2),
        "",
        None,
    )
    row(
        "other processes' cores busy during (a) (shared machine)",
        lambda g: _fmt(g["throughput"].get("other_processes_cores_busy"), 2),
        "~0",
        None,
    )
    row(
        "CPU steal by the hypervisor during (a), cores",
        lambda g: _fmt(g["throughput"].get("steal_cores"), 2),
        "~0",
        None,
    )
    row(
        "server CPU / TreeSHAP CPU",
        lambda g: _fmt(
            g["throughput"]["server_cpu_ms_per_request"] * 1000 / treeshap_us
            if treeshap_us
            else None,
            1,
            "x",
        ),
        f"<= {TARGETS['cpu_over_treeshap']:.0f}x",
        None if cpu_ratio is None else cpu_ratio <= TARGETS["cpu_over_treeshap"],
    )
    shap_routine_us = (micro.get("treeshap") or {}).get("shap_routine_cpu_us_per_row")
    row(
        "server CPU / shap's own TreeSHAP routine CPU (reference)",
        lambda g: _fmt(
            g["throughput"]["server_cpu_ms_per_request"] * 1000 / shap_routine_us
            if shap_routine_us
            else None,
            1,
            "x",
        ),
        "",
        None,
    )
    by_workers = results.get("mlflow_by_workers") or {}

    def mlflow_rate_for(g: Json) -> float | None:
        # Like for like: mlflow models serve with as many workers as this glassbox column.
        run = by_workers.get(f"workers={g.get('workers')}") or mlflow
        return (run.get("throughput") or {}).get("throughput_per_s")

    row(
        "glassbox / mlflow serve throughput (same number of workers)",
        lambda g: _fmt(
            g["throughput"]["throughput_per_s"] / rate if (rate := mlflow_rate_for(g)) else None,
            2,
            "x",
        ),
        f">= {TARGETS['mlflow_ratio']:.0f}x",
        None if ratio is None else ratio >= TARGETS["mlflow_ratio"],
    )
    row(
        "server RSS / PSS after warm-up MiB",
        lambda g: (
            f"{_fmt(g['memory_after_warmup']['rss_mib'], 0)} / "
            f"{_fmt(g['memory_after_warmup']['pss_mib'], 0)}"
        ),
        "",
        None,
    )
    row("server start-up s", lambda g: _fmt(g["startup_s"], 1), "", None)

    if mlflow:
        runs = by_workers or {f"workers={mlflow.get('workers', 1)}": mlflow}

        def mlflow_row(label: str, get: Callable[[Json], str]) -> None:
            lines.append(f"| {label} | " + " | ".join(get(r) for r in runs.values()) + " |")

        lines += [
            "",
            "| mlflow models serve (fraud@champion, bare predict) | " + " | ".join(runs) + " |",
            "|---|" + "---|" * len(runs),
        ]
        mlflow_row(
            f"predictions/s, {CONNECTIONS} connections",
            lambda r: _fmt(r["throughput"]["throughput_per_s"], 0),
        )
        mlflow_row(
            f"p50 / p99 ms ({CONNECTIONS} connections)",
            lambda r: (
                f"{_fmt(r['throughput']['latency_ms']['p50'])} / "
                f"{_fmt(r['throughput']['latency_ms']['p99'])}"
            ),
        )
        mlflow_row(
            "1 connection p50 / p99 ms",
            lambda r: (
                f"{_fmt(r['single_connection']['latency_ms']['p50'])} / "
                f"{_fmt(r['single_connection']['latency_ms']['p99'])}"
            ),
        )
        mlflow_row(
            "server CPU ms / prediction",
            lambda r: _fmt(r["throughput"]["server_cpu_ms_per_request"], 3),
        )
        mlflow_row(
            "non-2xx + socket errors",
            lambda r: str(r["throughput"]["non2xx"] + r["throughput"]["socket_errors"]),
        )
        mlflow_row("RSS after warm-up MiB", lambda r: _fmt(r["memory_after_warmup"]["rss_mib"], 0))

    if micro:
        t, svc = micro["treeshap"], micro["create_decision"]
        lines += [
            "",
            "| in-process (one core, no HTTP) | value |",
            "|---|---|",
            f"| TreeSHAP explain(), {t['trees']} trees: CPU / wall us per row | "
            f"{_fmt(t['cpu_us_per_row'], 0)} / {_fmt(t['wall_us_per_row'], 0)} |",
            f"| TreeSHAP explain_batch of 8: wall us per row | "
            f"{_fmt(t['batch8_wall_us_per_row'], 0)} |",
            f"| shap's own TreeSHAP routine (reference), one row: CPU us | "
            f"{_fmt(t.get('shap_routine_cpu_us_per_row'), 0)} |",
        ]
        lines += [
            f"| piece: {label} (us) | {_fmt(us, 0)} |" for label, us in micro["pieces_us"].items()
        ]
        for run in micro["create_decision_sweep"]:
            lat = run.get("latency_ms") or {}
            lines.append(
                f"| create_decision, {run['concurrency']} concurrent"
                f"{', after gc.freeze()' if run.get('gc_frozen') else ''}: decisions/s, "
                f"CPU ms/decision, mean batch, p50/p99/max ms, gen2 GCs (max ms) | "
                f"{_fmt(run['per_s'], 0)}, {_fmt(run['cpu_ms_per_decision'], 3)}, "
                f"{_fmt(run['mean_batch'], 1)}, {_fmt(lat.get('p50'), 1)}/"
                f"{_fmt(lat.get('p99'), 1)}/{_fmt(lat.get('max'), 0)}, "
                f"{run.get('gc_gen2_collections', 'n/a')} ({_fmt(run.get('gc_gen2_max_ms'), 0)}) |"
            )
        lines += [
            f"| ... at 8 concurrent: event-loop thread CPU ms / decision | "
            f"{_fmt(svc['event_loop_thread_cpu_ms_per_decision'], 3)} |",
            f"| ... at 8 concurrent: log-writer thread CPU ms / decision "
            f"(DEK, seal, ORM inserts, chain, commit) | "
            f"{_fmt(svc['writer_thread_cpu_ms_per_decision'], 3)} |",
        ]
        lines.append(
            "| other processes' cores busy / CPU steal during the in-process runs | "
            f"{_fmt(micro.get('other_processes_cores_busy'), 2)} / "
            f"{_fmt(micro.get('steal_cores'), 2)} |"
        )
        fit = micro.get("cpu_fit") or {}
        if fit:
            lines.append(
                "| fit cpu = per decision + per batch / batch: per decision / per batch ms | "
                f"{_fmt(fit['per_decision_ms'], 3)} / {_fmt(fit['per_batch_ms'], 3)} |"
            )
        if cpu_ms:
            lines.append(
                "| HTTP + FastAPI + middleware (server CPU (a) - in-process create_decision) ms |"
                f" {_fmt(cpu_ms - svc['cpu_ms_per_decision'], 3)} |"
            )

    rss = results.get("rss_per_model") or {}
    if rss:
        steps = rss["steps"]
        lines += [
            "",
            "| RSS of a fresh process | MiB |",
            "|---|---|",
            f"| interpreter | {_fmt(steps['interpreter_mib'], 0)} |",
            f"| + api.decisions.service | {_fmt(steps['after_service_import_mib'], 0)} |",
            f"| + mlflow, shap, skops, store opened | {_fmt(steps['after_libraries_mib'], 0)} |",
        ]
        for name, value in rss["per_model"].items():
            cell = _fmt(value.get("delta_mib"), 1) if "delta_mib" in value else value["error"]
            lines.append(f"| + model {name} (delta) | {cell} |")
        lines.append(f"| all loaded | {_fmt(steps['after_all_models_mib'], 0)} |")

    log = results.get("log") or {}
    if log:
        v, t = log["verify"], log["tamper"]
        lines += [
            "",
            "| decision log | value |",
            "|---|---|",
            f"| verify-log on the bench's log | {'OK' if v['ok'] else 'FAILED'}: "
            f"{v['entries']:,} entries, {v['decisions']:,} decisions, "
            f"{v['database_bytes'] / 2**20:,.1f} MiB ({_fmt(v['bytes_per_decision'], 0)} B per "
            f"decision), verified in {v['seconds']:.1f} s |",
            f"| verify-log on a copy with one byte flipped in entry {t['flipped_seq']} | "
            f"{'detected, names entry ' + str(t['named_seq']) if t['detected'] else 'NOT DETECTED'}"
            " |",
        ]
    lines.append("")
    lines.append(f"Total run time {results['meta']['run_seconds']:.0f} s.")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def _git_dirty() -> list[str]:
    """Files of the service that differ from the commit (the figures measure the working tree)."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--", "api", "models", "explain", "data_fixtures"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return [line[3:] for line in out.stdout.splitlines() if line.strip()]


def _git_commit() -> str | None:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGINT (even when inherited as ignored, as by background jobs), SIGTERM and SIGHUP unwind
    as KeyboardInterrupt, so that ``finally`` blocks stop the servers."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in watched}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark POST /v1/decisions/fraud on the real server (see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="5 s scenarios, workers=1 only.")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help="glassbox serve --workers values to run (default: 1 2; --quick: 1).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary home.")
    parser.add_argument("--no-mlflow", action="store_true", help="Skip the mlflow baseline.")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=None,
        help="Wait up to this many seconds for other processes to go idle before each server "
        "is measured (a shared machine; default 20, --quick 5); 0 to not wait.",
    )
    ns = parser.parse_args(argv)
    quick: bool = ns.quick
    durations = (
        Durations(warmup=2, throughput=5, open_loop=5, single=5)
        if quick
        else Durations(warmup=3, throughput=15, open_loop=15, single=10)
    )
    workers: list[int] = ns.workers or ([1] if quick else [1, 2])
    if ns.quiet_wait is None:
        ns.quiet_wait = 5.0 if quick else 20.0
    use_wrk = shutil.which("wrk") is not None
    generator = (
        "wrk (a, c) + Python open-loop generator (b)"
        if use_wrk
        else "Python generators only (FALLBACK: wrk is not installed; apt-get install wrk)"
    )
    if not use_wrk:
        _say("WARNING: wrk not found; using the Python closed-loop generator for (a) and (c).")
    run_started = time.perf_counter()
    home_path = Path(tempfile.mkdtemp(prefix="glassbox-bench-"))
    procs = Processes()
    results: Json = {
        "meta": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": "quick" if quick else "full",
            "git_commit": _git_commit(),
            "uncommitted_service_files": _git_dirty(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_generator": generator,
            "durations_s": durations.__dict__,
            "connections": CONNECTIONS,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "home": str(home_path),
        },
        "targets": TARGETS,
        "glassbox": {},
    }
    idle_load = background_load()
    results["meta"]["background_cores_busy_before_start"] = idle_load
    if idle_load > 0.2:
        _say(
            f"WARNING: other processes keep {idle_load:.2f} of {os.cpu_count()} cores busy; "
            "figures will be pessimistic (see other_processes_cores_busy per scenario)."
        )
    try:
        with _terminate_as_interrupt():
            _say(f"Building the home in {home_path} (fixtures, 3 models, secrets)")
            home, setup = build_home(home_path, n_bodies=4000 if quick else 20000)
            results["setup"] = setup
            _say(f"  set-up took {setup['seconds']:.0f} s")
            api_key = create_api_key(home)
            script = home.path / "bench" / "post.lua"
            script.write_text(WRK_SCRIPT)
            for w in workers:
                results["glassbox"][f"workers={w}"] = run_glassbox(
                    home,
                    procs,
                    workers=w,
                    api_key=api_key,
                    durations=durations,
                    script=script,
                    use_wrk=use_wrk,
                    quiet_wait=ns.quiet_wait,
                )
            if not ns.no_mlflow:
                # The baseline runs with the same worker counts, so that every ratio compares
                # like with like (a second worker doubles mlflow's CPU-bound predict too).
                by_workers = {
                    f"workers={w}": run_mlflow(
                        home,
                        procs,
                        durations=durations,
                        script=script,
                        use_wrk=use_wrk,
                        quiet_wait=ns.quiet_wait,
                        workers=w,
                    )
                    for w in workers
                }
                results["mlflow_by_workers"] = by_workers
                results["mlflow"] = by_workers[f"workers={workers[0]}"]
            _say("RSS per model (fresh process)")
            results["rss_per_model"] = run_child(
                "_rss", ["--tracking-uri", home.tracking_uri], _child_env(home.env)
            )
            _say("In-process microbenchmarks (TreeSHAP, hot-path pieces, create_decision)")
            micro_env = _child_env(home.env)
            micro_env["GLASSBOX_DATABASE_URL"] = f"sqlite:///{home.path / 'micro.db'}"
            results["micro"] = run_child(
                "_micro",
                ["--bodies", str(home.glassbox_bodies)]
                + (["--rows", "1500", "--decisions", "1000"] if quick else []),
                micro_env,
            )
            _say("glassbox verify-log, then a tampered copy")
            results["log"] = verify_log(home)
            print("\n--- glassbox verify-log (the bench's log) ---")
            print(results["log"]["verify"]["output"])
            print(
                f"--- glassbox verify-log (copy, one byte flipped in entry "
                f"{results['log']['tamper']['flipped_seq']}; exit "
                f"{results['log']['tamper']['exit_code']}) ---"
            )
            print(results["log"]["tamper"]["output"])
    finally:
        procs.stop_all()
        if not ns.keep:
            shutil.rmtree(home_path, ignore_errors=True)
    results["meta"]["run_seconds"] = time.perf_counter() - run_started
    table = report(results)
    results["table_markdown"] = table
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(table)
    print(f"\nResults written to {ns.out}")
    return 0


if __name__ == "__main__":
    CHILDREN: dict[str, Callable[[Sequence[str]], None]] = {
        "_loadgen": loadgen_main,
        "_rss": rss_main,
        "_micro": micro_main,
    }
    if len(sys.argv) > 1 and sys.argv[1] in CHILDREN:
        CHILDREN[sys.argv[1]](sys.argv[2:])
    else:
        try:
            sys.exit(main(sys.argv[1:]))
        except KeyboardInterrupt as exc:
            print(f"\nInterrupted ({exc or 'Ctrl-C'}); servers stopped.", file=sys.stderr)
            sys.exit(130)
