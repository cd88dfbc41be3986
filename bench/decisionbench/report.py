"""The Markdown table of a run's results, against the targets."""

from __future__ import annotations

import math
from collections.abc import Callable

from .common import CONNECTIONS, TARGETS, Json

__all__ = ["report"]


def _fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def _writer(run: Json, key: str, digits: int = 3) -> str:
    """A log writer's figure of a PostgreSQL run."""
    return _fmt(run["log_writer"].get(key), digits)


def _failed(run: Json) -> str:
    return str(run["throughput"]["non2xx"] + run["throughput"]["socket_errors"])


def _postgres_table(results: Json) -> list[str]:
    """The PostgreSQL scenario: a table per load, one column per configuration."""
    pg = results.get("postgres")
    if not pg:
        return []
    loads: Json = pg.get("loads") or {
        "shared": {
            "labels": list(pg["runs"]),
            "per_cpu_spread": pg["per_cpu_spread"],
            "per_cpu_within_15_percent": pg["per_cpu_within_15_percent"],
        }
    }
    lines: list[str] = []
    for load, verdict in loads.items():
        runs: list[Json] = [pg["runs"][label] for label in verdict["labels"]]
        how = (
            f"{CONNECTIONS} connections per worker"
            if load == "per-worker"
            else f"{CONNECTIONS} connections shared out"
        )

        def cells(get: Callable[[Json], str], runs: list[Json] = runs) -> str:
            return " | ".join(get(r) for r in runs)

        spread = verdict["per_cpu_spread"]
        workers = [r["workers_per_host"] for r in runs if r["hosts"] == 1] or [0]
        lines += [
            "",
            f"### PostgreSQL: one database, 1/2/4 workers and two hosts, and the control "
            f"(closed loop, {how})",
            "",
            "| metric | " + " | ".join(verdict["labels"]) + " |",
            "|---|" + "---|" * len(runs),
            f"| decisions/s | {cells(lambda r: _fmt(r['throughput']['throughput_per_s'], 0))} |",
            f"| p50 ms | {cells(lambda r: _fmt(r['throughput']['latency_ms']['p50']))} |",
            f"| p99 ms | {cells(lambda r: _fmt(r['throughput']['latency_ms']['p99']))} |",
            f"| non-2xx + socket errors | {cells(_failed)} |",
            f"| server CPU ms/decision | "
            f"{cells(lambda r: _fmt(r['server_cpu_ms_per_decision']))} |",
            f"| decisions per server CPU-second | "
            f"{cells(lambda r: _fmt(r['decisions_per_server_cpu_s'], 0))} |",
            f"| PostgreSQL backends CPU ms/decision | "
            f"{cells(lambda r: _fmt(r['postgres_backend_cpu_ms_per_decision']))} |",
            f"| PostgreSQL background CPU ms/decision | "
            f"{cells(lambda r: _fmt(r['postgres_background_cpu_ms_per_decision']))} |",
            f"| chain lock held ms per batch | "
            f"{cells(lambda r: _writer(r, 'lock_held_ms_per_batch'))} |",
            f"| chain lock wait ms per batch | "
            f"{cells(lambda r: _writer(r, 'lock_wait_ms_per_batch'))} |",
            f"| decisions per batch | {cells(lambda r: _writer(r, 'entries_per_batch', 1))} |",
            f"| log writer thread CPU ms/decision | "
            f"{cells(lambda r: _writer(r, 'writer_cpu_ms_per_entry'))} |",
            f"| machine cores busy | {cells(lambda r: _fmt(r['machine_cores_busy']))} |",
            "",
            f"Decisions per server CPU-second vary by {_fmt(spread and spread * 100, 1, ' %')} "
            f"from 1 to {max(workers)} workers on one host (target: within 15 %): "
            f"{_verdict(verdict['per_cpu_within_15_percent'])}.",
        ]
        cost = verdict.get("chain_sharing_cost")
        if cost is not None:
            lines += [
                "",
                f"Against the control ({max(workers)} one-worker servers, a database and chain "
                f"each: as many processes on the same cores), {max(workers)} workers sharing one "
                f"chain get {_fmt(abs(cost) * 100, 1, ' %')} "
                f"{'fewer' if cost >= 0 else 'more'} decisions per server CPU-second.",
            ]
    return lines


def report(results: Json) -> str:
    """The Markdown tables of a run's results (also of a stored ``latest.json``)."""
    glassbox: dict[str, Json] = results["glassbox"]
    if not glassbox:
        return "\n".join(
            [
                f"## glassbox decision benchmark ({results['meta']['mode']}, "
                f"{results['meta']['cpus']} CPUs), PostgreSQL scenario only",
                *_postgres_table(results),
                "",
                f"Total run time {results['meta']['run_seconds']:.0f} s.",
            ]
        )
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
        alone = micro["create_decision_sweep"][0]
        compute_ms = alone.get("compute_ms_per_decision")  # absent from runs before it existed
        if compute_ms is not None:
            # create_decision gets its request parsed: the other pieces run inside its compute.
            inside = sum(us for label, us in micro["pieces_us"].items() if "parse" not in label)
            lines += [
                f"| create_decision, {alone['concurrency']} concurrent, the service's own timers: "
                "compute until the writer has the record / wait until committed (token, body, "
                f"commit) ms | {_fmt(compute_ms, 3)} / "
                f"{_fmt(alone.get('log_wait_ms_per_decision'), 3)} |",
                "| ... that compute beyond the pieces (pseudonym, objection check, token, "
                f"submit) (us) | {_fmt(compute_ms * 1000 - inside, 0)} |",
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
    lines += _postgres_table(results)
    lines.append("")
    lines.append(f"Total run time {results['meta']['run_seconds']:.0f} s.")
    return "\n".join(lines)
