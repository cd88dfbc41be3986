"""The person's page in Chromium: from the notice's link to the explanation, in two languages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from api.web.assets import CONTENT_SECURITY_POLICY
from tests.api.decisions.support import fraud_rows, learner_history
from tests.api.web.conftest import Visit
from tests.api.web.live import LiveServer
from tests.conftest import TrainedModels

pytestmark = pytest.mark.browser


def decide(live: LiveServer, trained: TrainedModels, subject: str, **extra: Any) -> Any:
    """A blocked fraud decision about ``subject``, as the shop receives it."""
    risky, _ = fraud_rows(trained)
    body = {"subject_ref": subject, "features": risky, "legal_basis": "contract", **extra}
    response = httpx.post(
        f"{live.url}/v1/decisions/fraud",
        json=body,
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def subject_view(live: LiveServer, decision: Any, locale: str) -> Any:
    """The decision as the API shows it to the person, in ``locale``."""
    response = httpx.get(
        f"{live.url}/v1/me/decisions/{decision['id']}",
        params={"locale": locale},
        headers={"Authorization": f"Bearer {decision['notice']['subject_token']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def assert_clean(visit: Visit, live: LiveServer) -> None:
    """No script the page did not ship ran, nothing was blocked, and no cookie exists anywhere."""
    assert visit.dialogs == []
    assert visit.errors == [], "console errors (CSP violations, script errors)"
    assert visit.context.cookies() == []
    assert live.watch.cookies == [], "a route set a cookie"


def test_a_person_reads_their_decision_in_either_language(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    decision = decide(live, trained, "browser-reader")
    english = subject_view(live, decision, "en")
    spanish = subject_view(live, decision, "es")
    page = visit.page
    token = decision["notice"]["subject_token"]

    response = page.goto(decision["notice"]["link"])
    assert response is not None and response.ok
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.all_headers()

    outcome = page.locator("#outcome")
    outcome.wait_for()
    assert outcome.text_content() == english["outcome_label"]
    # The token left the address bar at once; the decision id stays so a reload still works.
    assert "token" not in page.url
    assert page.url.endswith(f"/subject/#decision={decision['id']}")
    assert page.evaluate("sessionStorage.getItem('glassbox.subject.token')") == token
    assert page.evaluate("document.documentElement.lang") == "en"

    # The chart: one bar per main factor, each signed in text as well as in colour.
    bars = page.locator("svg.chart g.factor")
    assert bars.count() == len(english["factors"])
    for index, factor in enumerate(english["factors"]):
        bar = bars.nth(index)
        assert bar.get_attribute("data-direction") == factor["direction"]
        value = bar.locator("text.factor-value").text_content() or ""
        # Worded by what a higher fraud score means, not as a score that went up.
        sign, word = (
            ("+", "more likely") if factor["direction"] == "raises" else ("−", "less likely")
        )
        assert value.startswith(sign) and value.endswith(word), value
        assert abs(float(value.split()[0].replace("−", "-")) - factor["contribution"]) < 0.006
    assert english["score_meaning"] == "a hold or block"
    axis = page.locator("svg.chart text.axis-label").all_text_contents()
    assert axis == ["← made a hold or block less likely", "made a hold or block more likely →"]
    sentences = page.locator("#sentences li").all_text_contents()
    assert sentences == [f["sentence"] for f in english["factors"]]
    data_rows = page.locator("#data-used tbody tr")
    assert data_rows.count() == len(english["data_used"])

    # The language switch is a real button, reachable and pressed from the keyboard.
    page.get_by_role("button", name="Español").focus()
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    assert page.locator("h1").text_content() == "Su decisión"
    assert page.locator("#outcome").text_content() == spanish["outcome_label"]
    sentences = page.locator("#sentences li").all_text_contents()
    assert sentences == [f["sentence"] for f in spanish["factors"]]
    assert page.get_by_role("button", name="Español").get_attribute("aria-pressed") == "true"
    expect(page.get_by_role("button", name="Español")).to_be_focused()

    # A reload keeps the person in: the token is in this tab's storage, not in the URL.
    page.reload()
    page.locator("#outcome").wait_for()
    assert page.evaluate("document.documentElement.lang") == "es"
    assert "token" not in page.url
    assert_clean(visit, live)


def test_a_link_that_does_not_open_says_what_happened_and_how_to_get_a_new_one(
    visit: Visit, live: LiveServer
) -> None:
    page = visit.page
    page.goto(f"{live.url}/subject/#decision={'0' * 32}")
    expect(page.locator("#link-trouble")).to_have_attribute("data-trouble", "noToken")
    expect(page.get_by_role("alert")).to_contain_text("does not include your access key")
    expect(page.locator("#fresh-link")).to_contain_text("Ask the organisation that took the")
    page.goto(f"{live.url}/subject/#decision={'0' * 32}&token=not-a-token")
    page.reload()
    expect(page.locator("#link-trouble")).to_have_attribute("data-trouble", "damaged")
    expect(page.get_by_role("alert")).to_contain_text("damaged or incomplete")
    # The address names the language: the same page in Spanish, whatever the browser's.
    page.goto(f"{live.url}/subject/?lang=es#decision=nonsense")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("h1")).to_have_text("Su enlace ya no abre su página")
    expect(page.get_by_role("alert")).to_have_text(
        "Este enlace no indica qué decisión abrir: está incompleto."
    )
    expect(page.locator("#fresh-link h2")).to_have_text("Cómo conseguir un enlace nuevo")
    assert visit.context.cookies() == []


def test_a_learner_sees_why_each_course_was_recommended(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    body = {
        "subject_ref": "browser-learner",
        "history": learner_history(trained),
        "legal_basis": "contract",
        "max_items": 3,
    }
    response = httpx.post(
        f"{live.url}/v1/decisions/recommendation",
        json=body,
        headers={"Authorization": f"Bearer {live.keys['shop']}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    decision = response.json()
    shown = subject_view(live, decision, "en")
    page = visit.page
    page.goto(decision["notice"]["link"])
    items = page.locator("ol.items > li")
    expect(items).to_have_count(len(shown["items"]))
    for index, item in enumerate(shown["items"]):
        expect(items.nth(index).locator("li")).to_have_text(
            [f["sentence"] for f in item["factors"]]
        )
    # Nothing to correct in a history: the form asks only for the person's point of view.
    expect(page.get_by_label("Your point of view")).to_be_visible()
    assert page.locator("#corrections").count() == 0
    assert_clean(visit, live)


def test_a_decision_held_for_a_person_reads_as_pending(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    # Blocked without an Art. 22(2) basis: a person decides first, within the case's deadline.
    decision = decide(live, trained, "browser-pending", legal_basis="none")
    assert decision["review_required"]
    cases = httpx.get(
        f"{live.url}/v1/me/cases",
        headers={"Authorization": f"Bearer {decision['notice']['subject_token']}"},
        timeout=30,
    ).json()
    (case,) = [c for c in cases if c["decision_id"] == decision["id"]]
    assert case["origin"] == "policy"
    page = visit.page
    page.goto(decision["notice"]["link"])
    pending = page.locator("#pending-review")
    pending.wait_for()
    expect(page.locator("dt").first).to_have_text("Proposed outcome")
    # The date is the case's, as the case card shows it.
    due = page.locator("#case-due").text_content() or ""
    text = pending.text_content() or ""
    assert due and f"a person will review it and decide by {due}." in text
    page.get_by_role("button", name="Español").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.locator("dt").first).to_have_text("Resultado propuesto")
    text = page.locator("#pending-review").text_content() or ""
    due = page.locator("#case-due").text_content() or ""
    assert due and f"una persona lo revisará y resolverá a más tardar el {due}." in text
    assert_clean(visit, live)


def test_a_withdrawn_link_is_explained_in_the_language_of_the_address(
    visit: Visit, live: LiveServer, trained: TrainedModels
) -> None:
    decision = decide(live, trained, "browser-revoked")
    token = decision["notice"]["subject_token"]
    revoked = httpx.delete(
        f"{live.url}/v1/me/token", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert revoked.status_code == 204, revoked.text
    page = visit.page
    page.goto(decision["notice"]["link"].replace("/subject/#", "/subject/?lang=es#", 1))
    expect(page.locator("#link-trouble")).to_have_attribute("data-trouble", "revoked")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("alert")).to_have_text(
        "Este enlace ha caducado o fue retirado: ya no abre su página. "
        "Puede que otro más reciente lo haya sustituido."
    )
    expect(page.locator("#fresh-link li").first).to_contain_text("Pida a la organización")
    # The switch still works on this page, and the address keeps the choice for a reload.
    page.get_by_role("button", name="English").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("has expired or was withdrawn")
    assert "lang=en" in page.url
    page.reload()
    expect(page.locator("h1")).to_have_text("Your link no longer opens your page")
    assert_clean(visit, live)
