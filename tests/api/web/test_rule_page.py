"""A refund denied by a rule, in Chromium: the person reads the rule that fired with their
values and what would have changed it, in Spanish, and contests with a corrected purchase date
from the page's date field; the reviewer sees the rule and the rules deciding again on the
corrected date, and overturns it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.api.web.test_contest_and_review import _snapshot, sign_in
from tests.api.web.test_subject_page import assert_clean

pytestmark = pytest.mark.browser


def test_a_person_contests_a_rule_with_a_corrected_date_and_a_reviewer_overturns_it(
    visit: Visit, live: LiveServer
) -> None:
    today = datetime.now(UTC).date()
    bought = today - timedelta(days=30)
    response = httpx.post(
        f"{live.url}/v1/decisions/refund",
        json={
            "subject_ref": "browser-refund",
            "legal_basis": "contract",
            "locale": "es",
            "features": {
                "purchased_on": bought.isoformat(),
                "progress_percent": 10,
                "refunds_last_12_months": 0,
            },
        },
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    rules = decision["rules"]

    person = visit.page
    person.goto(decision["notice"]["link"])
    person.locator("#outcome").wait_for()
    expect(person.locator("html")).to_have_attribute("lang", "es")
    expect(person.locator("#outcome")).to_have_text("reembolso denegado")
    # No score and no chart: the rule that fired, with the person's value, and the nearest change.
    assert person.locator("svg.chart").count() == 0
    expect(person.locator("#rules-fired li")).to_have_count(1)
    expect(person.locator("#rules-fired li").first).to_contain_text(
        rules["fired"][0]["reason"]["es"]
    )
    expect(person.locator("#rules-fired li dd").first).to_have_text(
        rules["fired"][0]["conditions"][0]["display_value"]["es"]
    )
    expect(person.locator("#nearest-change")).to_have_text(rules["nearest_change"]["text"]["es"])
    # The rule's reason is given once, with the rule, not again as a lender's reasons.
    assert person.locator("#principal-reasons").count() == 0
    person.get_by_role("button", name="English").click()
    expect(person.locator("#nearest-change")).to_have_text(rules["nearest_change"]["text"]["en"])
    person.get_by_role("button", name="Español").click()
    expect(person.locator("#nearest-change")).to_have_text(rules["nearest_change"]["text"]["es"])
    _snapshot(person, "rule-decision.png")

    # The purchase date is a date field; the corrected date goes with the statement.
    person.get_by_label("Su punto de vista").fill("Compré el curso hace cuatro días.")
    purchased_on = person.locator("#contest-form").get_by_label("fecha de compra")
    purchased_on.fill((today - timedelta(days=4)).isoformat())
    person.get_by_role("button", name="Enviar a una persona para su revisión").click()
    expect(person.locator("#case-state")).to_contain_text("Recibida")

    reviewer = visit.new_page()
    sign_in(reviewer, live, "reviewer")
    expect(reviewer.locator("#queue")).to_be_visible()
    queue = httpx.get(
        f"{live.url}/v1/reviews/cases",
        headers={"Authorization": f"Bearer {live.keys['reviewer']}"},
        timeout=30,
    ).json()
    case_id = next(c["case_id"] for c in queue if c["decision_id"] == decision["id"])
    reviewer.goto(f"{live.url}/review/#case={case_id}")
    reviewer.get_by_role("button", name="Claim this case").click()
    expect(reviewer.locator("#case-state")).to_have_text("Claimed")
    expect(reviewer.locator("#rules-fired")).to_contain_text("late_request")
    expect(reviewer.locator("#nearest-change")).to_have_text(rules["nearest_change"]["text"]["en"])
    deciding = reviewer.locator("#rescores tbody tr").nth(0)
    expect(deciding).to_contain_text("no rule fires")
    expect(deciding).to_contain_text("grant")
    expect(deciding).to_contain_text("with the person's corrections")

    reviewer.get_by_label("Overturn it").check()
    reviewer.get_by_label("Outcome").select_option("grant")
    reviewer.get_by_label("Rationale (required)").fill("The receipt dates the purchase 4 days ago.")
    reviewer.get_by_role("button", name="Record the resolution").click()
    expect(reviewer.locator("#case-state")).to_have_text("Resolved")

    person.reload()
    expect(person.locator("#case-state")).to_have_text("Decidida por una persona")
    expect(person.locator("#outcome")).to_have_text("reembolsada")
    assert_clean(visit, live)
