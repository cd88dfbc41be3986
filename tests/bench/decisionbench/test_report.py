"""The report renders stored runs: the table compares runs, old and new."""

from __future__ import annotations

import json
from typing import Any

from bench.decisionbench.common import RESULTS_DIR
from bench.decisionbench.postgres import chain_sharing_cost, per_cpu_verdict
from bench.decisionbench.report import report


def _stored_run() -> dict[str, Any]:
    results: dict[str, Any] = json.loads((RESULTS_DIR / "latest.json").read_text())
    return results


def test_report_renders_every_section_of_the_stored_run() -> None:
    table = report(_stored_run())

    for heading in (
        "## glassbox decision benchmark",
        "| in-process (one core, no HTTP) | value |",
        "| RSS of a fresh process | MiB |",
        "| decision log | value |",
    ):
        assert heading in table


def test_report_shows_the_services_own_timers_when_a_run_has_them() -> None:
    results = _stored_run()
    alone = results["micro"]["create_decision_sweep"][0]
    alone["compute_ms_per_decision"] = 0.5
    alone["log_wait_ms_per_decision"] = 0.25
    results["micro"]["pieces_us"] = {"parse request (pydantic)": 10.0, "TreeSHAP explain": 100.0}

    table = report(results)

    assert "the service's own timers" in table
    assert "| 0.500 / 0.250 |" in table
    # 500 us of compute, 100 us of it in the pieces it runs (parsing happens before it).
    assert "(pseudonym, objection check, token, submit) (us) | 400 |" in table


def _pg_run(workers: int, hosts: int, per_cpu: float, chains: int = 1) -> dict[str, Any]:
    return {
        "workers_per_host": workers,
        "hosts": hosts,
        "chains": chains,
        "decisions_per_server_cpu_s": per_cpu,
    }


def test_the_postgresql_target_is_judged_on_the_worker_counts_of_one_host() -> None:
    flat = [_pg_run(1, 1, 1000.0), _pg_run(2, 1, 930.0), _pg_run(4, 1, 870.0)]
    assert per_cpu_verdict(flat)["per_cpu_within_15_percent"] is True
    # Two hosts are reported beside the target, not judged by it.
    assert per_cpu_verdict([*flat, _pg_run(1, 2, 500.0)])["per_cpu_within_15_percent"] is True
    falling = [*flat[:2], _pg_run(4, 1, 800.0)]
    verdict = per_cpu_verdict(falling)
    assert verdict["per_cpu_within_15_percent"] is False
    assert round(verdict["per_cpu_spread"], 2) == 0.2
    # One worker count alone says nothing about scaling.
    assert per_cpu_verdict(flat[:1]) == {
        "per_cpu_spread": None,
        "per_cpu_within_15_percent": None,
        "chain_sharing_cost": None,
    }


def test_what_sharing_the_chain_costs_is_judged_against_as_many_servers_with_a_chain_each() -> None:
    runs = [_pg_run(1, 1, 1000.0), _pg_run(2, 1, 800.0), _pg_run(4, 1, 600.0)]
    # Two hosts on one chain are not the control; without the control there is no figure.
    assert chain_sharing_cost([*runs, _pg_run(1, 2, 900.0)]) is None
    assert round(chain_sharing_cost([*runs, _pg_run(1, 4, 750.0, chains=4)]) or 0, 3) == 0.2
    # The control against fewer workers than the most on a host is no control for them.
    assert chain_sharing_cost([*runs, _pg_run(1, 2, 750.0, chains=2)]) is None
    # Sharing may cost nothing: the figure is then negative.
    assert (chain_sharing_cost([*runs, _pg_run(1, 4, 500.0, chains=4)]) or 0) < 0


def test_the_postgresql_table_shows_the_control_and_the_writers_cpu() -> None:
    results = _stored_run()
    results["glassbox"] = {}
    results["meta"]["run_seconds"] = 1.0
    pg = results["postgres"] = json.loads((RESULTS_DIR / "postgres.json").read_text())["postgres"]
    load = next(iter(pg["loads"]))
    labels = pg["loads"][load]["labels"]
    for label in labels:
        pg["runs"][label]["log_writer"]["writer_cpu_ms_per_entry"] = 0.5
    control = {**pg["runs"][labels[-1]], "label": "4 chains", "hosts": 4, "chains": 4}
    control["workers_per_host"] = 1
    pg["runs"]["4 chains"] = control
    pg["loads"][load] = {
        **pg["loads"][load],
        "labels": [*labels, "4 chains"],
        "chain_sharing_cost": 0.25,
    }

    table = report(results)

    assert "| log writer thread CPU ms/decision | 0.500 |" in table
    assert "4 workers sharing one chain get 25.0 % fewer decisions per server" in table
