"""Erasure cannot be undone: it is confirmed explicitly, needs a recently issued link, and a
legal hold that keeps part of the data leaves the request completed for what could be done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api.core.settings import SECRET_NAMES, Settings
from api.core.timestamps import utc_now
from api.core.tokens import issue_subject_token
from api.rights.erasure import erase_subject
from api.subjects.security import Subject
from tests.api.conftest import Service, assert_problem, bearer, random_secret
from tests.api.decisions.support import fraud_rows
from tests.api.rights.support import CONFIRM, decide, me
from tests.conftest import TrainedModels


def _fraud(service: Service, ref: str, trained: TrainedModels) -> dict[str, Any]:
    _, safe = fraud_rows(trained)
    response = decide(
        service, "fraud", {"subject_ref": ref, "features": safe, "legal_basis": "contract"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _token_issued(service: Service, ref: str, decision_id: str, ago: timedelta) -> str:
    token, _ = issue_subject_token(
        service.settings.token_signing_key.get_secret_value(),
        pseudonym=service.pseudonym(ref),
        decision_id=decision_id,
        ttl=timedelta(days=90),
        now=utc_now() - ago,
    )
    return token


def test_an_erasure_is_refused_without_an_explicit_confirmation(
    service: Service, trained: TrainedModels
) -> None:
    decision = _fraud(service, "erase-unsure", trained)
    token = decision["notice"]["subject_token"]
    # Five: each counts against the person's rights requests (5 a minute).
    for body in (None, {}, {"confirm": False}, {"confirm": "yes"}):
        problem = assert_problem(me(service, "POST", "/erasure", token, json=body), 422)
        assert [e["field"] for e in problem["errors"]] == ["confirm"], (body, problem)
    extra = assert_problem(
        me(service, "POST", "/erasure", token, json={"confirm": True, "now": "x"}), 422
    )
    assert [e["field"] for e in extra["errors"]] == ["now"]
    # Nothing was erased nor recorded.
    assert me(service, "GET", f"/decisions/{decision['id']}", token).status_code == 200
    assert me(service, "GET", "/rights", token).json()["requests"] == []


def test_an_erasure_with_a_stale_link_is_refused_and_says_how_to_get_a_fresh_one(
    service: Service, trained: TrainedModels
) -> None:
    decision = _fraud(service, "erase-stale", trained)
    stale = _token_issued(service, "erase-stale", decision["id"], timedelta(minutes=16))
    # The stale link still reads and exercises reversible rights.
    assert me(service, "GET", f"/decisions/{decision['id']}", stale).status_code == 200
    problem = assert_problem(
        me(service, "POST", "/erasure", stale, json=CONFIRM), 403, "token-too-old"
    )
    assert "15 minutes" in problem["detail"] and "fresh link" in problem["detail"]
    spanish = assert_problem(
        service.client.post(
            "/v1/me/erasure", json=CONFIRM, headers={**bearer(stale), "Accept-Language": "es"}
        ),
        403,
        "token-too-old",
    )
    assert "15 minutos" in spanish["detail"] and "enlace nuevo" in spanish["detail"]
    assert me(service, "GET", "/rights", stale).json()["requests"] == []

    # The application that decided gives a fresh link; with it the erasure goes through.
    link = service.client.post(
        "/v1/subjects/links", json={"subject_ref": "erase-stale"}, headers=service.auth("shop")
    )
    assert link.status_code == 201, link.text
    fresh = link.json()["subject_token"]
    erased = me(service, "POST", "/erasure", fresh, json=CONFIRM)
    assert erased.status_code == 201, erased.text
    # Just within the policy's age is still fresh.
    other = _fraud(service, "erase-recent", trained)
    recent = _token_issued(service, "erase-recent", other["id"], timedelta(minutes=14))
    assert me(service, "POST", "/erasure", recent, json=CONFIRM).status_code == 201


def test_an_erasure_held_in_part_is_completed_never_overdue(
    service: Service, trained: TrainedModels
) -> None:
    decision = _fraud(service, "erase-held", trained)
    token = decision["notice"]["subject_token"]
    answer = me(service, "POST", "/erasure", token, json=CONFIRM)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    (kept,) = body["kept"]
    assert kept["hold"] == "retention" and kept["until"]
    request = body["request"]
    assert request["status"] == "completed" and request["completed_at"]
    assert request["outcome"]["kept"][0]["until"] and request["outcome"]["kept"][0]["reason"]

    (listed,) = me(service, "GET", "/rights", token).json()["requests"]
    assert listed["status"] == "completed" and listed["outcome"]["kept"]

    # Received long ago, due long ago: completed for what could be done, so never overdue.
    pseudonym = service.pseudonym("erase-held-earlier")
    erase_subject(
        service.context,
        subject=Subject(
            pseudonym=pseudonym,
            token_id="t" * 32,
            decision_id=decision["id"],
            scopes=frozenset(),
            expires_at=utc_now(),
            issued_at=utc_now(),
        ),
        now=utc_now() - timedelta(days=400),
    )
    audited = service.client.get(
        "/v1/audit/rights-requests", headers=service.auth("auditor"), params={"kind": "erasure"}
    )
    assert audited.status_code == 200, audited.text
    assert [(r["status"], r["overdue"]) for r in audited.json()] == [
        ("completed", False),
        ("completed", False),
    ]
    pending = service.client.get(
        "/v1/audit/rights-requests", headers=service.auth("auditor"), params={"status": "pending"}
    )
    assert pending.json() == []


@pytest.mark.parametrize(
    ("value", "age"),
    [("600", timedelta(minutes=10)), ("PT1H", timedelta(hours=1)), ("P1D", timedelta(days=1))],
)
def test_the_token_age_policy_reads_seconds_or_iso_8601(
    monkeypatch: pytest.MonkeyPatch, value: str, age: timedelta
) -> None:
    for name in SECRET_NAMES:
        monkeypatch.setenv(f"GLASSBOX_{name.upper()}", random_secret())
    monkeypatch.setenv("GLASSBOX_IRREVERSIBLE_MAX_TOKEN_AGE", value)
    assert Settings().irreversible_max_token_age == age
    monkeypatch.setenv("GLASSBOX_IRREVERSIBLE_MAX_TOKEN_AGE", "0")
    with pytest.raises(ValueError, match="irreversible_max_token_age"):
        Settings()
