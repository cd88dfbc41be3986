"""Decisions over HTTP, as an application sees them: outcome, exact explanation, notice, log."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.audit.log import read_entries, verify_log
from api.core.tokens import read_subject_token
from api.decisions.models import Decision
from api.decisions.reading import open_decision
from tests.api._support import RawLog
from tests.api.conftest import Service, bearer
from tests.api.decisions.support import fraud_rows, learner_history, logged_and_unlogged
from tests.conftest import TrainedModels


def _decide(service: Service, model: str, body: dict[str, Any], who: str = "shop") -> Any:
    return service.client.post(f"/v1/decisions/{model}", json=body, headers=service.auth(who))


def _check_additivity(decision: dict[str, Any]) -> None:
    contributions = decision["contributions"]
    np.testing.assert_allclose(
        decision["base_value"] + sum(contributions.values()), decision["margin"], atol=1e-9, rtol=0
    )
    assert decision["score"] == pytest.approx(1 / (1 + math.exp(-decision["margin"])), abs=1e-12)


def test_block_decision_is_explained_exactly_logged_and_noticed(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    response = _decide(
        service,
        "fraud",
        {
            "subject_ref": "customer-8841",
            "features": risky,
            "legal_basis": "contract",
            "locale": "es",
        },
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    assert decision["outcome"] == "block"
    assert decision["significant"] is True
    assert decision["model"]["name"] == "fraud"
    assert decision["model"]["version"] == trained.registrations["fraud"].version
    assert decision["model"]["run_id"] == trained.registrations["fraud"].run_id
    assert decision["policy_version"] == "fraud-2026.11"
    _check_additivity(decision)
    # The margin is the model's own: no drift between what is explained and what decided.
    pipeline = trained.results["fraud"].model
    spec = trained.results["fraud"].spec
    frame = pd.DataFrame([{f: risky.get(f) for f in spec.feature_names}])
    assert decision["margin"] == pytest.approx(pipeline.decision_function(frame)[0], abs=1e-9)
    # Main factors: the largest contributions, worded in Spanish.
    factors = decision["factors"]
    assert len(factors) == spec.top_k_factors
    largest = sorted(decision["contributions"].values(), key=abs, reverse=True)[: len(factors)]
    assert [f["contribution"] for f in factors] == pytest.approx(largest)
    assert all(f["sentence"] and f["direction"] in ("raises", "lowers") for f in factors)
    assert "la retención o el bloqueo" in factors[0]["sentence"]
    # The notice tells the person what happened and how to contest (Art. 13(2)(f)).
    notice = decision["notice"]
    assert "bloqueada" in notice["text"]
    assert notice["contest_url"] in notice["text"]
    claims = read_subject_token(
        service.settings.token_signing_key.get_secret_value(), notice["subject_token"]
    )
    assert claims.decision_id == decision["id"]
    # The person's link opens their decision's page with the token in the fragment (never sent
    # to a server); the notice as stored keeps the bare contest URL, never the token.
    assert notice["link"] == f"{notice['contest_url']}&token={notice['subject_token']}"
    assert notice["contest_url"].endswith(f"/subject/#decision={decision['id']}")
    kek = service.settings.key_encryption_key.get_secret_value()
    with service.context.sessions() as session:
        stored = open_decision(session, decision_id=decision["id"], kek=kek).notice
    assert stored == {"text": notice["text"], "contest_url": notice["contest_url"]}
    assert decision["logged"] is True


def test_significant_decision_without_art22_basis_waits_for_a_human(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    blocked = _decide(
        service, "fraud", {"subject_ref": "c-1", "features": risky, "legal_basis": "none"}
    ).json()
    assert blocked["review_required"] is True
    assert "no_art22_basis" in blocked["review_reasons"]
    approved = _decide(
        service, "fraud", {"subject_ref": "c-2", "features": safe, "legal_basis": "none"}
    ).json()
    assert approved["outcome"] == "approve"
    assert approved["review_required"] is False


def test_each_model_answers_with_factors_that_add_up(
    service: Service, trained: TrainedModels
) -> None:
    customers = pd.read_csv(trained.files["churn"].data).head(1)
    spec = trained.results["churn"].spec
    features = {}
    for f in spec.features:
        value = customers.iloc[0][f.name]
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
    churn = _decide(
        service, "churn", {"subject_ref": "learner-1", "features": features, "legal_basis": "none"}
    )
    assert churn.status_code == 201, churn.text
    _check_additivity(churn.json())
    assert churn.json()["outcome"] in {"low", "medium", "high"}

    history = learner_history(trained)
    reco = _decide(
        service,
        "recommendation",
        {"subject_ref": "learner-1", "history": history, "legal_basis": "none", "max_items": 5},
    )
    assert reco.status_code == 201, reco.text
    body = reco.json()
    assert body["personalised"] is True
    assert len(body["items"]) == 5
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    taken = {h["item_id"] for h in history if h["event"] in ("enrol", "complete")}
    assert not taken & {i["item_id"] for i in body["items"]}
    assert all(item["factors"] for item in body["items"])
    _check_additivity(body)


@pytest.mark.parametrize(
    ("features", "field", "message"),
    [
        ({"amount": "lots"}, "features.amount", "must be a number"),
        ({"amount": -5.0}, "features.amount", "at least 0"),
        ({"hour": 7.5}, "features.hour", "whole number"),
        ({"card_present": "yes"}, "features.card_present", "true or false"),
        ({"merchant_category": "casino"}, "features.merchant_category", "must be one of"),
        ({"shoe_size": 42}, "features.shoe_size", "unknown field"),
        ({"health_condition": "diabetes"}, "features.health_condition", "Art. 9"),
    ],
)
def test_bad_features_are_refused_with_the_field_named(
    service: Service, trained: TrainedModels, features: dict[str, Any], field: str, message: str
) -> None:
    _, safe = fraud_rows(trained)
    response = _decide(
        service,
        "fraud",
        {"subject_ref": "c-9", "features": {**safe, **features}, "legal_basis": "contract"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problems = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in problems
    assert message in problems[field]


def test_missing_required_feature_nan_and_unknown_model(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    partial = {k: v for k, v in safe.items() if k != "hour"}
    response = _decide(
        service, "fraud", {"subject_ref": "c", "features": partial, "legal_basis": "law"}
    )
    assert response.status_code == 422
    assert {"field": "features.hour", "message": "field required"} in response.json()["errors"]
    raw = (
        '{"subject_ref": "c", "legal_basis": "law", "features": {"amount": NaN, "hour": Infinity}}'
    )
    response = service.client.post(
        "/v1/decisions/fraud",
        content=raw,
        headers={**service.auth("shop"), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.status_code < 500
    assert (
        _decide(service, "mortgage", {"subject_ref": "c", "legal_basis": "law"}).status_code == 404
    )


def test_a_decision_is_read_back_by_its_application_only(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    created = _decide(
        service, "fraud", {"subject_ref": "c-5", "features": risky, "legal_basis": "contract"}
    ).json()
    path = f"/v1/decisions/{created['id']}"
    mine = service.client.get(path, headers=service.auth("shop"))
    assert mine.status_code == 200
    read = mine.json()
    assert read["notice"]["subject_token"] is None, "a token is handed out once"
    assert read["notice"]["link"] is None, "so is the link that carries it"
    for key in ("outcome", "score", "margin", "factors", "contributions", "model"):
        assert read[key] == created[key], key
    assert service.client.get(path, headers=service.auth("crm")).status_code == 404
    assert service.client.get(path, headers=service.auth("reviewer")).status_code == 403
    assert service.client.get(path).status_code == 401
    unknown = service.client.get("/v1/decisions/" + "0" * 32, headers=service.auth("shop"))
    assert unknown.status_code == 404


def test_log_holds_the_decision_sealed_and_the_chain_verifies(
    service: Service, trained: TrainedModels, settings: Any
) -> None:
    risky, _ = fraud_rows(trained)
    marker = "subject-ref-that-must-not-appear-in-clear"
    created = _decide(
        service, "fraud", {"subject_ref": marker, "features": risky, "legal_basis": "contract"}
    ).json()
    context = service.client.app.state.context  # type: ignore[attr-defined]
    with Session(context.engine) as session:
        assert verify_log(session).ok
        entries = read_entries(session)
    body = next(e.body for e in entries if created["id"] in e.body)
    assert marker not in body
    assert str(risky["amount"]) not in body, "features are sealed, not in clear"
    assert '"sealed"' in body
    if settings.database_url.startswith("sqlite"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):
            assert marker.encode() not in file.read_bytes()


def test_a_logged_decision_is_sealed_once_in_its_entry_and_reads_back_whole(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    fraud, reco = logged_and_unlogged(service, trained, "7")
    context = service.client.app.state.context  # type: ignore[attr-defined]
    kek = context.settings.key_encryption_key.get_secret_value()
    with Session(context.engine) as session:
        logged = session.get(Decision, fraud["id"])
        unlogged = session.get(Decision, reco["id"])
        assert logged is not None and unlogged is not None
        # fraud logs every decision: its fields are in the entry only, where the chain covers them
        assert logged.log_entry_id is not None
        assert (logged.features_ct, logged.explanation_ct, logged.notice_ct) == (b"", b"", b"")
        # an ordinary recommendation is not logged: its row keeps its own sealed fields
        assert unlogged.log_entry_id is None
        assert all(len(ct) > 28 for ct in (unlogged.features_ct, unlogged.notice_ct))
        opened = open_decision(session, decision_id=fraud["id"], kek=kek)
        opened_reco = open_decision(session, decision_id=reco["id"], kek=kek)
    assert set(opened.features) == set(risky)
    assert opened.frozen["explanation"]["margin"] == pytest.approx(fraud["margin"], abs=1e-12)
    assert opened.notice["contest_url"] == fraud["notice"]["contest_url"]
    assert [i["item_id"] for i in opened_reco.frozen["items"]] == [
        i["item_id"] for i in reco["items"]
    ]


def _flip_base64(value: str) -> str:
    # One character of the ciphertext changed, the text still valid base64 of the same length.
    middle = len(value) // 2
    return value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1 :]


def _assert_integrity_problem(response: Any, *secrets: str) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/stored-data-integrity")
    assert problem["instance"].endswith(response.headers["x-request-id"])
    # Nothing of the record is shown, not even the parts that still open.
    assert not any(secret in response.text for secret in secrets)


def test_a_decision_whose_sealed_data_was_altered_is_refused_as_an_integrity_problem(
    service: Service, trained: TrainedModels
) -> None:
    risky, _ = fraud_rows(trained)
    logged, unlogged = logged_and_unlogged(service, trained, "44")
    engine = service.client.app.state.context.engine  # type: ignore[attr-defined]
    raw = RawLog(engine)
    entry = next(row for row in raw.rows() if logged["id"] in row["body"])
    body = json.loads(entry["body"])
    body["sealed"]["features"] = _flip_base64(body["sealed"]["features"])
    raw.drop_guards()
    raw.set(entry["seq"], "body", json.dumps(body))
    with engine.begin() as connection:
        (blob,) = connection.execute(
            text("SELECT features_ct FROM decision WHERE decision_id = :id"),
            {"id": unlogged["id"]},
        ).one()
        connection.execute(
            text("UPDATE decision SET features_ct = :blob WHERE decision_id = :id"),
            {"blob": blob[:20] + bytes([blob[20] ^ 1]) + blob[21:], "id": unlogged["id"]},
        )

    secret = str(risky["amount"])
    for path, headers in (
        (f"/v1/decisions/{logged['id']}", service.auth("shop")),
        (f"/v1/me/decisions/{logged['id']}", bearer(logged["notice"]["subject_token"])),
        (f"/v1/decisions/{unlogged['id']}", service.auth("shop")),
    ):
        _assert_integrity_problem(service.client.get(path, headers=headers), secret)
    # The export lists the record as unreadable instead of failing whole (Art. 15).
    export = service.client.get("/v1/me/export", headers=bearer(logged["notice"]["subject_token"]))
    assert export.status_code == 200, export.text
    assert [d["status"] for d in export.json()["decisions"]] == ["unreadable"]
    assert secret not in export.text
    # The auditor's check names the altered entry; the untouched decisions still read back.
    verified = service.client.get("/v1/audit/verify", headers=service.auth("auditor")).json()
    assert (verified["ok"], verified["first_bad_seq"]) == (False, entry["seq"])
    other = _decide(
        service, "fraud", {"subject_ref": "c-45", "features": risky, "legal_basis": "contract"}
    ).json()
    assert service.client.get(
        f"/v1/decisions/{other['id']}", headers=service.auth("shop")
    ).is_success


def test_reload_serves_a_moved_alias_without_restart(
    service: Service, trained: TrainedModels
) -> None:
    from models.registry import log_training, promote

    first = trained.registrations["fraud"].version
    assert first is not None
    second = log_training(
        trained.results["fraud"],
        tracking_uri=trained.tracking_uri,
        data_source="reload-test",
        force_promote=True,
    )
    try:
        assert second.version is not None
        # Serving keeps the version it loaded until told to reload.
        risky, _ = fraud_rows(trained)
        body = {"subject_ref": "c-7", "features": risky, "legal_basis": "contract"}
        assert _decide(service, "fraud", body).json()["model"]["version"] == first
        forbidden = service.client.post(
            "/v1/admin/models/fraud/reload", headers=service.auth("shop")
        )
        assert forbidden.status_code == 403
        reloaded = service.client.post(
            "/v1/admin/models/fraud/reload", headers=service.auth("admin")
        )
        assert reloaded.status_code == 200
        assert reloaded.json()["version"] == second.version
        assert _decide(service, "fraud", body).json()["model"]["version"] == second.version
    finally:
        promote("fraud", first, tracking_uri=trained.tracking_uri)


def test_no_new_decision_is_recorded_about_an_erased_person(
    service: Service, trained: TrainedModels
) -> None:
    from api.vault.keys import shred_subject_key

    _, safe = fraud_rows(trained)
    body = {"subject_ref": "erased-person", "features": safe, "legal_basis": "contract"}
    first = _decide(service, "fraud", body)
    assert first.status_code == 201
    context = service.client.app.state.context  # type: ignore[attr-defined]
    pseudonym = service.pseudonym("erased-person")
    with Session(context.engine) as session:
        assert shred_subject_key(session, pseudonym=pseudonym)
    refused = _decide(service, "fraud", body)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    gone = service.client.get(f"/v1/decisions/{first.json()['id']}", headers=service.auth("shop"))
    assert gone.status_code == 409, "the decision's details were shredded with the key"
    other = _decide(service, "fraud", {**body, "subject_ref": "someone-else"})
    assert other.status_code == 201
    with Session(context.engine) as session:
        assert verify_log(session).ok, "erasure never breaks the chain"


def test_inputs_of_the_other_kind_of_model_are_refused(
    service: Service, trained: TrainedModels
) -> None:
    _, safe = fraud_rows(trained)
    history = [{"item_id": "I00001", "event": "view"}]
    fraud = _decide(
        service,
        "fraud",
        {"subject_ref": "c", "features": safe, "history": history, "legal_basis": "law"},
    )
    assert fraud.status_code == 422
    assert fraud.json()["errors"][0]["field"] == "history"
    reco = _decide(
        service,
        "recommendation",
        {"subject_ref": "c", "features": {"amount": 1}, "history": history, "legal_basis": "law"},
    )
    assert reco.status_code == 422
    assert reco.json()["errors"][0]["field"] == "features"
