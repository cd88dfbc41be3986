"""A link that never strands the person: the application that decided about them asks for a
fresh one, over HTTP; every other caller gets the same 404 or is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from api.core.security import Role, create_api_key
from api.core.tokens import issue_subject_token
from api.decisions.records import contest_url
from tests.api.conftest import Service, assert_problem, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels


def _decide(service: Service, subject_ref: str, features: dict[str, Any], who: str) -> Any:
    response = service.client.post(
        "/v1/decisions/fraud",
        json={"subject_ref": subject_ref, "features": features, "legal_basis": "contract"},
        headers=service.auth(who),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _ask(service: Service, headers: dict[str, str], **body: Any) -> Any:
    return service.client.post("/v1/subjects/links", json=body, headers=headers)


def test_an_expired_link_is_replaced_by_a_fresh_one_from_the_application(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    first = _decide(service, "titular-31", safe, "shop")
    latest = _decide(service, "titular-31", risky, "shop")
    client = service.client

    # The token the person kept has expired: their page refuses it.
    expired, _ = issue_subject_token(
        service.settings.token_signing_key.get_secret_value(),
        pseudonym=service.pseudonym("titular-31"),
        decision_id=first["id"],
        ttl=timedelta(days=90),
        now=datetime.now(UTC) - timedelta(days=91),
    )
    assert_problem(client.get("/v1/me/decisions", headers=bearer(expired)), 401)

    # The application asks for a fresh link: to the latest decision about the person.
    fresh = _ask(service, service.auth("shop"), subject_ref="titular-31")
    assert fresh.status_code == 201, fresh.text
    body = fresh.json()
    assert body["decision_id"] == latest["id"]
    token = body["subject_token"]
    url = contest_url(service.settings.public_url, latest["id"])
    assert body["link"] == f"{url}&token={quote(token, safe='.-_')}"
    expires = datetime.fromisoformat(body["token_expires_at"])
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    # It opens the person's page: the decision, and every decision about them.
    page = client.get(f"/v1/me/decisions/{latest['id']}", headers=bearer(token))
    assert page.status_code == 200, page.text
    listed = client.get("/v1/me/decisions", headers=bearer(token)).json()
    assert {d["id"] for d in listed} == {first["id"], latest["id"]}

    # Or to a decision named; a revoked link is replaced the same way.
    named = _ask(service, service.auth("shop"), subject_ref="titular-31", decision_id=first["id"])
    assert named.status_code == 201, named.text
    assert named.json()["decision_id"] == first["id"]
    assert client.delete("/v1/me/token", headers=bearer(token)).status_code == 204
    assert_problem(client.get("/v1/me/decisions", headers=bearer(token)), 401)
    again = _ask(service, service.auth("shop"), subject_ref="titular-31").json()["subject_token"]
    assert client.get("/v1/me/decisions", headers=bearer(again)).status_code == 200


def test_only_the_deciding_application_gets_a_link_and_the_others_learn_nothing(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    mine = _decide(service, "titular-32", safe, "shop")
    someone_else = _decide(service, "titular-33", risky, "shop")
    with service.context.sessions() as session:
        outsider, _ = create_api_key(session, name="outsider", role=Role.APPLICATION)

    def not_found(response: Any) -> str:
        detail: str = assert_problem(response, 404)["detail"]
        return detail

    refusals = {
        # A person the application never decided about.
        not_found(_ask(service, service.auth("shop"), subject_ref="titular-nobody")),
        # Another person's decision, named with this person's reference.
        not_found(
            _ask(
                service,
                service.auth("shop"),
                subject_ref="titular-32",
                decision_id=someone_else["id"],
            )
        ),
        # A decision id that does not exist.
        not_found(
            _ask(service, service.auth("shop"), subject_ref="titular-32", decision_id="0" * 32)
        ),
        # The group's other application shares the person, not shop's decisions.
        not_found(_ask(service, service.auth("crm"), subject_ref="titular-32")),
        not_found(
            _ask(service, service.auth("crm"), subject_ref="titular-32", decision_id=mine["id"])
        ),
        # An application outside the group: the same reference is another person to it.
        not_found(_ask(service, bearer(outsider), subject_ref="titular-32")),
        not_found(
            _ask(service, bearer(outsider), subject_ref="titular-32", decision_id=mine["id"])
        ),
    }
    assert len(refusals) == 1, "one answer for every refusal: no oracle"

    # Not an application: refused before anything is looked up.
    assert_problem(_ask(service, service.auth("reviewer"), subject_ref="titular-32"), 403)
    assert_problem(_ask(service, {}, subject_ref="titular-32"), 401)
    # A person's token is not an application's key: it cannot mint itself new tokens.
    token = mine["notice"]["subject_token"]
    assert_problem(_ask(service, bearer(token), subject_ref="titular-32"), 403)
    assert_problem(
        _ask(service, service.auth("shop"), subject_ref="titular-32", decision_id="x"), 422
    )


def test_the_latest_decision_is_the_applications_own_not_a_group_members(
    service: Service, trained: TrainedModels
) -> None:
    risky, safe = fraud_rows(trained)
    shop_decision = _decide(service, "titular-34", safe, "shop")
    crm_decision = _decide(service, "titular-34", risky, "crm")
    from_shop = _ask(service, service.auth("shop"), subject_ref="titular-34").json()
    from_crm = _ask(service, service.auth("crm"), subject_ref="titular-34").json()
    assert from_shop["decision_id"] == shop_decision["id"]
    assert from_crm["decision_id"] == crm_decision["id"]
