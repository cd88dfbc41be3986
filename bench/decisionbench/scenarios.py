"""The scenarios: ``glassbox serve`` driven closed loop (8 connections), open loop at half that
rate and over one connection, and ``mlflow models serve`` as the baseline, each measured from
``/proc`` around the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .common import CONNECTIONS, HOST, Json, executable, say
from .home import Home
from .loadgen import Target, run_python_loadgen
from .procs import (
    Processes,
    children_cpu_seconds,
    free_port,
    process_tree,
    steal_seconds,
    system_busy_seconds,
    tail,
    tree_cpu_seconds,
    tree_memory_mib,
    wait_for_quiet,
    wait_http,
    wait_idle,
)
from .wrk import run_wrk

__all__ = ["Durations", "closed_loop", "measured", "run_glassbox", "run_mlflow"]


@dataclass(frozen=True)
class Durations:
    """Seconds of each scenario."""

    warmup: float
    throughput: float
    open_loop: float
    single: float


def closed_loop(
    target: Target, *, connections: int, seconds: float, script: Path, use_wrk: bool
) -> Json:
    """wrk if installed, else the Python generator, closed loop."""
    if use_wrk:
        return run_wrk(target, connections=connections, seconds=seconds, script=script)
    return run_python_loadgen(target, seconds=seconds, connections=connections)


def _warm_up(
    target: Target, durations: Durations, *, script: Path, use_wrk: bool, log: Path, name: str
) -> Json:
    """Load a fresh server for the warm-up time; refuse to measure one that answers no 2xx."""
    warm = closed_loop(
        target, connections=CONNECTIONS, seconds=durations.warmup, script=script, use_wrk=use_wrk
    )
    if warm["ok"] == 0:
        raise RuntimeError(f"{name} warm-up got no 2xx: {warm}\n{tail(log)}")
    return warm


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


def _throughput(
    server_pid: int, target: Target, durations: Durations, *, script: Path, use_wrk: bool
) -> Json:
    """The closed-loop throughput scenario, with the server's CPU measured around it."""
    return measured(
        server_pid,
        lambda: closed_loop(
            target,
            connections=CONNECTIONS,
            seconds=durations.throughput,
            script=script,
            use_wrk=use_wrk,
        ),
    )


def _describe(name: str, r: Json) -> None:
    lat = r["latency_ms"]
    cpu = r.get("server_cpu_ms_per_request")
    say(
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
    server_kind: str = "uvicorn",
) -> Json:
    """``glassbox serve --workers N`` (uvicorn), or the same app under granian: warm-up, then
    scenarios (a), (b) and (c), measured."""
    port = free_port()
    log = home.path / f"glassbox-{server_kind}-w{workers}.log"
    env = dict(home.env)
    env["GLASSBOX_PUBLIC_URL"] = f"http://{HOST}:{port}"
    started = time.perf_counter()
    if server_kind == "granian":
        # The app glassbox serve runs, under a Rust HTTP server: same factory, same settings
        # from the environment, uvloop, no access log of the server's own.
        cmd = [executable("granian"), "--interface", "asgi", "--factory", "--loop", "uvloop"]
        cmd += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
        cmd += ["--no-access-log", "--no-ws", "api.main:create_served_app"]
    else:
        cmd = [executable("glassbox"), "serve", "--home", str(home.path), "--host", HOST]
        cmd += ["--port", str(port), "--workers", str(workers)]
    server = procs.start(cmd, env=env, log=log)
    try:
        wait_http(f"http://{HOST}:{port}/v1/health", server, log)
        wait_idle(server.pid, server, log)
        startup = time.perf_counter() - started
        pids = process_tree(server.pid)
        say(
            f"glassbox ({server_kind}) --workers {workers} ready in {startup:.1f} s "
            f"(pid {server.pid}, {len(pids)} processes)"
        )
        quiet = wait_for_quiet(quiet_wait)
        if quiet > 0.25:
            say(f"  WARNING: other processes still keep {quiet:.2f} cores busy")
        target = Target(port, "/v1/decisions/fraud", home.glassbox_bodies, api_key)
        warm = _warm_up(target, durations, script=script, use_wrk=use_wrk, log=log, name="glassbox")
        memory = tree_memory_mib(server.pid)
        say(f"  RSS after warm-up: {memory['rss_mib']:.0f} MiB (PSS {memory['pss_mib']:.0f})")
        a = _throughput(server.pid, target, durations, script=script, use_wrk=use_wrk)
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
        "server": server_kind,
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
    """``mlflow models serve`` of the registered fraud champion, driven like (a) and (c)."""
    port = free_port()
    log = home.path / f"mlflow-serve-w{workers}.log"
    env = dict(home.env)
    env["MLFLOW_TRACKING_URI"] = home.tracking_uri
    started = time.perf_counter()
    cmd = [executable("mlflow"), "models", "serve", "-m", "models:/fraud@champion"]
    cmd += ["--env-manager", "local", "-p", str(port), "--host", HOST, "--workers", str(workers)]
    server = procs.start(cmd, env=env, log=log)
    try:
        wait_http(f"http://{HOST}:{port}/ping", server, log)
        wait_idle(server.pid, server, log)
        startup = time.perf_counter() - started
        say(f"mlflow models serve --workers {workers} ready in {startup:.1f} s (pid {server.pid})")
        quiet = wait_for_quiet(quiet_wait)
        target = Target(port, "/invocations", home.mlflow_bodies, None)
        _warm_up(target, durations, script=script, use_wrk=use_wrk, log=log, name="mlflow")
        memory = tree_memory_mib(server.pid)
        a = _throughput(server.pid, target, durations, script=script, use_wrk=use_wrk)
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
