"""The report renders stored runs: the table compares runs, old and new."""

from __future__ import annotations

import json
from typing import Any

from bench.decisionbench.common import RESULTS_DIR
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
