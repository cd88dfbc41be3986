"""The person's side, over HTTP with only the token from their notice."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows, learner_history
from tests.conftest import TrainedModels


def _decide(service: Service, model: str, body: dict[str, Any], who: str = "shop") -> Any:
    response = service.client.post(f"/v1/decisions/{model}", json=body, headers=service.auth(who))
    assert response.status_code == 201, response.text
    return response.json()


def _block(service: Service, trained: TrainedModels, subject: str, **extra: Any) -> Any:
    risky, _ = fraud_rows(trained)
    body = {"subject_ref": subject, "features": risky, "legal_basis": "contract", **extra}
    return _decide(service, "fraud", body)


def _me(service: Service, path: str, token: str, **kwargs: Any) -> Any:
    return service.client.get(f"/v1/me{path}", headers=bearer(token), **kwargs)


def test_the_person_reads_the_frozen_explanation_in_both_languages(
    service: Service, trained: TrainedModels
) -> None:
    decision = _block(service, trained, "customer-1", locale="es")
    token = decision["notice"]["subject_token"]

    shown = _me(service, f"/decisions/{decision['id']}", token)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["locale"] == "es"
    assert body["outcome"] == "block"
    assert body["outcome_label"] == decision["outcome_label"]
    assert body["score"] == decision["score"]
    # In the decision's own language: exactly the factors the person was shown then.
    assert body["factors"] == decision["factors"]
    assert body["notice"] == decision["notice"]["text"]
    # The data used, every feature, labelled for a person.
    spec = trained.results["fraud"].spec
    assert [d["feature"] for d in body["data_used"]] == spec.feature_names
    amount = next(d for d in body["data_used"] if d["feature"] == "amount")
    assert amount["label"] == spec.feature("amount").label.es
    # What the person can act on, offered for correction when they contest (Art. 16).
    correctable = {c["feature"]: c for c in body["correctable"]}
    assert set(correctable) == {f.name for f in spec.features if f.actionable}
    assert correctable["amount"]["value"] == amount["value"]
    assert correctable["amount"]["label"] == amount["label"]
    assert correctable["amount"]["type"] == "number"

    english = _me(service, f"/decisions/{decision['id']}", token, params={"locale": "en"}).json()
    assert english["locale"] == "en"
    # Same frozen figures, other words.
    assert [f["contribution"] for f in english["factors"]] == [
        f["contribution"] for f in decision["factors"]
    ]
    assert [f["sentence"] for f in english["factors"]] != [f["sentence"] for f in body["factors"]]
    # Worded by what a higher score means under the fraud policy.
    assert "a hold or block" in english["factors"][0]["sentence"]
    label = next(b.label.en for b in spec.policy.bands if b.outcome == "block")
    assert english["outcome_label"] == label
    assert english["outcome_labels"] == {b.outcome: b.label.en for b in spec.policy.bands}

    bad = _me(service, f"/decisions/{decision['id']}", token, params={"locale": "fr"})
    assert_problem(bad, 422)


def test_the_person_lists_every_decision_about_them_and_nobody_elses(
    service: Service, trained: TrainedModels
) -> None:
    first = _block(service, trained, "customer-2")
    _, safe = fraud_rows(trained)
    # Another application deciding about the same person: still the same person.
    second = _decide(
        service,
        "fraud",
        {"subject_ref": "customer-2", "features": safe, "legal_basis": "contract"},
        who="crm",
    )
    other = _block(service, trained, "customer-3")

    listed = _me(service, "/decisions", first["notice"]["subject_token"])
    assert listed.status_code == 200, listed.text
    ids = [d["id"] for d in listed.json()]
    assert sorted(ids) == sorted([first["id"], second["id"]])
    assert other["id"] not in ids
    assert ids[0] == second["id"]  # newest first


def test_another_persons_token_never_reads_a_decision(
    service: Service, trained: TrainedModels
) -> None:
    mine = _block(service, trained, "customer-4")
    theirs = _block(service, trained, "customer-5")
    response = _me(service, f"/decisions/{mine['id']}", theirs["notice"]["subject_token"])
    # The same answer as for a decision that does not exist: no probing of ids.
    assert_problem(response, 404)
    missing = _me(service, f"/decisions/{'0' * 32}", theirs["notice"]["subject_token"])
    assert_problem(missing, 404)
    assert response.json()["detail"].replace(mine["id"], "X") == missing.json()["detail"].replace(
        "0" * 32, "X"
    )


def test_a_revoked_token_is_refused_at_once_and_only_that_token(
    service: Service, trained: TrainedModels
) -> None:
    first = _block(service, trained, "customer-6")
    second = _block(service, trained, "customer-6")
    token = first["notice"]["subject_token"]
    assert _me(service, "/decisions", token).status_code == 200
    revoked = service.client.delete("/v1/me/token", headers=bearer(token))
    assert revoked.status_code == 204
    assert_problem(_me(service, "/decisions", token), 401)
    assert_problem(_me(service, f"/decisions/{first['id']}", token), 401)
    # Revoking again with the revoked token is refused too; the other token still works.
    assert_problem(service.client.delete("/v1/me/token", headers=bearer(token)), 401)
    assert _me(service, f"/decisions/{first['id']}", second["notice"]["subject_token"]).is_success


def test_an_api_key_is_not_a_subjects_credential(service: Service, trained: TrainedModels) -> None:
    decision = _block(service, trained, "customer-7")
    for who in ("shop", "reviewer", "admin"):
        response = _me(service, f"/decisions/{decision['id']}", service.keys[who])
        assert_problem(response, 401)


def test_the_learner_sees_each_recommended_item_with_its_reasons(
    service: Service, trained: TrainedModels
) -> None:
    history = learner_history(trained)
    decision = _decide(
        service,
        "recommendation",
        {"subject_ref": "learner-9", "history": history, "legal_basis": "none", "max_items": 3},
    )
    token = decision["notice"]["subject_token"]
    body = _me(service, f"/decisions/{decision['id']}", token).json()
    assert [i["item_id"] for i in body["items"]] == [i["item_id"] for i in decision["items"]]
    assert [i["factors"] for i in body["items"]] == [i["factors"] for i in decision["items"]]
    assert len(body["data_used"]) == len(history)
    spanish = _me(service, f"/decisions/{decision['id']}", token, params={"locale": "es"}).json()
    assert all(item["factors"] for item in spanish["items"])
    assert (
        spanish["items"][0]["factors"][0]["sentence"] != body["items"][0]["factors"][0]["sentence"]
    )


@pytest.mark.parametrize("path", ["/decisions", "/decisions/" + "a" * 32])
def test_no_token_no_access(service: Service, path: str) -> None:
    response = service.client.get(f"/v1/me{path}")
    body = assert_problem(response, 401)
    assert "token" in body["detail"]
    assert "set-cookie" not in response.headers
