"""The oversight switch over HTTP: a model handed to humans, paused, given back, on every worker.

AI Act Art. 14(4)(e): a person can stop the system. ``human_only`` holds every decision for a
reviewer exactly as policy holds one without an Art. 22(2) basis; ``paused`` refuses decisions
with a 503 and records nothing; every change is in the log with the admin's key and reason.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from api.audit.log import read_entries
from api.audit.models import LogEntry
from api.audit.schemas import EntryKind
from api.core.models import ApiKey
from api.core.settings import Settings
from api.decisions.models import Decision, OversightMode
from api.decisions.oversight import REFRESH_SECONDS
from api.reviews.models import ReviewCase
from tests.api.conftest import Service, assert_problem, serve
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

OVERSIGHT = "/v1/admin/models/fraud/oversight"


def _switch(service: Service, mode: str, reason: str, *, who: str = "admin") -> Any:
    return service.client.put(
        OVERSIGHT, json={"mode": mode, "reason": reason}, headers=service.auth(who)
    )


def _decide(service: Service, features: dict[str, Any], subject_ref: str) -> Any:
    return service.client.post(
        "/v1/decisions/fraud",
        json={"subject_ref": subject_ref, "features": features, "legal_basis": "contract"},
        headers=service.auth("shop"),
    )


def _counts(service: Service) -> tuple[int, int, int]:
    with service.context.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Decision)) or 0,
            session.scalar(select(func.count()).select_from(ReviewCase)) or 0,
            session.scalar(select(func.count()).select_from(LogEntry)) or 0,
        )


def test_automated_until_an_admin_says_otherwise(service: Service) -> None:
    read = service.client.get(OVERSIGHT, headers=service.auth("admin"))
    assert read.status_code == 200, read.text
    assert read.json() == {
        "model": "fraud",
        "mode": "automated",
        "reason": None,
        "set_by": None,
        "set_at": None,
        "log_entry_id": None,
    }


def test_human_only_holds_every_decision_for_a_reviewer(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    switched = _switch(service, "human_only", "new fraud pattern under investigation")
    assert switched.status_code == 200, switched.text
    assert switched.json()["mode"] == "human_only"

    held = _decide(service, safe, "c-held")
    assert held.status_code == 201, held.text
    decision = held.json()
    # A safe transaction with a contract basis: only the switch holds it.
    assert decision["outcome"] == "approve"
    assert decision["review_required"] is True
    assert decision["review_reasons"] == ["human_oversight"]
    assert decision["logged"] is True
    queue = service.client.get("/v1/reviews/cases", headers=service.auth("reviewer"))
    assert queue.status_code == 200, queue.text
    (case,) = [c for c in queue.json() if c["decision_id"] == decision["id"]]
    assert case["origin"] == "policy" and case["state"] == "open" and case["model"] == "fraud"

    back = _switch(service, "automated", "investigation closed")
    assert back.status_code == 200, back.text
    free = _decide(service, safe, "c-free").json()
    assert free["review_required"] is False and free["review_reasons"] == []


def test_paused_refuses_decisions_and_records_nothing(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    assert _switch(service, "paused", "scores drifted after the 2.3 release").status_code == 200
    before = _counts(service)
    for features in (risky, safe):
        refused = _decide(service, features, "c-paused")
        body = assert_problem(refused, 503, "model-paused")
        assert "fraud" in body["detail"]
        assert "scores drifted after the 2.3 release" in body["detail"]
    assert _counts(service) == before
    # Other models decide as before.
    assert service.client.get(
        "/v1/admin/models/churn/oversight", headers=service.auth("admin")
    ).json()["mode"] == ("automated")

    assert _switch(service, "automated", "release rolled back").status_code == 200
    resumed = _decide(service, safe, "c-paused")
    assert resumed.status_code == 201, resumed.text


def test_only_an_admin_switches_and_reads_it(service: Service) -> None:
    for who in ("shop", "reviewer", "auditor"):
        assert_problem(_switch(service, "paused", "not yours", who=who), 403, "forbidden")
        assert_problem(service.client.get(OVERSIGHT, headers=service.auth(who)), 403)
    assert_problem(service.client.put(OVERSIGHT, json={"mode": "paused", "reason": "x"}), 401)
    assert (
        service.client.get(OVERSIGHT, headers=service.auth("admin")).json()["mode"] == "automated"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "off", "reason": "a reason"}, "mode"),
        ({"mode": "paused"}, "reason"),
        ({"mode": "paused", "reason": "   "}, "reason"),
        ({"mode": "paused", "reason": "x" * 501}, "reason"),
        ({"mode": "paused", "reason": "a reason", "until": "tomorrow"}, "until"),
    ],
)
def test_a_bad_switch_is_refused_by_field(
    service: Service, body: dict[str, Any], field: str
) -> None:
    refused = service.client.put(OVERSIGHT, json=body, headers=service.auth("admin"))
    problem = assert_problem(refused, 422, "invalid-request")
    assert [e["field"] for e in problem["errors"]] == [field]


def test_an_unknown_model_is_not_found(service: Service) -> None:
    refused = service.client.put(
        "/v1/admin/models/nosuch/oversight",
        json={"mode": "paused", "reason": "a reason"},
        headers=service.auth("admin"),
    )
    assert_problem(refused, 404)


def test_every_change_is_logged_with_who_and_why(service: Service) -> None:
    first = _switch(service, "human_only", "reviewers asked to see every block").json()
    second = _switch(service, "paused", "incident 42: feature pipeline broken").json()
    with service.context.sessions() as session:
        entries = [
            e
            for e in read_entries(session, limit=1000)
            if e.kind == EntryKind.MODEL_OVERSIGHT.value
        ]
        admin_key_id = session.scalar(select(ApiKey.key_id).where(ApiKey.name == "admin"))
    assert [e.entry_id for e in entries] == [first["log_entry_id"], second["log_entry_id"]]
    bodies = [json.loads(e.body) for e in entries]
    assert [(b["model"], b["from"], b["to"], b["reason"]) for b in bodies] == [
        ("fraud", "automated", "human_only", "reviewers asked to see every block"),
        ("fraud", "human_only", "paused", "incident 42: feature pipeline broken"),
    ]
    # Who: the admin's key, the same one the read names.
    assert {b["set_by"] for b in bodies} == {admin_key_id} == {second["set_by"]}
    assert all(e.subject_pseudonym is None for e in entries)
    read = service.client.get(OVERSIGHT, headers=service.auth("admin")).json()
    assert read == second and read["mode"] == "paused"
    verified = service.client.get("/v1/audit/verify", headers=service.auth("auditor"))
    assert verified.status_code == 200 and verified.json()["ok"] is True


def _poll_until(condition: Any, *, within: float) -> float:
    """Seconds until ``condition()`` held; fails when it did not within ``within`` seconds."""
    started = time.monotonic()
    while not condition():
        waited = time.monotonic() - started
        assert waited < within, f"not in force after {waited:.2f} s"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_switch_through_one_worker_is_in_force_on_another_within_a_second(
    service_settings: Settings, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    with (
        serve(service_settings) as first,
        serve(service_settings, keys=first.keys) as second,
    ):
        assert _decide(second, safe, "c-before").status_code == 201
        assert _switch(first, "paused", "stopped from the first worker").status_code == 200
        _poll_until(lambda: second.context.oversight.mode("fraud").paused, within=1.0)
        assert_problem(_decide(second, safe, "c-during"), 503, "model-paused")

        assert _switch(first, "human_only", "handed to humans").status_code == 200
        _poll_until(lambda: second.context.oversight.mode("fraud").human_only, within=1.0)
        held = _decide(second, safe, "c-held").json()
        assert held["review_reasons"] == ["human_oversight"]

        # The refresh can also be advanced explicitly: no waiting at all.
        assert _switch(first, "automated", "back to the model").status_code == 200
        second.context.oversight.refresh()
        assert second.context.oversight.mode("fraud").mode is OversightMode.AUTOMATED
        assert _decide(second, safe, "c-after").json()["review_required"] is False
        # The modes a worker holds are never older than the refresh interval plus one read.
        age = second.context.oversight.age
        assert age is not None and age < REFRESH_SECONDS + 0.5
