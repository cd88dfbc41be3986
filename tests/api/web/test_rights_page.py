"""Every right on the person's page, in Chromium and in Spanish: the decisions about them, a copy
of their data in JSON and CSV, objection and its withdrawal, restriction and its lifting, and an
erasure confirmed twice whose legal hold is explained — by keyboard, with no cookie set."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.rights.support import churn_features
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.test_contest_and_review import _snapshot
from tests.api.web.test_subject_page import assert_clean
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser

# Rights requests are limited per person (5 a minute): each test has a person of its own.


def _decide(live: LiveServer, subject: str, model: str, features: dict[str, Any]) -> Any:
    response = httpx.post(
        f"{live.url}/v1/decisions/{model}",
        json={
            "subject_ref": subject,
            "legal_basis": "contract",
            "locale": "es",
            "features": features,
        },
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _press(page: Page, selector: str) -> None:
    """Reach a control by keyboard focus and press Enter on it."""
    page.locator(selector).focus()
    page.keyboard.press("Enter")


def _refund(live: LiveServer, subject: str) -> Any:
    today = datetime.now(UTC).date()
    return _decide(
        live,
        subject,
        "refund",
        {
            "purchased_on": (today - timedelta(days=20)).isoformat(),
            "progress_percent": 5,
            "refunds_last_12_months": 0,
        },
    )


def test_a_person_lists_their_decisions_downloads_their_data_and_objects(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    churn = _decide(live, "browser-rights-1", "churn", churn_features(trained))
    refund = _refund(live, "browser-rights-1")
    page = visit.page
    page.goto(refund["notice"]["link"])
    page.locator("#outcome").wait_for()
    expect(page.locator("html")).to_have_attribute("lang", "es")

    # Every decision about them, this one marked; another one opens from the list.
    decisions = page.locator("#my-decisions li")
    expect(decisions).to_have_count(2)
    expect(page.locator("#my-decisions [aria-current=page]")).to_contain_text("refund")
    page.locator("#my-decisions a").click()
    expect(page.locator("#my-decisions [aria-current=page]")).to_contain_text("churn")
    assert churn["id"] in page.url

    # A copy of their data, as JSON and as CSV; each is a request on the list.
    with page.expect_download() as got:
        _press(page, "#export-json")
    exported = json.loads(got.value.path().read_text(encoding="utf-8"))
    assert {d["id"] for d in exported["decisions"]} == {churn["id"], refund["id"]}
    expect(page.locator("#rights-status")).to_have_text("Sus datos se han descargado.")
    with page.expect_download() as got:
        _press(page, "#export-csv")
    rows = list(csv.DictReader(io.StringIO(got.value.path().read_text(encoding="utf-8"))))
    assert {r["decision_id"] for r in rows} == {churn["id"], refund["id"]}
    expect(page.locator("#my-requests tbody tr")).to_have_count(2)
    expect(page.locator("#my-requests tbody tr").first).to_contain_text("Portabilidad")

    # Objection, then its withdrawal.
    _press(page, "#objection-toggle")
    expect(page.locator("#objection-state")).to_contain_text(
        "Se opone a la elaboración de perfiles"
    )
    expect(page.locator("#objection-toggle")).to_have_text("Retirar mi oposición")
    expect(page.locator("#objection-toggle")).to_be_focused()
    _press(page, "#objection-toggle")
    expect(page.locator("#objection-state")).to_have_text(
        "No se opone a la elaboración de perfiles."
    )
    kinds = page.locator("#my-requests tbody tr th").all_text_contents()
    assert [k.split(" (")[0] for k in kinds] == [
        "Oposición retirada",
        "Oposición",
        "Portabilidad",  # the CSV download (Art. 20)
        "Acceso",  # the JSON one (Art. 15)
    ]
    assert_clean(visit, live)


def test_a_person_restricts_processing_and_erases_their_data_with_the_hold_explained(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    subject = "browser-rights-2"
    churn = _decide(live, subject, "churn", churn_features(trained))
    _refund(live, subject)
    page = visit.page
    page.goto(churn["notice"]["link"])
    page.locator("#outcome").wait_for()
    expect(page.locator("#my-decisions li")).to_have_count(2)

    # Restriction, then its lifting: while it stands, no new decision is taken about them.
    _press(page, "#restriction-toggle")
    expect(page.locator("#restriction-state")).to_contain_text("está limitado desde")
    refused = httpx.post(
        f"{live.url}/v1/decisions/churn",
        json={
            "subject_ref": subject,
            "legal_basis": "contract",
            "features": churn_features(trained),
        },
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert refused.status_code == 409, refused.text
    _press(page, "#restriction-toggle")
    expect(page.locator("#restriction-state")).to_have_text("El tratamiento no está limitado.")
    kinds = page.locator("#my-requests tbody tr th").all_text_contents()
    assert [k.split(" (")[0] for k in kinds] == ["Limitación levantada", "Limitación"]

    # Erasure asks for a second, explicit confirmation in a dialog whose first answer is "no";
    # Escape keeps the data. Then it says what a legal hold keeps.
    _press(page, "#erasure-start")
    dialog = page.locator("#erasure-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("¿Suprimir sus datos definitivamente?")
    expect(page.locator("#erasure-cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#rights-status")).to_have_text("No se ha suprimido nada.")
    expect(page.locator("#erasure-start")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#erasure-cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#erasure-confirm")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#erasure-result")).to_contain_text("Se suprimieron 1 parte(s)")
    kept = page.locator("#erasure-kept li")
    expect(kept).to_have_count(1)
    # Refund decisions are kept 6 years by commercial and tax law, and the page says so.
    expect(kept.first).to_contain_text("refund")
    expect(kept.first).to_contain_text("normativa mercantil y fiscal")
    expect(kept.first).to_contain_text("hasta el")
    expect(page.locator("#my-requests tbody tr").first).to_contain_text("Supresión")
    _snapshot(page, "subject-rights.png")
    assert_clean(visit, live)
