"""PostgreSQL under load: ``glassbox serve`` on one PostgreSQL database with 1, 2 and 4 workers,
and two server processes on different ports sharing it as two hosts, the load spread over them.

Each configuration gets a database of its own (created and dropped here). Measured around the
closed-loop run: decisions/s, p50/p99, the servers' CPU per decision (and decisions per server
CPU-second, which must not fall as workers are added if the chain is not what limits), the CPU
of the PostgreSQL backends serving the run's database per decision, and, from each worker's
log writer when it stops, how long each batch held the chain's lock (the one serialised section).

Two loads: ``shared``, the bench's 8 connections shared out over whatever serves them (more
workers, fewer requests in flight in each); and ``per-worker``, 8 connections for each worker,
so that every worker sees the load one worker sees alone and only what they share -- the
database and the chain -- differs between the configurations.

Under each load a control runs beside them: as many one-worker servers as the most workers,
each on a database (and so a chain) of its own. It has what four workers have -- as many
processes on the machine's cores, as many requests in flight in each -- except the one chain
they share, so the gap between the two is what sharing the chain costs, apart from what the
machine costs when more processes share its cores.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from .common import CLK_TCK, CONNECTIONS, HOST, Json, executable, say
from .home import Home, create_api_key
from .loadgen import Target, run_python_loadgen
from .procs import (
    Processes,
    cpu_ticks,
    free_port,
    system_busy_seconds,
    tail,
    tree_cpu_seconds,
    wait_http,
    wait_idle,
)

__all__ = ["LOADS", "chain_sharing_cost", "per_cpu_verdict", "run_postgres"]


@contextmanager
def _database(url: str) -> Iterator[str]:
    """A fresh database on the server of ``url`` for one configuration; dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"glassbox_bench_{secrets.token_hex(4)}"
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_cpu_seconds(databases: list[str]) -> tuple[float, float]:
    """CPU seconds of the backends serving ``databases``, and of the server's own background
    processes (WAL writer, checkpointer …; shared with anything else on the server)."""
    backends = background = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if not title.startswith("postgres:"):
            continue
        ticks = cpu_ticks(int(entry.name))
        if ticks is None:
            continue
        if any(f" {database} " in title for database in databases):
            backends += ticks
        elif "/main:" in title or "writer" in title or "checkpointer" in title:
            background += ticks
    return backends / CLK_TCK, background / CLK_TCK


def _writer_figures(logs: list[Path]) -> Json:
    """What the workers' log writers reported when they stopped: batches, entries, lock."""
    batches = entries = 0
    held = waited = cpu = 0.0
    workers = 0
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if '"log writer stopped"' not in line:
                continue
            record = json.loads(line)
            workers += 1
            batches += int(record["batches"])
            entries += int(record["entries"])
            held += float(record["lock_held_seconds"])
            waited += float(record["lock_wait_seconds"])
            cpu += float(record.get("cpu_seconds") or 0.0)
    return {
        "writers_reported": workers,
        "batches": batches,
        "entries": entries,
        "entries_per_batch": entries / batches if batches else None,
        "lock_held_ms_per_batch": held / batches * 1e3 if batches else None,
        "lock_wait_ms_per_batch": waited / batches * 1e3 if batches else None,
        "lock_held_s": held,
        # The writer threads' own CPU (warm-up included), per entry: the chain's side of a
        # decision's server CPU.
        "writer_cpu_ms_per_entry": cpu / entries * 1e3 if entries else None,
    }


def _spread(targets: list[Target], seconds: float, connections: int) -> Json:
    """Closed loop on every target at once (the connections shared out), results combined."""
    each = max(1, connections // len(targets))
    results: list[Json] = [{} for _ in targets]

    def drive(i: int) -> None:
        results[i] = run_python_loadgen(targets[i], seconds=seconds, connections=each)

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ok = sum(r["ok"] for r in results)
    duration = max(r["duration_s"] for r in results)
    return {
        "ok": ok,
        "requests": sum(r["requests"] for r in results),
        "non2xx": sum(r["non2xx"] for r in results),
        "socket_errors": sum(r["socket_errors"] for r in results),
        "duration_s": duration,
        "throughput_per_s": sum(r["throughput_per_s"] for r in results),
        # The slower host's percentiles: what a client of the pair sees at worst.
        "latency_ms": {
            q: max(r["latency_ms"][q] for r in results) for q in results[0]["latency_ms"]
        },
        "per_host": results,
    }


def _configuration(
    home: Home,
    procs: Processes,
    *,
    url: str,
    workers: int,
    hosts: int,
    load: str,
    connections: int,
    warmup: float,
    seconds: float,
    own_databases: bool = False,
) -> Json:
    label = f"{hosts} hosts x {workers} worker" if hosts > 1 else f"{workers} workers"
    if own_databases:
        label = f"{hosts} chains (a database each)"
    if load == "per-worker":
        label += f", {connections} connections"
    with ExitStack() as databases:
        urls = [
            databases.enter_context(_database(url)) for _ in range(hosts if own_databases else 1)
        ]
        names = [u.rsplit("/", 1)[1].split("?", 1)[0] for u in urls]
        homes = [replace(home, env={**home.env, "GLASSBOX_DATABASE_URL": u}) for u in urls]
        api_keys = [create_api_key(database_home) for database_home in homes]
        servers, logs, targets = [], [], []
        try:
            for h in range(hosts):
                pg_home, api_key = homes[h % len(urls)], api_keys[h % len(urls)]
                port = free_port()
                log = home.path / f"glassbox-pg-{load}-{len(urls)}db-{hosts}h-w{workers}-{h}.log"
                log.unlink(missing_ok=True)  # the writers' figures are read from it afterwards
                env = {**pg_home.env, "GLASSBOX_PUBLIC_URL": f"http://{HOST}:{port}"}
                cmd = [executable("glassbox"), "serve", "--home", str(home.path), "--host", HOST]
                cmd += ["--port", str(port), "--workers", str(workers)]
                server = procs.start(cmd, env=env, log=log)
                wait_http(f"http://{HOST}:{port}/v1/health", server, log)
                wait_idle(server.pid, server, log)
                servers.append(server)
                logs.append(log)
                targets.append(Target(port, "/v1/decisions/fraud", home.glassbox_bodies, api_key))
            warm = _spread(targets, warmup, connections)
            if warm["ok"] == 0:
                raise RuntimeError(f"PostgreSQL warm-up got no 2xx: {warm}\n{tail(logs[0])}")
            server_before = sum(tree_cpu_seconds(s.pid) for s in servers)
            pg_before = _postgres_cpu_seconds(names)
            busy_before, wall = system_busy_seconds(), time.perf_counter()
            result = _spread(targets, seconds, connections)
            elapsed = time.perf_counter() - wall
            server_cpu = sum(tree_cpu_seconds(s.pid) for s in servers) - server_before
            pg_after = _postgres_cpu_seconds(names)
            machine = system_busy_seconds() - busy_before
        finally:
            for server in servers:
                # SIGTERM to the server alone (its supervisor stops its workers once each):
                # each worker's log writer drains and reports its figures as it stops.
                if server.poll() is None:
                    server.send_signal(signal.SIGTERM)
            for server in servers:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(60)
                procs.stop(server)
        writer = _writer_figures(logs)
    ok = result["ok"] or 1
    backends = pg_after[0] - pg_before[0]
    background = pg_after[1] - pg_before[1]
    figures: Json = {
        "label": label,
        "workers_per_host": workers,
        "hosts": hosts,
        "chains": len(urls),
        "load": load,
        "connections": connections,
        "throughput": result,
        "server_cpu_ms_per_decision": server_cpu / ok * 1e3,
        "decisions_per_server_cpu_s": ok / server_cpu if server_cpu else None,
        "postgres_backend_cpu_ms_per_decision": backends / ok * 1e3,
        "postgres_background_cpu_ms_per_decision": background / ok * 1e3,
        "machine_cores_busy": machine / elapsed,
        "log_writer": writer,
    }
    lat = result["latency_ms"]
    held = writer["lock_held_ms_per_batch"]
    say(
        f"  PostgreSQL, {label}: {result['throughput_per_s']:.0f}/s, p50 {lat['p50']:.2f} ms, "
        f"p99 {lat['p99']:.2f} ms, server CPU {figures['server_cpu_ms_per_decision']:.2f} ms, "
        f"PostgreSQL CPU {figures['postgres_backend_cpu_ms_per_decision']:.2f} ms per decision; "
        f"lock held {held if held is None else round(held, 3)} ms per batch of "
        f"{writer['entries_per_batch'] and round(writer['entries_per_batch'], 1)}"
    )
    return figures


LOADS = ("shared", "per-worker")


def per_cpu_verdict(runs: list[Json]) -> Json:
    """The target on one load's runs: decisions per server CPU-second within 15 % from 1 to 4
    workers on a host (the chain's lock is then not what limits). Runs of several hosts are
    reported beside it, not judged; one worker count alone gives no verdict."""
    per_cpu = [
        r["decisions_per_server_cpu_s"]
        for r in runs
        if r["hosts"] == 1 and r["decisions_per_server_cpu_s"]
    ]
    spread = (max(per_cpu) - min(per_cpu)) / max(per_cpu) if len(per_cpu) > 1 else None
    return {
        "per_cpu_spread": spread,
        "per_cpu_within_15_percent": None if spread is None else spread <= 0.15,
        "chain_sharing_cost": chain_sharing_cost(runs),
    }


def chain_sharing_cost(runs: list[Json]) -> float | None:
    """What sharing one chain costs the most workers on a host, in decisions per server
    CPU-second, against the control of as many servers with a chain each: 0.1 is 10 % fewer
    (negative: more). None without both runs."""
    one_host = [r for r in runs if r["hosts"] == 1]
    if not one_host:
        return None
    most = max(one_host, key=lambda r: r["workers_per_host"])
    # The control: as many one-worker servers as those workers, each with its own chain.
    control = next(
        (
            r
            for r in runs
            if r["workers_per_host"] == 1
            and r["hosts"] == r.get("chains", 1) == most["workers_per_host"] > 1
        ),
        None,
    )
    if control is None or not most["decisions_per_server_cpu_s"]:
        return None
    alone = control["decisions_per_server_cpu_s"]
    return float(1 - most["decisions_per_server_cpu_s"] / alone) if alone else None


def run_postgres(
    home: Home,
    procs: Processes,
    *,
    url: str,
    workers: list[int],
    warmup: float,
    seconds: float,
    loads: tuple[str, ...] = LOADS,
    on_result: Callable[[str, Json], Any] | None = None,
) -> Json:
    """Every configuration on ``url``'s server under each load: each worker count on one host,
    two hosts of one worker each, and the control (as many one-worker servers as the most
    workers, a database each). Returns ``{label: figures}`` and, per load, the spread of
    decisions per server CPU-second across the worker counts and what sharing the chain costs
    against the control (the first load's also at the top level)."""
    runs: Json = {}
    verdicts: Json = {}
    most = max(workers)
    control = [(1, most, True)] if most > 1 else []
    for load in loads:
        labels = []
        for w, hosts, own in [(w, 1, False) for w in workers] + [(1, 2, False), *control]:
            connections = CONNECTIONS * w * hosts if load == "per-worker" else CONNECTIONS
            figures = _configuration(
                home,
                procs,
                url=url,
                workers=w,
                hosts=hosts,
                load=load,
                connections=connections,
                warmup=warmup,
                seconds=seconds,
                own_databases=own,
            )
            runs[figures["label"]] = figures
            labels.append(figures["label"])
            if on_result is not None:
                on_result(figures["label"], figures)
        verdicts[load] = {"labels": labels, **per_cpu_verdict([runs[label] for label in labels])}
    first = verdicts[loads[0]]
    return {
        "runs": runs,
        "loads": verdicts,
        "per_cpu_spread": first["per_cpu_spread"],
        "per_cpu_within_15_percent": first["per_cpu_within_15_percent"],
        "chain_sharing_cost": first["chain_sharing_cost"],
    }
