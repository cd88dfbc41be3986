"""A person's whole way through their page in Spanish, by keyboard only, in a browser whose
language is Spanish, with no cookie set: an expired link explained, a fresh one from the
application, every decision about them with the role the model played, what would have changed
the fraud block, an export downloaded, an objection and its withdrawal, a contest, an erasure with
its legal hold explained; then a reviewer works the case in the Spanish console.

With ``GLASSBOX_SCREENSHOTS=<folder>`` the run also saves the pictures the README shows.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.rights.support import churn_features
from tests.api.web.axe import axe_missing, severe_violations
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.support import block, english_left, tab_to, token_issued
from tests.api.web.test_contest_and_review import _snapshot
from tests.api.web.test_rights_page import _refund
from tests.api.web.test_subject_page import assert_clean
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser

SUBJECT = "titular-en-espanol"
STATEMENT = "Estaba de viaje y la compra era mía."
RATIONALE = "El importe y el lugar coinciden con un fraude conocido; se mantiene el bloqueo."


def _person_view(live: LiveServer, decision_id: str, token: str) -> Any:
    response = httpx.get(
        f"{live.url}/v1/me/decisions/{decision_id}",
        params={"locale": "es"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_person_exercises_every_right_in_spanish_by_keyboard_and_a_reviewer_works_the_case(
    visit_es: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    # The application decides three times about the person, with three models.
    churn = httpx.post(
        f"{live.url}/v1/decisions/churn",
        json={
            "subject_ref": SUBJECT,
            "legal_basis": "contract",
            "locale": "es",
            "features": churn_features(trained),
        },
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert churn.status_code == 201, churn.text
    _refund(live, SUBJECT)
    fraud = block(live, trained, SUBJECT, locale="es")

    # A Spanish browser, nothing stored: what the person's own machine would be.
    page = visit_es.page

    # --- an expired link: what happened, and how to get a new one ---------------------------
    expired = token_issued(live, fraud, ago=timedelta(days=97))
    page.goto(f"{fraud['notice']['contest_url']}&token={expired}")
    trouble = page.locator("#link-trouble")
    expect(trouble).to_have_attribute("data-trouble", "expired")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_text("Su enlace ya no abre su página")
    expect(trouble).to_contain_text("Este enlace caducó el")
    expect(page.locator("#fresh-link")).to_contain_text(
        "Pida a la organización que tomó la decisión sobre usted"
    )
    _snapshot(page, "subject-link-expired-es.png")
    assert english_left(page) == []
    if not axe_missing():
        assert severe_violations(page) == []

    # --- the application asks for a fresh link; the person opens it -------------------------
    fresh = httpx.post(
        f"{live.url}/v1/subjects/links",
        json={"subject_ref": SUBJECT, "decision_id": fraud["id"]},
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert fresh.status_code == 201, fresh.text
    page.goto(fresh.json()["link"])
    expect(page.locator("#outcome")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    spanish = _person_view(live, fraud["id"], fresh.json()["subject_token"])
    assert spanish["counterfactuals"]

    # Every decision about them, across the three models, each with the role it played.
    listed = page.locator("#my-decisions > li")
    expect(listed).to_have_count(3)
    expect(page.locator("#my-decisions .decision-role")).to_have_count(3)
    expect(page.locator("#my-decisions")).to_contain_text("churn")
    expect(page.locator("#my-decisions")).to_contain_text("refund")
    expect(page.locator("#my-decisions [aria-current=page]")).to_contain_text(
        spanish["outcome_label"]
    )
    expect(page.locator("#role-sentence")).to_have_text(spanish["role"]["sentence"]["es"])
    # What would have changed the fraud block, as the service words it in Spanish.
    expect(page.locator("#counterfactual-list li")).to_have_text(
        [c["sentence"] for c in spanish["counterfactuals"]]
    )
    fraud_item = page.locator(f"#my-decisions li[data-decision='{fraud['id']}']")
    expect(fraud_item.locator(".decision-counterfactuals li")).to_have_count(
        len(spanish["counterfactuals"])
    )

    # --- a copy of their data, downloaded -------------------------------------------------
    tab_to(page, "#export-json")
    with page.expect_download() as got:
        page.keyboard.press("Enter")
    assert got.value.suggested_filename == "glassbox-export.json"
    exported = json.loads(got.value.path().read_text(encoding="utf-8"))
    assert len(exported["decisions"]) == 3
    [exported_fraud] = [d for d in exported["decisions"] if d["id"] == fraud["id"]]
    assert exported_fraud["counterfactuals"] == fraud["counterfactuals"]
    expect(page.locator("#rights-status")).to_have_text("Sus datos se han descargado.")

    # --- objection, and its withdrawal ----------------------------------------------------
    tab_to(page, "#objection-toggle")
    page.keyboard.press("Enter")
    expect(page.locator("#objection-state")).to_contain_text(
        "Se opone a la elaboración de perfiles desde el"
    )
    expect(page.locator("#objection-toggle")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#objection-state")).to_have_text(
        "No se opone a la elaboración de perfiles."
    )

    # --- the person's word on the block: a close call, a person decides it first, and the
    # statement joins the case policy opened (which holds their data below) --------------
    assert fraud["review_required"], fraud["review_reasons"]
    expect(page.locator("#pending-review")).to_contain_text("una persona lo revisará")
    tab_to(page, "#field-statement")
    page.keyboard.type(STATEMENT)
    tab_to(page, "#contest-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#case-state")).to_contain_text("Recibida")
    expect(page.locator("#case-heading")).to_be_focused()
    expect(page.locator("#case-statement")).to_have_text(STATEMENT)
    _snapshot(page, "subject-page-es.png")
    assert english_left(page) == []
    if not axe_missing():
        assert severe_violations(page) == []

    # --- erasure, confirmed a second time; the open case's hold is explained ----------------
    tab_to(page, "#erasure-start")
    page.keyboard.press("Enter")
    expect(page.locator("#erasure-dialog")).to_be_visible()
    expect(page.locator("#erasure-cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#erasure-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#erasure-result")).to_be_focused()
    kept = page.locator("#erasure-kept li")
    # While a case is open its data is kept: why (Art. 17(3)(e)) and until when, in Spanish.
    held = kept.filter(has_text="fraud")
    expect(held).to_contain_text("art. 17.3.e RGPD")
    expect(held).to_contain_text("mientras haya una revisión abierta")
    expect(page.locator("#my-requests tbody tr").first).to_contain_text("Supresión")

    # --- a reviewer works the case, in the Spanish console ---------------------------------
    reviewer = visit_es.new_page()
    reviewer.goto(f"{live.url}/review/")
    expect(reviewer.locator("html")).to_have_attribute("lang", "es")
    expect(reviewer.locator("h1")).to_have_text("Inicie sesión para revisar")
    tab_to(reviewer, "#field-key")
    reviewer.keyboard.type(live.keys["reviewer"])
    reviewer.keyboard.press("Enter")
    expect(reviewer.locator("h1")).to_have_text("Cola de revisión")
    assert english_left(reviewer, console=True) == []
    cases = httpx.get(
        f"{live.url}/v1/reviews/cases",
        headers={"Authorization": f"Bearer {live.keys['reviewer']}"},
        timeout=30,
    ).json()
    case_id = next(c["case_id"] for c in cases if c["decision_id"] == fraud["id"])
    row = reviewer.locator(f"#queue tr[data-case='{case_id}']")
    expect(row).to_contain_text("Retenido por la política")
    tab_to(reviewer, f"#queue tr[data-case='{case_id}'] button.claim")
    reviewer.keyboard.press("Enter")
    expect(reviewer.locator("#case-title")).to_have_text(f"Caso {case_id[:8]}")
    expect(reviewer.locator("#case-state")).to_have_text("Asignado")
    expect(reviewer.locator("#statement")).to_have_text(STATEMENT)
    expect(reviewer.locator("#role-sentence")).not_to_be_empty()
    expect(reviewer.locator("#counterfactuals tbody tr")).to_have_count(
        len(fraud["counterfactuals"])
    )
    # No rationale: refused, and said next to the rationale in Spanish (the service's words
    # when it wrote them in Spanish, else the console's own).
    tab_to(reviewer, "#resolve-submit")
    with reviewer.expect_response("**/resolve") as refused:
        reviewer.keyboard.press("Enter")
    assert refused.value.status == 422
    [problem] = [e for e in refused.value.json()["errors"] if e["field"] == "rationale"]
    in_spanish = refused.value.headers.get("content-language") == "es"
    expect(reviewer.locator("#field-rationale-error")).to_have_text(
        problem["message"] if in_spanish else "Se rechazó este valor; revíselo."
    )
    expect(reviewer.locator("#field-rationale")).to_be_focused()
    assert english_left(reviewer, console=True) == []
    reviewer.keyboard.type(RATIONALE)
    _snapshot(reviewer, "review-case-es.png")
    assert english_left(reviewer, console=True) == []
    tab_to(reviewer, "#resolve-submit")
    reviewer.keyboard.press("Enter")
    expect(reviewer.locator("#case-state")).to_have_text("Resuelto")
    expect(reviewer.locator("#resolution")).to_contain_text("confirmada")
    expect(reviewer.locator("#resolution")).to_contain_text(RATIONALE)

    # The person reads the reviewer's answer on their page.
    page.reload()
    expect(page.locator("#case-state")).to_have_text("Decidida por una persona")
    expect(page.locator("#case-rationale")).to_have_text(RATIONALE)

    # Nothing failed, and no cookie was set by any page, asset or API route.
    assert_clean(visit_es, live)
