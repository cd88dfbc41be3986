"""Rectification (Art. 16) on the person's page, and an erasure refused for a link that is too
old: in Spanish, by keyboard, with the service's field messages shown in Spanish next to their
fields and the way to a fresh link explained."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.support import tab_to, token_issued
from tests.api.web.test_subject_page import assert_clean, decide
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser


def _in_spanish(link: str) -> str:
    return link.replace("/subject/#", "/subject/?lang=es#", 1)


def test_a_person_rectifies_a_stored_input_in_spanish(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    decision = decide(live, trained, "browser-rectifier")
    page = visit.page
    page.goto(_in_spanish(decision["notice"]["link"]))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    form = page.locator("#rectification-form")
    expect(form).to_be_hidden()
    tab_to(page, "#rectification-details > summary")
    page.keyboard.press("Enter")
    expect(form).to_be_visible()

    # Nothing changed: said at once, next to the corrections.
    tab_to(page, "#rectification-submit")
    page.keyboard.press("Enter")
    expect(page.locator("#rect-corrections-error")).to_have_text("Cambie antes al menos un valor.")
    # A value out of range: the service's message, in Spanish, next to that field.
    tab_to(page, "#rect-corrections-amount")
    page.keyboard.type("-5")
    tab_to(page, "#rectification-submit")
    with page.expect_response("**/rectification") as refused:
        page.keyboard.press("Enter")
    assert refused.value.status == 422
    assert refused.value.headers.get("content-language") == "es"
    problem = refused.value.json()
    [amount_error] = [e for e in problem["errors"] if e["field"] == "corrections.amount"]
    expect(page.locator("#rect-corrections-amount-error")).to_have_text(amount_error["message"])
    expect(page.locator("#rect-corrections-amount")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#rect-corrections-amount")).to_be_focused()

    # A real correction: re-scored on the deciding version, and the page says what it gives.
    page.keyboard.press("Control+A")
    page.keyboard.type("12.5")
    tab_to(page, "#rectification-submit")
    with page.expect_response("**/rectification") as done:
        page.keyboard.press("Enter")
    assert done.value.status == 201, done.value.text()
    answer = done.value.json()
    assert answer["corrections"] == {"amount": 12.5}
    result = page.locator("#rectification-result")
    expect(result).to_be_focused()
    expect(result).to_contain_text(answer["rescored"]["outcome_label"]["es"])
    expect(result).to_contain_text(
        "Eso cambia el resultado" if answer["outcome_changes"] else "El resultado no cambia."
    )
    # The stored input now reads as corrected, with the value the decision used.
    expect(page.locator("#data-used tr[data-feature=amount] .rectified")).to_contain_text(
        "rectificado por usted el"
    )
    expect(page.locator("#my-requests tbody tr").first).to_contain_text("Rectificación")
    assert_clean(visit, live)


def test_an_erasure_with_a_link_too_old_says_how_to_get_a_fresh_one(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    decision = decide(live, trained, "browser-late-eraser", locale="es")
    old = token_issued(live, decision, ago=timedelta(hours=2))
    page = visit.page
    page.goto(f"{decision['notice']['contest_url']}&token={old}")
    expect(page.locator("#outcome")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")

    tab_to(page, "#erasure-start")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#erasure-confirm")).to_be_focused()
    with page.expect_response("**/v1/me/erasure") as refused:
        page.keyboard.press("Enter")
    assert refused.value.status == 403
    trouble = page.locator("#erasure-trouble")
    expect(trouble).to_be_focused()
    expect(trouble).to_contain_text("Esto necesita un enlace reciente")
    expect(trouble).to_contain_text("No se ha suprimido nada.")
    expect(trouble.locator("#fresh-link")).to_contain_text("Pida a la organización")

    # The application sends a fresh link; with it the erasure goes through.
    fresh = httpx.post(
        f"{live.url}/v1/subjects/links",
        json={"subject_ref": "browser-late-eraser", "decision_id": decision["id"]},
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert fresh.status_code == 201, fresh.text
    page.goto(fresh.json()["link"])
    expect(page.locator("#erasure-trouble")).to_have_count(0)
    tab_to(page, "#erasure-start")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#erasure-result")).to_be_focused()
    expect(page.locator("#erasure-result")).to_contain_text("Se suprimieron")
    assert_clean(visit, live)
