"""The bench's command line: one run (home, scenarios, children, log check, report), and the
dispatch to the child modes the run starts (``_loadgen``, ``_rss``, ``_micro``)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .common import CONNECTIONS, REPO, RESULTS_DIR, TARGETS, Json, child_env, say
from .home import build_home, create_api_key
from .logcheck import verify_log
from .postgres import LOADS, run_postgres
from .procs import Processes, background_load, run_child
from .report import report
from .scenarios import Durations, run_glassbox, run_mlflow
from .wrk import WRK_SCRIPT

__all__ = ["main", "run"]


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
    """One run of the benchmark (see ``bench/README.md``); 0 unless something broke."""
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
        "--postgres",
        metavar="URL",
        help="Also run the PostgreSQL scenario on this server (a database per configuration is "
        "created and dropped), e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres.",
    )
    parser.add_argument(
        "--postgres-workers",
        type=int,
        nargs="+",
        default=[1, 2, 4],
        help="Worker counts of the PostgreSQL scenario (then two hosts of one worker each).",
    )
    parser.add_argument(
        "--granian",
        action="store_true",
        help="Also serve the app under granian (one worker) and compare its server CPU per "
        "decision with uvicorn's.",
    )
    parser.add_argument(
        "--postgres-load",
        choices=("shared", "per-worker", "both"),
        default="both",
        help="The PostgreSQL scenario's load: the 8 connections shared out over the workers, "
        "8 connections per worker, or both (default).",
    )
    parser.add_argument(
        "--only-postgres",
        action="store_true",
        help="Run the PostgreSQL scenario alone (no SQLite servers, baseline or micro).",
    )
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
        say("WARNING: wrk not found; using the Python closed-loop generator for (a) and (c).")
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
        say(
            f"WARNING: other processes keep {idle_load:.2f} of {os.cpu_count()} cores busy; "
            "figures will be pessimistic (see other_processes_cores_busy per scenario)."
        )
    try:
        with _terminate_as_interrupt():
            say(f"Building the home in {home_path} (fixtures, 3 models, secrets)")
            home, setup = build_home(home_path, n_bodies=4000 if quick else 20000)
            results["setup"] = setup
            say(f"  set-up took {setup['seconds']:.0f} s")
            api_key = create_api_key(home)
            script = home.path / "bench" / "post.lua"
            script.write_text(WRK_SCRIPT)
            if ns.postgres:
                say(f"PostgreSQL: {ns.postgres_workers} workers, then two hosts")
                results["postgres"] = run_postgres(
                    home,
                    procs,
                    url=ns.postgres,
                    workers=ns.postgres_workers,
                    loads=LOADS if ns.postgres_load == "both" else (ns.postgres_load,),
                    warmup=durations.warmup,
                    seconds=durations.throughput,
                )
            for w in [] if ns.only_postgres else workers:
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
            if ns.granian and not ns.only_postgres:
                results["glassbox"]["granian workers=1"] = run_glassbox(
                    home,
                    procs,
                    workers=1,
                    api_key=api_key,
                    durations=durations,
                    script=script,
                    use_wrk=use_wrk,
                    quiet_wait=ns.quiet_wait,
                    server_kind="granian",
                )
            if not ns.no_mlflow and not ns.only_postgres:
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
            if ns.only_postgres:
                return _finish(results, ns.out, run_started)
            say("RSS per model (fresh process)")
            results["rss_per_model"] = run_child(
                "_rss", ["--tracking-uri", home.tracking_uri], child_env(home.env)
            )
            say("In-process microbenchmarks (TreeSHAP, hot-path pieces, create_decision)")
            micro_env = child_env(home.env)
            micro_env["GLASSBOX_DATABASE_URL"] = f"sqlite:///{home.path / 'micro.db'}"
            results["micro"] = run_child(
                "_micro",
                ["--bodies", str(home.glassbox_bodies)]
                + (["--rows", "1500", "--decisions", "1000"] if quick else []),
                micro_env,
            )
            say("glassbox verify-log, then a tampered copy")
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
    return _finish(results, ns.out, run_started)


def _finish(results: Json, out: Path, run_started: float) -> int:
    results["meta"]["run_seconds"] = time.perf_counter() - run_started
    table = report(results)
    results["table_markdown"] = table
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(table)
    print(f"\nResults written to {out}")
    return 0


# The child modes the run starts by re-invoking the bench script. Each module is imported only
# when its mode runs: the in-process benchmarks import the whole service, which a load generator
# must not pay for, and ``_rss`` measures that import itself.
CHILD_MODES = {"_loadgen": "loadgen", "_rss": "rss", "_micro": "micro"}


def run(argv: Sequence[str]) -> int:
    """``decisions.py [options]`` (a run) or ``decisions.py <child mode> ...``; the exit code."""
    if argv and argv[0] in CHILD_MODES:
        module = importlib.import_module(f".{CHILD_MODES[argv[0]]}", __package__)
        child: Callable[[Sequence[str]], None] = module.main
        child(argv[1:])
        return 0
    try:
        return main(argv)
    except KeyboardInterrupt as exc:
        print(f"\nInterrupted ({exc or 'Ctrl-C'}); servers stopped.", file=sys.stderr)
        return 130
