#!/usr/bin/env python
"""Benchmark of ``glassbox batch`` (local and Spark engines) against the HTTP path.

One run builds a temporary home (the churn model and the lifetime-value profile trained and
registered in a temporary SQLite MLflow store, demo secrets, an application key), generates a
customer base of ``--rows`` people (100,000 by default, the quick mode; ``--full`` is one
million), and measures:

(a) the batch: every row a churn decision, explained, sealed, logged and chained through the
    one writer -- with ``--engine local`` in this process (:func:`api.batch.engine.
    run_local_batch`), with ``--engine spark`` on a local Spark (``local[2]``) whose executors
    explain the rows (:func:`api.batch.spark.run_spark_batch`), or both: decisions per second of
    wall time, the driver's CPU-seconds and the CPU-seconds of the whole process tree (Spark's
    JVM and Python workers included); with ``--profiles`` the local engine also scores every
    row as a lifetime-value profile;
(b) the HTTP path: ``glassbox serve`` (one worker) driven over loopback by the bench's closed-loop
    generator (8 connections) with the same kind of people, for ``--seconds``.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/batch.py [--rows 100000] [--full] \
        [--engine local|spark|both] [--profiles] [--seconds 20]

Results go to ``bench/results/batch.json`` (each engine, model and size keeps its latest run,
with the HTTP figure of the same invocation); a Markdown table is printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from decisionbench.common import CONNECTIONS, HOST, RESULTS_DIR, Json, executable, say
from decisionbench.home import Home, create_api_key
from decisionbench.loadgen import Target, run_python_loadgen
from decisionbench.procs import Processes, free_port, wait_http, wait_idle

TRAIN_ROWS = 20_000


def _train(path: Path) -> str:
    from models.registry import local_store, log_training
    from models.training import TrainingFiles, train_from_files

    uri = local_store(path)
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    for kind, data in (("churn", "customers.csv"), ("lifetime_value", "buyers.csv")):
        result = train_from_files(kind, TrainingFiles(data=path / "fixtures" / data), seed=7)
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            registration = log_training(result, tracking_uri=uri, data_source=data)
        say(f"  trained {kind}: v{registration.version} gates {registration.gates}")
    return uri


def _home(path: Path, rows: int) -> tuple[Home, Path, Path]:
    from decisionbench.common import clean_environ, quiet_env

    from api.cli.common import demo_environment
    from data_fixtures import generate_buyers, generate_customers

    fixtures = path / "fixtures"
    fixtures.mkdir(parents=True)
    generate_customers(TRAIN_ROWS, seed=7).to_csv(fixtures / "customers.csv", index=False)
    generate_buyers(TRAIN_ROWS, seed=7).to_csv(fixtures / "buyers.csv", index=False)
    uri = _train(path)
    started = time.perf_counter()
    # The base to score: other people than the training rows (another seed).
    customers = path / "base-customers.csv"
    buyers = path / "base-buyers.csv"
    generate_customers(rows, seed=101).to_csv(customers, index=False)
    generate_buyers(rows, seed=101).to_csv(buyers, index=False)
    say(f"  generated {rows} customers and buyers in {time.perf_counter() - started:.1f} s")
    env = clean_environ()
    env.update(quiet_env())
    env.update(demo_environment(path, uri, host=HOST, port=8000))
    env["GLASSBOX_DEMO_MODE"] = "true"
    env["GLASSBOX_DATABASE_URL"] = f"sqlite:///{path / 'glassbox.db'}"
    env["GLASSBOX_MLFLOW_TRACKING_URI"] = uri
    env["GLASSBOX_SERVED_MODELS"] = "churn,lifetime_value"
    env["PATH"] = f"{Path(executable('glassbox')).parent}{os.pathsep}{env.get('PATH', '')}"
    bodies = _bodies(path, customers, buyers, n=20_000)
    home = Home(
        path=path,
        tracking_uri=uri,
        env=env,
        glassbox_bodies=bodies["churn"],
        mlflow_bodies=bodies["lifetime_value"],
        database=path / "glassbox.db",
    )
    return home, customers, buyers


def _bodies(path: Path, customers: Path, buyers: Path, *, n: int) -> dict[str, Path]:
    """Request bodies for the HTTP path: the same kind of people, other references, so that
    the HTTP run records new people rather than the batch's."""
    import pandas as pd

    from models.spec import default_spec_path, load_spec

    out = {}
    for model, source, extra in (
        ("churn", customers, {"legal_basis": "contract"}),
        ("lifetime_value", buyers, {}),
    ):
        spec = load_spec(default_spec_path(model))  # type: ignore[arg-type]
        frame = pd.read_csv(source, nrows=n)
        lines = []
        for record in frame.to_dict("records"):
            features: dict[str, Any] = {}
            for f in spec.features:
                value = record[f.name]
                if isinstance(value, float) and math.isnan(value):
                    continue
                features[f.name] = (
                    bool(value)
                    if f.type == "boolean"
                    else int(value)
                    if f.type == "integer"
                    else str(value)
                    if f.type == "category"
                    else float(value)
                )
            body = {"subject_ref": f"http-{record['customer_id']}", "features": features, **extra}
            lines.append(json.dumps(body, separators=(",", ":")))
        out[model] = path / f"{model}-bodies.jsonl"
        out[model].write_text("\n".join(lines) + "\n")
    return out


def _tree_cpu() -> float:
    """CPU-seconds of this process and every process under it (Spark's JVM, workers)."""
    import psutil

    me = psutil.Process()
    # Children already reaped (a local run's worker processes) count in this process's
    # children times; live ones are read one by one.
    total = sum(me.cpu_times()[:4])
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += sum(child.cpu_times()[:2])
    return total


def _figures(summary: Any, cpu: float, tree: float) -> Json:
    done = summary.recorded + summary.refused
    return {
        "rows": summary.rows,
        "recorded": summary.recorded,
        "refused": summary.refused,
        "seconds": summary.seconds,
        "per_second": summary.per_second,
        "cpu_seconds": cpu,
        "per_cpu_second": done / cpu if cpu > 0 else None,
        "tree_cpu_seconds": tree,
        "per_tree_cpu_second": done / tree if tree > 0 else None,
    }


def _batch(
    home: Home,
    api_key: str,
    customers: Path,
    buyers: Path,
    *,
    engines: list[str],
    profiles: bool,
    processes: list[int | None],
) -> Json:
    os.environ.update(home.env)
    import pandas as pd

    from api.batch.engine import run_local_batch
    from api.batch.files import read_batch_file
    from api.batch.service import application_principal, batch_context
    from api.cli.common import service_settings
    from api.core.settings import get_settings

    get_settings.cache_clear()
    settings = service_settings(home.path, demo=True)
    results: Json = {}
    with batch_context(settings, model_names=("churn", "lifetime_value")) as context:
        principal = application_principal(context, api_key=api_key)
        runs: list[tuple[str, int | None, str, Path]] = [
            (engine, count, "churn", customers)
            for engine in engines
            for count in (processes if engine == "local" else [None])
        ]
        if profiles:
            runs.append(("local", None, "lifetime_value", buyers))
        for engine_, count, model, source in runs:
            engine = engine_ if count is None else f"{engine_}-{count}p"
            spec = context.models.get(model).spec
            # Each engine scores its own people (new references: each person's data key is
            # made by the run that first decides about them), so no run rides on another's.
            copy = home.path / f"{engine}-{source.name}"
            frame = pd.read_csv(source)
            frame["customer_id"] = f"{engine}-" + frame["customer_id"].astype(str)
            frame.to_csv(copy, index=False)
            rows = read_batch_file(copy, spec=spec, key_column=None, subject_column=None)
            out = home.path / f"out-{engine}-{model}"
            if engine == "spark":
                from api.batch.spark import run_spark_batch, spark_session

                session = spark_session("local[2]")
                try:
                    cpu, tree = time.process_time(), _tree_cpu()
                    summary = run_spark_batch(
                        context,
                        session,
                        model_name=model,
                        batch=rows,
                        out_dir=out,
                        principal=principal,
                        legal_basis="contract",
                        chunk_size=1024,
                    )
                    cpu, tree = time.process_time() - cpu, _tree_cpu() - tree
                finally:
                    session.stop()
            else:
                cpu, tree = time.process_time(), _tree_cpu()
                summary = run_local_batch(
                    context,
                    model_name=model,
                    batch=rows,
                    out_dir=out,
                    principal=principal,
                    legal_basis="contract",
                    chunk_size=1024,
                    processes=count,
                )
                cpu, tree = time.process_time() - cpu, _tree_cpu() - tree
            figures = _figures(summary, cpu, tree)
            results[f"{engine}:{model}"] = figures
            say(
                f"  batch {engine} {model}: {summary.recorded} recorded, {summary.refused} refused "
                f"in {summary.seconds:.1f} s = {summary.per_second:.0f}/s "
                f"({figures['per_cpu_second']:.0f} per driver CPU-s, "
                f"{figures['per_tree_cpu_second']:.0f} per CPU-s of all processes)"
            )
    return results


def _http(home: Home, api_key: str, seconds: float) -> Json:
    port = free_port()
    log = home.path / "serve.log"
    env = dict(home.env)
    env["GLASSBOX_PUBLIC_URL"] = f"http://{HOST}:{port}"
    procs = Processes()
    cmd = [executable("glassbox"), "serve", "--home", str(home.path), "--host", HOST]
    server = procs.start([*cmd, "--port", str(port), "--workers", "1"], env=env, log=log)
    out: Json = {}
    try:
        wait_http(f"http://{HOST}:{port}/v1/health", server, log)
        wait_idle(server.pid, server, log)
        for model, path, bodies in (
            ("churn", "/v1/decisions/churn", home.glassbox_bodies),
            ("lifetime_value", "/v1/profiles/lifetime_value", home.mlflow_bodies),
        ):
            target = Target(port, path, bodies, api_key)
            run_python_loadgen(target, seconds=2.0, connections=CONNECTIONS)  # warm-up
            result = run_python_loadgen(target, seconds=seconds, connections=CONNECTIONS)
            out[model] = {
                "per_second": result["throughput_per_s"],
                "errors": result.get("errors"),
                "statuses": result.get("statuses"),
            }
            say(f"  HTTP {path}: {result['throughput_per_s']:.0f}/s")
    finally:
        procs.stop(server)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="one million rows")
    parser.add_argument("--engine", choices=("local", "spark", "both"), default="both")
    parser.add_argument("--profiles", action="store_true", help="also lifetime-value profiles")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--processes",
        default="",
        help="the local engine's worker processes, a run for each of a comma-separated list "
        "(0: all in this process); one per core when omitted",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args(argv)
    processes: list[int | None] = (
        [int(n) for n in args.processes.split(",")] if args.processes else [None]
    )
    rows = 1_000_000 if args.full else args.rows
    engines = ["local", "spark"] if args.engine == "both" else [args.engine]
    folder = Path(tempfile.mkdtemp(prefix="glassbox-batchbench-"))
    say(f"home {folder}, {rows} rows, engines {engines}")
    home, customers, buyers = _home(folder, rows)
    api_key = create_api_key(home)
    batch = _batch(
        home,
        api_key,
        customers,
        buyers,
        engines=engines,
        profiles=args.profiles,
        processes=processes,
    )
    http = _http(home, api_key, args.seconds)
    ratio = {
        run: batch[run]["per_second"] / http[run.split(":")[1]]["per_second"]
        for run in batch
        if http.get(run.split(":")[1], {}).get("per_second")
    }
    for run, figures in batch.items():
        figures["http_per_second"] = http.get(run.split(":")[1], {}).get("per_second")
        figures["ratio"] = ratio.get(run)
    RESULTS_DIR.mkdir(exist_ok=True)
    target = RESULTS_DIR / "batch.json"
    # Each engine's run at each size is kept: a million rows on one engine takes a while, so the
    # engines and sizes are run one at a time and land in the same file.
    kept: Json = json.loads(target.read_text()) if target.exists() else {}
    runs = {k: v for k, v in kept.get("runs", {}).items() if "per_second" in v}
    runs.update(
        {
            f"{run}:{rows}": {**figures, "at": time.strftime("%Y-%m-%d")}
            for run, figures in batch.items()
        }
    )
    results = {"cpus": os.cpu_count(), "runs": runs, "http": http}
    target.write_text(json.dumps(results, indent=2) + "\n")
    print(
        "\n| engine | model | rows | decisions/s | per driver CPU-s | per CPU-s (all processes) "
        "| HTTP /s (1 worker, 8 conns) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for run, b in batch.items():
        engine, model = run.split(":")
        over_http = http.get(model, {}).get("per_second", float("nan"))
        ratio = b["ratio"] if b["ratio"] is not None else float("nan")
        print(
            f"| {engine} | {model} | {b['rows']} | {b['per_second']:.0f} | "
            f"{b['per_cpu_second']:.0f} | {b['per_tree_cpu_second']:.0f} | {over_http:.0f} | "
            f"{ratio:.2f} |"
        )
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
