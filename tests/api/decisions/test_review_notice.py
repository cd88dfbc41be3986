"""A decision that waits for a person reads as such (Art. 22): its notice gives the model's
outcome as a proposal and says that a person decides, and by when -- in English and Spanish."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.api.conftest import Service, bearer
from tests.api.decisions.support import fraud_rows
from tests.conftest import TrainedModels

MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "es": [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
}


def _long_date(moment: datetime, locale: str) -> str:
    month = MONTHS[locale][moment.month - 1]
    if locale == "es":
        return f"{moment.day} de {month} de {moment.year}"
    return f"{moment.day} {month} {moment.year}"


def _decide(service: Service, trained: TrainedModels, locale: str, legal_basis: str) -> Any:
    risky, _ = fraud_rows(trained)
    body = {
        "subject_ref": f"c-pending-{locale}-{legal_basis}",
        "features": risky,
        "legal_basis": legal_basis,
        "locale": locale,
    }
    response = service.client.post("/v1/decisions/fraud", json=body, headers=service.auth("shop"))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    ("locale", "proposed", "decides", "consequence"),
    [
        (
            "en",
            "Outcome: not decided yet (the model proposed “blocked”).",
            "It has no effect yet: a person will review it and decide by {due}.",
            "The payment is refused",
        ),
        (
            "es",
            "Resultado: pendiente (el modelo propuso «bloqueada»).",
            "Todavía no tiene ningún efecto: una persona revisará el caso y resolverá a más "
            "tardar el {due}.",
            "El pago se rechaza",
        ),
    ],
)
def test_a_decision_held_for_a_person_says_who_decides_and_by_when(
    service: Service,
    trained: TrainedModels,
    locale: str,
    proposed: str,
    decides: str,
    consequence: str,
) -> None:
    decision = _decide(service, trained, locale, legal_basis="none")
    assert decision["review_required"] and decision["outcome"] == "block"
    token = decision["notice"]["subject_token"]
    # The date is the policy case's own due date, as the person's case list gives it.
    (case,) = service.client.get("/v1/me/cases", headers=bearer(token)).json()
    assert case["origin"] == "policy" and case["decision_id"] == decision["id"]
    due = _long_date(datetime.fromisoformat(case["due_at"]), locale)
    text = decision["notice"]["text"]
    assert proposed in text
    assert decides.format(due=due) in text
    assert consequence not in text
    # The notice kept with the decision, which the person's page shows, says the same.
    page = service.client.get(f"/v1/me/decisions/{decision['id']}", headers=bearer(token)).json()
    assert page["review_required"] and page["notice"] == text

    # With an Art. 22(2) basis the same outcome applies at once, and the notice says so.
    applied = _decide(service, trained, locale, legal_basis="contract")
    assert not applied["review_required"]
    assert consequence in applied["notice"]["text"]
    assert proposed not in applied["notice"]["text"]
