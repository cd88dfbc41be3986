"""Contest and review over HTTP, as the application, the person and the reviewers see it."""

from __future__ import annotations

from typing import Any

from api.audit.log import read_entries
from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels


def _decide(service: Service, trained: TrainedModels, subject: str, **extra: Any) -> Any:
    risky, _ = fraud_rows(trained)
    body = {"subject_ref": subject, "features": risky, "legal_basis": "contract", **extra}
    response = service.client.post("/v1/decisions/fraud", json=body, headers=service.auth("shop"))
    assert response.status_code == 201, response.text
    return response.json()


def _contest(
    service: Service, decision: Any, body: dict[str, Any], token: str | None = None
) -> Any:
    return service.client.post(
        f"/v1/me/decisions/{decision['id']}/contest",
        json=body,
        headers=bearer(token or decision["notice"]["subject_token"]),
    )


def _as(service: Service, who: str, method: str, path: str, **kwargs: Any) -> Any:
    return service.client.request(method, path, headers=service.auth(who), **kwargs)


def test_block_contest_review_overturn_end_to_end(service: Service, trained: TrainedModels) -> None:
    # The application gets a block; the person reads it in Spanish with their token alone.
    decision = _decide(
        service, trained, "customer-e2e", locale="es", callback_url="https://shop.example/hook"
    )
    assert decision["outcome"] == "block"
    token = decision["notice"]["subject_token"]
    me = bearer(token)
    shown = service.client.get(f"/v1/me/decisions/{decision['id']}", headers=me)
    assert shown.status_code == 200 and shown.json()["locale"] == "es"

    # They contest with a corrected value.
    contested = _contest(
        service,
        decision,
        {
            "statement": "Estaba de viaje; la compra la hice yo.",
            "corrections": {"distance_from_home_km": 2.0, "country_mismatch": False},
        },
    )
    assert contested.status_code == 201, contested.text
    case = contested.json()
    assert case["state"] == "open" and case["origin"] == "contest"
    assert case["due_at"] > case["received_at"] and not case["overdue"]
    case_id = case["case_id"]

    # A reviewer finds it in the queue, claims it and sees everything, re-scores included.
    queue = _as(service, "reviewer", "GET", "/v1/reviews/cases").json()
    assert case_id in [c["case_id"] for c in queue]
    claimed = _as(service, "reviewer", "POST", f"/v1/reviews/cases/{case_id}/claim")
    assert claimed.status_code == 200 and claimed.json()["state"] == "assigned"
    taken = _as(service, "reviewer2", "POST", f"/v1/reviews/cases/{case_id}/claim")
    assert_problem(taken, 409, "conflict")
    view = _as(service, "reviewer", "GET", f"/v1/reviews/cases/{case_id}").json()
    assert view["statement"].startswith("Estaba de viaje")
    assert view["corrections"] == {"distance_from_home_km": 2.0, "country_mismatch": False}
    assert view["decision"]["features"]["distance_from_home_km"] > 2.0
    assert view["decision"]["explanation"]["values"], "every SHAP value"
    for rescore in (view["rescore_deciding"], view["rescore_champion"]):
        assert rescore["corrected"] and rescore["model_version"] == decision["model"]["version"]
        assert 0.0 <= rescore["score"] <= 1.0
    assert view["rescore_deciding"]["score"] < decision["score"]

    # Overturning a block takes four eyes (fraud policy): proposed, then approved by another.
    resolve = {
        "resolution": "overturn",
        "outcome": "approve",
        "rationale": "El cliente estaba de viaje y la tarjeta es suya.",
    }
    bad = _as(service, "reviewer2", "POST", f"/v1/reviews/cases/{case_id}/resolve", json=resolve)
    assert_problem(bad, 403, "forbidden")
    wrong = {**resolve, "outcome": "refund"}
    invalid = _as(service, "reviewer", "POST", f"/v1/reviews/cases/{case_id}/resolve", json=wrong)
    assert assert_problem(invalid, 422)["errors"][0]["field"] == "outcome"
    blank = {**resolve, "rationale": "   "}
    invalid = _as(service, "reviewer", "POST", f"/v1/reviews/cases/{case_id}/resolve", json=blank)
    assert assert_problem(invalid, 422)["errors"][0]["field"] == "rationale"
    proposed = _as(
        service, "reviewer", "POST", f"/v1/reviews/cases/{case_id}/resolve", json=resolve
    )
    assert proposed.status_code == 200 and proposed.json()["awaiting_second_reviewer"]
    same = _as(service, "reviewer", "POST", f"/v1/reviews/cases/{case_id}/approve")
    assert_problem(same, 403)
    approved = _as(service, "reviewer2", "POST", f"/v1/reviews/cases/{case_id}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "resolved" and approved.json()["outcome"] == "approve"

    # The person sees the new outcome and the reasons; the old decision stays as it was.
    mine = service.client.get(f"/v1/me/cases/{case_id}", headers=me).json()
    assert mine["state"] == "resolved" and mine["outcome"] == "approve"
    assert mine["previous_outcome"] == "block"
    assert mine["rationale"] == resolve["rationale"]
    human_id = mine["human_decision_id"]
    decisions = service.client.get("/v1/me/decisions", headers=me).json()
    outcomes = {d["id"]: d["outcome"] for d in decisions}
    assert outcomes == {decision["id"]: "block", human_id: "approve"}
    human = service.client.get(f"/v1/me/decisions/{human_id}", headers=me)
    assert human.status_code == 200 and human.json()["outcome"] == "approve"
    assert human.json()["decided_by"] == "human"
    assert human.json()["supersedes_decision_id"] == decision["id"]
    assert human.json()["human_review"]["rationale"] == resolve["rationale"]
    assert human.json()["outcome_label"] == "aprobada"
    assert service.client.get("/v1/me/cases", headers=me).json()[0]["case_id"] == case_id
    again = _contest(service, decision, {"statement": "once more"})
    assert_problem(again, 409)

    # The application is told, with ids and outcomes only.
    hooks = _as(service, "shop", "GET", f"/v1/decisions/{decision['id']}/webhooks").json()
    (delivery,) = hooks["deliveries"]
    assert delivery["event"] == "decision.superseded"
    assert delivery["payload"]["human_decision_id"] == human_id
    assert (delivery["payload"]["previous_outcome"], delivery["payload"]["outcome"]) == (
        "block",
        "approve",
    )
    assert "viaje" not in str(delivery["payload"])

    # The log verifies and holds every step, sealed.
    verified = _as(service, "auditor", "GET", "/v1/audit/verify").json()
    assert verified["ok"], verified
    # Both decision rows, the model's and the human's, match their MACs and their entries.
    assert (verified["decisions_checked"], verified["bad_decisions"]) == (2, [])
    pseudonym = service.pseudonym("customer-e2e")
    with service.context.sessions() as session:
        entries = read_entries(session, subject_pseudonym=pseudonym, limit=100)
    steps = [(e.kind, e.body_data().get("transition")) for e in entries]
    assert steps == [
        ("decision", None),
        ("contest", "open"),
        ("case_transition", "claim"),
        ("case_transition", "propose"),
        ("human_outcome", "resolve"),
    ]
    assert "viaje" not in "".join(e.body for e in entries)

    stats = _as(service, "auditor", "GET", "/v1/audit/reviewers").json()
    (stat,) = stats
    assert stat["reviewer_name"] == "reviewer" and stat["overturn_rate"] == 1.0
    assert _as(service, "reviewer", "GET", "/v1/audit/reviewers").status_code == 403


def test_a_decision_that_needs_a_human_first_is_queued_with_it(
    service: Service, trained: TrainedModels
) -> None:
    decision = _decide(service, trained, "customer-policy", legal_basis="none")
    assert decision["review_required"]
    queue = _as(service, "reviewer", "GET", "/v1/reviews/cases").json()
    (case,) = [c for c in queue if c["decision_id"] == decision["id"]]
    assert case["origin"] == "policy" and case["state"] == "open"
    # The person sees that case as theirs, and adds their say to it (a voice in every case);
    # once they have spoken, another contest of the same decision is refused.
    token = decision["notice"]["subject_token"]
    (mine,) = service.client.get("/v1/me/cases", headers=bearer(token)).json()
    assert mine["case_id"] == case["case_id"] and mine["statement"] is None
    joined = _contest(service, decision, {"statement": "me"})
    assert joined.status_code == 201, joined.text
    assert joined.json()["case_id"] == case["case_id"] and joined.json()["statement"] == "me"
    assert_problem(_contest(service, decision, {"statement": "me again"}), 409)
    # Escalating it again is refused; escalating another decision opens a case.
    other = _decide(service, trained, "customer-escalated")
    path = f"/v1/reviews/decisions/{decision['id']}/escalate"
    assert_problem(_as(service, "reviewer", "POST", path), 409)
    escalated = _as(service, "reviewer", "POST", f"/v1/reviews/decisions/{other['id']}/escalate")
    assert escalated.status_code == 201 and escalated.json()["origin"] == "escalation"


def test_contest_input_is_checked_and_named(service: Service, trained: TrainedModels) -> None:
    decision = _decide(service, trained, "customer-input")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"statement": ""}, "statement"),
        ({"statement": "x" * 5001}, "statement"),
        ({"statement": "ok", "corrections": {"shoe_size": 42}}, "corrections.shoe_size"),
        ({"statement": "ok", "corrections": {"religion": "x"}}, "corrections.religion"),
        ({"statement": "ok", "corrections": {"hour": "late"}}, "corrections.hour"),
        ({"statement": "ok", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        problem = assert_problem(_contest(service, decision, body), 422)
        assert [e["field"] for e in problem["errors"]] == [field], problem
    assert (
        service.client.get(
            "/v1/me/cases", headers=bearer(decision["notice"]["subject_token"])
        ).json()
        == []
    )


def test_another_persons_token_reaches_nothing_of_a_case(
    service: Service, trained: TrainedModels
) -> None:
    mine = _decide(service, trained, "customer-a")
    theirs = _decide(service, trained, "customer-b")
    case = _contest(service, mine, {"statement": "not me"}).json()
    intruder = theirs["notice"]["subject_token"]
    assert_problem(_contest(service, mine, {"statement": "x"}, token=intruder), 404)
    headers = bearer(intruder)
    assert_problem(service.client.get(f"/v1/me/cases/{case['case_id']}", headers=headers), 404)
    withdraw = service.client.post(f"/v1/me/cases/{case['case_id']}/withdraw", headers=headers)
    assert_problem(withdraw, 404)
    assert service.client.get("/v1/me/cases", headers=headers).json() == []
    # A person's token is no reviewer's key.
    for method, path in [
        ("GET", "/v1/reviews/cases"),
        ("GET", f"/v1/reviews/cases/{case['case_id']}"),
        ("POST", f"/v1/reviews/cases/{case['case_id']}/claim"),
    ]:
        response = service.client.request(
            method, path, headers=bearer(mine["notice"]["subject_token"])
        )
        assert_problem(response, 403)
    # The owner withdraws; a withdrawn case cannot be claimed or withdrawn again.
    owner = bearer(mine["notice"]["subject_token"])
    done = service.client.post(f"/v1/me/cases/{case['case_id']}/withdraw", headers=owner)
    assert done.status_code == 200 and done.json()["state"] == "withdrawn"
    assert_problem(
        service.client.post(f"/v1/me/cases/{case['case_id']}/withdraw", headers=owner), 409
    )
    claim = _as(service, "reviewer", "POST", f"/v1/reviews/cases/{case['case_id']}/claim")
    assert_problem(claim, 409)


def test_text_and_numbers_a_column_cannot_hold_are_refused_by_field(
    service: Service, trained: TrainedModels
) -> None:
    decision = _decide(service, trained, "customer-edges")
    # A 400-digit correction overflowed a float (a 500); a NUL in a statement is not text.
    contests: list[tuple[dict[str, Any], str]] = [
        ({"statement": "Wrong.", "corrections": {"distance_from_home_km": 10**400}}, ""),
        ({"statement": "Wrong.", "corrections": {"txn_count_1h": -(10**400)}}, ""),
        ({"statement": "Wr\x00ong."}, "statement"),
        ({"statement": " \t "}, "statement"),
    ]
    for body, field in contests:
        response = _contest(service, decision, body)
        problems = assert_problem(response, 422)["errors"]
        expected = field or "corrections." + next(iter(body["corrections"]))
        assert [p["field"] for p in problems] == [expected], problems
    case = _contest(service, decision, {"statement": "I bought it myself."})
    assert case.status_code == 201, case.text
    cases = f"/v1/reviews/cases/{case.json()['case_id']}"
    # PostgreSQL refuses a NUL in text: the extension reason was stored as sent (a 500).
    reviews: list[tuple[str, dict[str, Any], str]] = [
        ("/extend", {"months": 1, "reason": "Waiting for the bank\x00."}, "reason"),
        ("/extend", {"months": 10**400, "reason": "Waiting."}, "months"),
        ("/resolve", {"resolution": "uphold", "rationale": "\x00"}, "rationale"),
        (
            "/resolve",
            {"resolution": "amend", "outcome": "ap\x00prove", "rationale": "x"},
            "outcome",
        ),
    ]
    for path, body, field in reviews:
        response = _as(service, "reviewer", "POST", cases + path, json=body)
        assert [p["field"] for p in assert_problem(response, 422)["errors"]] == [field]
    # Nothing was stored, and the connection still serves the next request.
    extended = _as(
        service, "reviewer", "POST", cases + "/extend", json={"months": 1, "reason": "The bank."}
    )
    assert extended.status_code == 200, extended.text


def test_a_person_adds_their_statement_and_corrections_to_a_case_policy_opened(
    service: Service, trained: TrainedModels
) -> None:
    # No Art. 22(2) basis: the block waits for a person, its case opened by policy.
    decision = _decide(service, trained, "customer-heard", legal_basis="none")
    token = decision["notice"]["subject_token"]
    (case,) = [
        c
        for c in _as(service, "reviewer", "GET", "/v1/reviews/cases").json()
        if c["decision_id"] == decision["id"]
    ]
    case_id = case["case_id"]
    # A reviewer may already hold it: the person is heard all the same.
    assert _as(service, "reviewer", "POST", f"/v1/reviews/cases/{case_id}/claim").is_success

    # Someone else's token reaches nothing of it.
    other = _decide(service, trained, "customer-stranger")
    stranger = _contest(
        service, decision, {"statement": "not mine"}, token=other["notice"]["subject_token"]
    )
    assert_problem(stranger, 404)
    # A correction that does not fit the spec is refused by field, and nothing is added.
    bad = _contest(service, decision, {"statement": "x", "corrections": {"amount": -5}})
    assert_problem(bad, 422)
    assert (
        service.client.get(f"/v1/me/cases/{case_id}", headers=bearer(token)).json()["statement"]
        is None
    )

    said = {"statement": "Era yo, de viaje.", "corrections": {"card_present": True}}
    joined = _contest(service, decision, said)
    assert joined.status_code == 201, joined.text
    body = joined.json()
    assert body["case_id"] == case_id and body["origin"] == "policy"
    assert body["statement"] == said["statement"]
    assert body["corrections"] == {"card_present": True}
    assert body["state"] == "assigned" and body["due_at"] == case["due_at"]

    # The reviewer reads it, with the corrections re-scored on the deciding version.
    view = _as(service, "reviewer", "GET", f"/v1/reviews/cases/{case_id}").json()
    assert view["statement"] == said["statement"]
    assert view["corrections"] == {"card_present": True}
    assert view["rescore_deciding"]["corrected"] is True
    # The log records the person's step after the policy's and the claim, their words sealed.
    pseudonym = service.pseudonym("customer-heard")
    with service.context.sessions() as session:
        entries = read_entries(session, subject_pseudonym=pseudonym, limit=100)
    steps = [(e.kind, e.body_data().get("transition")) for e in entries]
    assert steps == [
        ("decision", None),
        ("case_transition", "open"),
        ("case_transition", "claim"),
        ("contest", "statement"),
    ]
    assert "viaje" not in "".join(e.body for e in entries)
    verified = _as(service, "auditor", "GET", "/v1/audit/verify").json()
    assert verified["ok"], verified
    assert_problem(_contest(service, decision, {"statement": "again"}), 409)
